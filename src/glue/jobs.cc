#include "glue/jobs.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "base/ids.h"
#include "base/strings.h"
#include "base/time.h"
#include "glue/job_script.h"
#include "io/file.h"

extern char** environ;

namespace sluice {
namespace {

// Where the run's command comes from (Command.Name + the script's extension).
enum class ScriptKind { kSql, kPythonShell, kPySpark, kUnsupported };

ScriptKind KindOf(const Json& job, std::string* why) {
  const Json& command = job.value("Command", Json::object());
  std::string name = command.value("Name", "glueetl");
  std::string location = command.value("ScriptLocation", "");
  std::string lower = AsciiLower(location);
  bool sql = lower.ends_with(".sql"), py = lower.ends_with(".py");
  if (name == "glueetl" && sql) return ScriptKind::kSql;
  if (name == "glueetl" && py) return ScriptKind::kPySpark;
  if (name == "pythonshell" && py) return ScriptKind::kPythonShell;
  if (name == "gluestreaming" || name == "glueray") {
    *why = StrCat("Sluice does not run '", name, "' jobs yet; use glueetl with a .sql script or pythonshell with a .py script");
  } else if (name == "pythonshell") {
    *why = StrCat("A pythonshell job runs a .py script; ", location, " is not one");
  } else {
    *why = StrCat("A glueetl job runs a .sql script (in DuckDB) or a .py script (PySpark); ", location, " is neither");
  }
  return ScriptKind::kUnsupported;
}

// Merged run arguments: DefaultArguments, then the run's Arguments, then
// NonOverridableArguments.
Json MergeArguments(const Json& job, const Json& run_args) {
  Json out = job.value("DefaultArguments", Json::object());
  if (run_args.is_object()) {
    for (const auto& [k, v] : run_args.items()) out[k] = v;
  }
  Json fixed = job.value("NonOverridableArguments", Json::object());
  for (const auto& [k, v] : fixed.items()) out[k] = v;
  return out;
}

absl::Status ValidateJobName(const std::string& name) {
  if (name.empty() || name.size() > 255) return absl::InvalidArgumentError("Name must be between 1 and 255 characters long");
  if (name.find_first_of("\n\r") != std::string::npos) return absl::InvalidArgumentError("Name must be a single line");
  return absl::OkStatus();
}

absl::Status ValidateJobFields(const Json& job) {
  const Json& command = job.value("Command", Json::object());
  if (!command.is_object() || command.value("ScriptLocation", "").empty()) {
    return absl::InvalidArgumentError("Command.ScriptLocation is required: the s3:// location of the job's script");
  }
  if (!AsciiLower(command.value("ScriptLocation", "")).starts_with("s3://")) {
    return absl::InvalidArgumentError("Command.ScriptLocation must be an s3:// location");
  }
  std::string name = command.value("Name", "glueetl");
  if (name != "glueetl" && name != "pythonshell" && name != "gluestreaming" && name != "glueray") {
    return absl::InvalidArgumentError(StrCat("Command.Name '", name, "' is not one of glueetl, pythonshell, gluestreaming, glueray"));
  }
  if (job.contains("Timeout") && (!job["Timeout"].is_number_integer() || job["Timeout"].get<int64_t>() < 1)) {
    return absl::InvalidArgumentError("Timeout must be a whole number of minutes, at least 1");
  }
  if (job.contains("MaxRetries") && (!job["MaxRetries"].is_number_integer() || job["MaxRetries"].get<int64_t>() < 0 ||
                                     job["MaxRetries"].get<int64_t>() > 10)) {
    return absl::InvalidArgumentError("MaxRetries must be between 0 and 10");
  }
  for (const char* k : {"DefaultArguments", "NonOverridableArguments"}) {
    if (!job.contains(k)) continue;
    if (!job[k].is_object()) return absl::InvalidArgumentError(StrCat(k, " must be a map of strings"));
    for (const auto& [key, v] : job[k].items()) {
      if (!v.is_string()) return absl::InvalidArgumentError(StrCat(k, ": the value of ", key, " must be a string"));
    }
  }
  return absl::OkStatus();
}

constexpr const char* kJobFields[] = {"Description", "LogUri", "Role", "ExecutionProperty", "Command",
                                      "DefaultArguments", "NonOverridableArguments", "Connections", "MaxRetries",
                                      "AllocatedCapacity", "Timeout", "MaxCapacity", "SecurityConfiguration",
                                      "NotificationProperty", "GlueVersion", "NumberOfWorkers", "WorkerType",
                                      "ExecutionClass", "SourceControlDetails", "CodeGenConfigurationNodes"};

void WriteLog(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (fd.valid()) (void)!::write(fd.get(), text.data(), text.size());
}

// Python helpers every Python shell run can import: awsglue.utils.getResolvedOptions, and a
// sitecustomize that points boto3 clients at AWS_ENDPOINT_URL on SDKs older than 1.28,
// which do not read that variable themselves.
constexpr const char* kGetResolvedOptions = R"(import sys


class GlueArgumentError(Exception):
    pass


def getResolvedOptions(args, options):
    """Returns {option: value} for each --option value pair of args (as AWS Glue does)."""
    values = {}
    i = 1
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            key = a[2:]
            if "=" in key:
                key, value = key.split("=", 1)
                values[key] = value
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                values[key] = args[i + 1]
                i += 1
            else:
                values[key] = ""
        i += 1
    missing = [o for o in options if o not in values]
    if missing:
        raise GlueArgumentError("the following arguments are required: " + ", ".join("--" + m for m in missing))
    return {o: values[o] for o in options}
)";

constexpr const char* kSiteCustomize = R"(import os

_endpoint = os.environ.get("AWS_ENDPOINT_URL")
if _endpoint:
    try:
        import botocore.session as _session

        _create_client = _session.Session.create_client

        def _create_client_with_endpoint(self, *args, **kwargs):
            if len(args) < 6 and kwargs.get("endpoint_url") is None:
                kwargs["endpoint_url"] = _endpoint
            return _create_client(self, *args, **kwargs)

        _session.Session.create_client = _create_client_with_endpoint
    except ImportError:
        pass
)";

}  // namespace

struct Jobs::Active {
  std::string job, id;
  Json job_doc;   // the definition when the run started
  Json run;       // the JobRun document; written by the run's thread only
  Json arguments; // merged
  std::string bookmark_option = "job-bookmark-disable";
  absl::Time started, deadline;
  std::atomic<bool> stop_requested{false}, timed_out{false};
  std::mutex mu;  // guards con, pid, kill_at
  Connection* con = nullptr;
  pid_t pid = -1;
  std::optional<absl::Time> kill_at;  // SIGKILL the process group if still alive then
  BookmarkFiles done, seen;           // processed before the run; read by the run

  void Cancel() {
    std::lock_guard lock(mu);
    if (con) con->Interrupt();
    if (pid > 0 && !kill_at) {
      ::kill(-pid, SIGTERM);
      kill_at = absl::Now() + absl::Seconds(3);
    }
  }
};

Jobs::Jobs(Catalog& catalog, ObjectStore& store, athena::Engine& engine, Database& db, DataQuality& dq,
           std::string state_dir, JobsOptions options)
    : catalog_(catalog), store_(store), engine_(engine), db_(db), dq_(dq), state_dir_(std::move(state_dir)),
      options_(std::move(options)) {}

Jobs::~Jobs() { Stop(); }

absl::Status Jobs::Init() {
  RETURN_IF_ERROR(MakeDirs(state_dir_ + "/logs"));
  // Runs the previous process left active cannot be resumed: a script's progress lives in
  // the process that ran it. Each ends ERROR and, when the job's MaxRetries allows, is
  // retried: the retry is recorded (kind "job_retry") before the run is marked, so a crash
  // from here on still retries it.
  ASSIGN_OR_RETURN(auto runs, catalog_.ListDocuments("job_run"));
  for (auto& run : runs) {
    try {
      if (!run.is_object()) continue;  // unreadable: nothing to resume
      std::string state = run.value("JobRunState", "");
      if (state != "STARTING" && state != "RUNNING" && state != "STOPPING" && state != "WAITING") continue;
      std::string job = run.value("JobName", ""), id = run.value("Id", "");
      auto job_doc = catalog_.GetDocument("job", job);
      int max_retries = job_doc.ok() && job_doc->is_object() ? job_doc->value("MaxRetries", 0) : 0;
      if (state != "STOPPING" && run.value("Attempt", 0) < max_retries) {
        RETURN_IF_ERROR(catalog_.PutDocument("job_retry", StrCat(job, "/", id), {{"JobName", job}, {"RunId", id}}, false));
      }
      run["JobRunState"] = state == "STOPPING" ? "STOPPED" : "ERROR";
      if (state != "STOPPING") run["ErrorMessage"] = "The Sluice server stopped while this run was active; start the job again";
      run["CompletedOn"] = run["LastModifiedOn"] = EpochSeconds(absl::Now());
      RETURN_IF_ERROR(Persist(run));
    } catch (const std::exception&) {
      // A run document of the wrong shape: leave it rather than fail every start.
      continue;
    }
  }
  monitor_ = std::thread(&Jobs::Monitor, this);
  return absl::OkStatus();
}

absl::Status Jobs::ResumeRetries() {
  // Retries decided (by a run that failed, or by Init) and not started yet.
  ASSIGN_OR_RETURN(auto pending, catalog_.ListDocuments("job_retry"));
  for (const auto& p : pending) {
    try {
      if (p.is_object() && !p.value("JobName", "").empty() && !p.value("RunId", "").empty()) {
        StartRetry(p.value("JobName", ""), p.value("RunId", ""));
      }
    } catch (const std::exception&) {
      continue;  // a record of the wrong shape retries nothing
    }
  }
  return absl::OkStatus();
}

void Jobs::StartRetry(const std::string& job, const std::string& run_id) {
  std::string marker = StrCat(job, "/", run_id);
  auto prior = catalog_.GetDocument("job_run", marker);
  if (prior.ok() && prior->is_object()) {
    std::string retry_id = StrCat(prior->value("Id", run_id), "_attempt_", prior->value("Attempt", 0) + 1);
    if (!catalog_.GetDocument("job_run", StrCat(job, "/", retry_id)).ok()) {
      // A retry is a new run of the same arguments: attempt n+1 with PreviousRunId.
      Json input = {{"Arguments", prior->value("Arguments", Json::object())}, {"JobRunId", run_id}};
      auto next = StartRun(job, input);
      if (absl::IsUnavailable(next.status())) return;  // stopping: the next start retries it
      if (!next.ok()) {
        WriteLog(StrCat(state_dir_, "/logs/", job, "/", run_id, "/error"),
                 StrCat("Could not start the retry: ", next.status().message(), "\n"));
      }
    }
  }
  (void)catalog_.DeleteDocument("job_retry", marker);
}

void Jobs::Stop() {
  std::map<std::string, std::thread> threads;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [id, run] : active_) {
      run->stop_requested = true;
      run->Cancel();
    }
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& [id, t] : threads) t.join();
  if (monitor_.joinable()) monitor_.join();
}

absl::Status Jobs::Persist(const Json& run) {
  return catalog_.PutDocument("job_run", StrCat(run.value("JobName", ""), "/", run.value("Id", "")), run, false);
}

absl::Status Jobs::Create(const Json& input) {
  std::string name = input.value("Name", "");
  RETURN_IF_ERROR(ValidateJobName(name));
  RETURN_IF_ERROR(ValidateJobFields(input));
  Json job = {{"Name", name}, {"CreatedOn", EpochSeconds(absl::Now())}, {"LastModifiedOn", EpochSeconds(absl::Now())}};
  for (const char* k : kJobFields) {
    if (input.contains(k)) job[k] = input[k];
  }
  if (!job.contains("Timeout")) job["Timeout"] = 2880;
  if (!job.contains("MaxRetries")) job["MaxRetries"] = 0;
  if (!job.contains("ExecutionProperty")) job["ExecutionProperty"] = {{"MaxConcurrentRuns", 1}};
  if (!job["Command"].contains("Name")) job["Command"]["Name"] = "glueetl";
  if (input.contains("Tags")) job["Tags"] = input["Tags"];
  auto st = catalog_.PutDocument("job", name, job, /*create=*/true);
  if (absl::IsAlreadyExists(st)) return absl::AlreadyExistsError(StrCat("Job with name ", name, " already exists"));
  return st;
}

absl::StatusOr<Json> Jobs::Get(const std::string& name) {
  auto job = catalog_.GetDocument("job", name);
  if (absl::IsNotFound(job.status())) return absl::NotFoundError(StrCat("Job with name: ", name, " not found"));
  RETURN_IF_ERROR(job.status());
  job->erase("Tags");
  return job;
}

absl::StatusOr<std::vector<Json>> Jobs::List() {
  ASSIGN_OR_RETURN(auto all, catalog_.ListDocuments("job"));
  for (auto& j : all) j.erase("Tags");
  return all;
}

absl::Status Jobs::Update(const std::string& name, const Json& update) {
  ASSIGN_OR_RETURN(Json job, catalog_.GetDocument("job", name));
  if (!update.is_object()) return absl::InvalidArgumentError("JobUpdate must be an object");
  // UpdateJob replaces the definition with JobUpdate, as Glue does.
  Json next = {{"Name", name}, {"CreatedOn", job["CreatedOn"]}, {"LastModifiedOn", EpochSeconds(absl::Now())}};
  for (const char* k : kJobFields) {
    if (update.contains(k)) next[k] = update[k];
  }
  if (!next.contains("Command")) next["Command"] = job["Command"];
  RETURN_IF_ERROR(ValidateJobFields(next));
  if (!next.contains("Timeout")) next["Timeout"] = 2880;
  if (!next.contains("MaxRetries")) next["MaxRetries"] = 0;
  if (!next.contains("ExecutionProperty")) next["ExecutionProperty"] = {{"MaxConcurrentRuns", 1}};
  if (job.contains("Tags")) next["Tags"] = job["Tags"];
  return catalog_.PutDocument("job", name, next, /*create=*/false);
}

absl::Status Jobs::Delete(const std::string& name) {
  // DeleteJob succeeds for a missing job (Glue answers with the name either way).
  auto st = catalog_.DeleteDocument("job", name);
  if (!st.ok() && !absl::IsNotFound(st)) return st;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, run] : active_) {
      if (run->job == name) {
        run->stop_requested = true;
        run->Cancel();
      }
    }
  }
  ASSIGN_OR_RETURN(auto runs, catalog_.ListDocuments("job_run"));
  for (const auto& r : runs) {
    if (r.value("JobName", "") == name) (void)catalog_.DeleteDocument("job_run", StrCat(name, "/", r.value("Id", "")));
  }
  (void)catalog_.DeleteDocument("job_bookmark", name);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Jobs::StartRun(const std::string& name, const Json& input) {
  ASSIGN_OR_RETURN(Json job, Get(name));
  Json args = input.value("Arguments", Json::object());
  if (!args.is_object()) return absl::InvalidArgumentError("Arguments must be a map of strings");
  for (const auto& [k, v] : args.items()) {
    if (!v.is_string()) return absl::InvalidArgumentError(StrCat("Arguments: the value of ", k, " must be a string"));
  }
  if (input.contains("Timeout") && (!input["Timeout"].is_number_integer() || input["Timeout"].get<int64_t>() < 1)) {
    return absl::InvalidArgumentError("Timeout must be a whole number of minutes, at least 1");
  }
  auto run = std::make_shared<Active>();
  run->job = name;
  run->job_doc = job;
  run->arguments = MergeArguments(job, args);
  std::string option = run->arguments.value("--job-bookmark-option", "job-bookmark-disable");
  if (option != "job-bookmark-enable" && option != "job-bookmark-disable" && option != "job-bookmark-pause") {
    return absl::InvalidArgumentError(StrCat("--job-bookmark-option must be job-bookmark-enable, job-bookmark-disable or ",
                                             "job-bookmark-pause, not '", option, "'"));
  }
  run->bookmark_option = option;
  int64_t timeout = input.contains("Timeout") ? input["Timeout"].get<int64_t>() : job.value("Timeout", int64_t{2880});
  run->id = input.value("JobRunId", "");
  int attempt = 0;
  std::string previous;
  if (!run->id.empty()) {
    // A JobRunId in StartJobRun retries that (failed) run as a new attempt.
    ASSIGN_OR_RETURN(Json prior, GetRun(name, run->id));
    attempt = prior.value("Attempt", 0) + 1;
    previous = run->id;
    run->id = StrCat(prior.value("Id", ""), "_attempt_", attempt);
  } else {
    run->id = "jr_" + RandomHex(64);
  }
  run->started = absl::Now();
  run->deadline = run->started + absl::Minutes(timeout);
  run->run = {{"Id", run->id}, {"Attempt", attempt}, {"JobName", name}, {"StartedOn", EpochSeconds(absl::Now())},
              {"LastModifiedOn", EpochSeconds(absl::Now())}, {"JobRunState", "STARTING"}, {"Arguments", args},
              {"PredecessorRuns", Json::array()}, {"ExecutionTime", 0}, {"Timeout", timeout},
              {"LogGroupName", "/aws-glue/jobs"}};
  if (!previous.empty()) run->run["PreviousRunId"] = previous;
  for (const char* k : {"GlueVersion", "MaxCapacity", "WorkerType", "NumberOfWorkers", "ExecutionClass"}) {
    if (input.contains(k)) run->run[k] = input[k];
    else if (job.contains(k)) run->run[k] = job[k];
  }
  if (option != "job-bookmark-disable") {
    auto bookmark = catalog_.GetDocument("job_bookmark", name);
    if (bookmark.ok()) run->done = BookmarkState(*bookmark);
  }

  std::lock_guard lock(mu_);
  if (stopping_) return absl::UnavailableError("The server is stopping");
  int max_concurrent = job.value("ExecutionProperty", Json::object()).value("MaxConcurrentRuns", 1);
  int running = 0;
  for (const auto& [id, r] : active_) running += r->job == name;
  if (running >= std::max(1, max_concurrent)) {
    return absl::ResourceExhaustedError(StrCat("Concurrent runs exceeded for ", name, ": ", running,
                                               " run(s) active, MaxConcurrentRuns is ", max_concurrent));
  }
  RETURN_IF_ERROR(Persist(run->run));
  active_[run->id] = run;
  threads_[run->id] = std::thread(&Jobs::Execute, this, run);
  return run->id;
}

absl::StatusOr<Json> Jobs::GetRun(const std::string& name, const std::string& run_id) {
  auto run = catalog_.GetDocument("job_run", StrCat(name, "/", run_id));
  if (absl::IsNotFound(run.status())) {
    if (!catalog_.GetDocument("job", name).ok()) return absl::NotFoundError(StrCat("Job with name: ", name, " not found"));
    return absl::NotFoundError(StrCat("Job Run Id ", run_id, " not found"));
  }
  RETURN_IF_ERROR(run.status());
  std::string state = run->value("JobRunState", "");
  if (state == "RUNNING" || state == "STARTING" || state == "STOPPING") {
    (*run)["ExecutionTime"] = static_cast<int64_t>(EpochSeconds(absl::Now()) - run->value("StartedOn", EpochSeconds(absl::Now())));
  }
  return run;
}

absl::StatusOr<std::vector<Json>> Jobs::GetRuns(const std::string& name) {
  RETURN_IF_ERROR(Get(name).status());
  ASSIGN_OR_RETURN(auto all, catalog_.ListDocuments("job_run"));
  std::vector<Json> out;
  for (auto& r : all) {
    if (r.value("JobName", "") == name) out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(), [](const Json& a, const Json& b) {
    return a.value("StartedOn", 0.0) > b.value("StartedOn", 0.0);
  });
  return out;
}

absl::Status Jobs::StopRun(const std::string& name, const std::string& run_id) {
  std::shared_ptr<Active> run;
  {
    std::lock_guard lock(mu_);
    auto it = active_.find(run_id);
    if (it != active_.end() && it->second->job == name) run = it->second;
  }
  if (!run) {
    ASSIGN_OR_RETURN(Json done, GetRun(name, run_id));
    return absl::FailedPreconditionError(StrCat("Job run ", run_id, " is ", done.value("JobRunState", ""),
                                                ", not running"));
  }
  run->stop_requested = true;
  run->Cancel();
  return absl::OkStatus();
}

absl::StatusOr<std::string> Jobs::Logs(const std::string& name, const std::string& run_id, const std::string& stream) {
  RETURN_IF_ERROR(GetRun(name, run_id).status());
  if (stream != "output" && stream != "error") return absl::InvalidArgumentError("stream must be output or error");
  auto text = ReadFile(StrCat(state_dir_, "/logs/", name, "/", run_id, "/", stream));
  if (!text.ok()) return std::string();
  return text;
}

absl::StatusOr<Json> Jobs::GetBookmark(const std::string& name) {
  RETURN_IF_ERROR(Get(name).status());
  auto doc = catalog_.GetDocument("job_bookmark", name);
  if (absl::IsNotFound(doc.status())) return absl::NotFoundError(StrCat("Continuation for job ", name, " not found"));
  RETURN_IF_ERROR(doc.status());
  return BookmarkEntry(*doc);
}

absl::StatusOr<Json> Jobs::ResetBookmark(const std::string& name, const std::string& run_id) {
  RETURN_IF_ERROR(Get(name).status());
  auto doc = catalog_.GetDocument("job_bookmark", name);
  if (absl::IsNotFound(doc.status())) return absl::NotFoundError(StrCat("Continuation for job ", name, " not found"));
  RETURN_IF_ERROR(doc.status());
  ASSIGN_OR_RETURN(Json reset, RewindBookmark(*doc, run_id));
  RETURN_IF_ERROR(catalog_.PutDocument("job_bookmark", name, reset, false));
  return BookmarkEntry(reset);
}

absl::StatusOr<std::string> Jobs::FetchScript(const std::string& location, const std::string& dir) {
  ASSIGN_OR_RETURN(auto where, athena::ParseS3Location(location));
  auto object = store_.OpenObject(where.first, where.second);
  if (!object.ok()) {
    return absl::NotFoundError(StrCat("Cannot read the job's script ", location, ": ", object.status().message()));
  }
  std::string name = where.second.substr(where.second.rfind('/') + 1);
  std::string text;
  std::string buf(1 << 16, '\0');
  for (;;) {
    ssize_t n = ::read(object->second.get(), buf.data(), buf.size());
    if (n < 0) return absl::InternalError(StrCat("reading ", location, ": ", strerror(errno)));
    if (n == 0) break;
    text.append(buf.data(), static_cast<size_t>(n));
  }
  std::string path = dir + "/" + (name.empty() ? "script" : name);
  RETURN_IF_ERROR(WriteFileAtomically(path, text));
  return path;
}

std::string Jobs::RuntimeDir() {
  std::string dir = state_dir_ + "/python";
  static std::once_flag once;
  std::call_once(once, [&] {
    (void)MakeDirs(dir + "/awsglue");
    (void)WriteFileAtomically(dir + "/awsglue/__init__.py", "");
    (void)WriteFileAtomically(dir + "/awsglue/utils.py", kGetResolvedOptions);
    (void)WriteFileAtomically(dir + "/sitecustomize.py", kSiteCustomize);
  });
  return dir;
}

void Jobs::Execute(std::shared_ptr<Active> run) {
  try {
    ExecuteRun(run);
  } catch (const std::exception& e) {
    // No exception leaves a run's thread: the run fails and is no longer active.
    Active& r = *run;
    bool active;
    {
      std::lock_guard lock(mu_);
      active = active_.count(r.id) > 0;
    }
    if (!active) return;
    try {
      r.run["JobRunState"] = "FAILED";
      r.run["ErrorMessage"] = StrCat("Internal error in the run: ", e.what());
      r.run["CompletedOn"] = r.run["LastModifiedOn"] = EpochSeconds(absl::Now());
      (void)Persist(r.run);
    } catch (const std::exception&) {
    }
    std::lock_guard lock(mu_);
    active_.erase(r.id);
    finished_.push_back(r.id);
  }
}

void Jobs::ExecuteRun(std::shared_ptr<Active> run) {
  Active& r = *run;
  std::string work_dir = StrCat(state_dir_, "/runs/", r.id);
  std::string log_dir = StrCat(state_dir_, "/logs/", r.job, "/", r.id);
  r.run["JobRunState"] = "RUNNING";
  r.run["LastModifiedOn"] = EpochSeconds(absl::Now());
  (void)Persist(r.run);

  absl::Status st = [&]() -> absl::Status {
    RETURN_IF_ERROR(MakeDirs(work_dir));
    RETURN_IF_ERROR(MakeDirs(log_dir));
    std::string why;
    ScriptKind kind = KindOf(r.job_doc, &why);
    if (kind == ScriptKind::kUnsupported) return absl::InvalidArgumentError(why);
    if (kind == ScriptKind::kPySpark && options_.spark_submit.empty()) {
      return absl::FailedPreconditionError(
          "This is a PySpark (glueetl .py) job and PySpark needs a Spark installation: set \"glue\": "
          "{\"spark_submit\": \"/path/to/spark-submit\"} in <data-dir>/config.json and restart Sluice, or write the "
          "job as a .sql script, which runs in Sluice's DuckDB engine");
    }
    ASSIGN_OR_RETURN(std::string script, FetchScript(r.job_doc["Command"].value("ScriptLocation", ""), work_dir));
    if (kind == ScriptKind::kSql) {
      ASSIGN_OR_RETURN(std::string text, ReadFile(script));
      return RunSql(r, text, log_dir);
    }
    std::vector<std::string> argv;
    if (kind == ScriptKind::kPySpark) argv.push_back(options_.spark_submit);
    else argv.push_back(options_.python);
    argv.push_back(script);
    // Glue's own arguments first, then the job's, each as --key value.
    Json args = r.arguments;
    args["--JOB_NAME"] = r.job;
    args["--JOB_ID"] = "j_" + r.id.substr(3);
    args["--JOB_RUN_ID"] = r.id;
    args["--job-bookmark-option"] = r.bookmark_option;
    for (const auto& [k, v] : args.items()) {
      argv.push_back(k.starts_with("--") ? k : "--" + k);
      argv.push_back(v.is_string() ? v.get<std::string>() : v.dump());
    }
    return RunProcess(r, argv, work_dir, log_dir);
  }();

  std::string state;
  if (r.timed_out) {
    state = "TIMEOUT";
    r.run["ErrorMessage"] = StrCat("Job run timed out after ", r.run.value("Timeout", 0), " minutes");
  } else if (r.stop_requested) {
    state = "STOPPED";
  } else if (st.ok() || IsNothingToDo(st)) {
    state = "SUCCEEDED";
    if (!st.ok()) WriteLog(log_dir + "/output", StrCat(FormatIso8601(absl::Now()), " ", st.message(), "\n"));
  } else {
    state = "FAILED";
    r.run["ErrorMessage"] = std::string(st.message());
    WriteLog(log_dir + "/error", StrCat(FormatIso8601(absl::Now()), " ERROR ", st.message(), "\n"));
  }
  // The bookmark moves only when the run succeeded with bookmarks enabled.
  if (state == "SUCCEEDED" && r.bookmark_option == "job-bookmark-enable") {
    auto doc = catalog_.GetDocument("job_bookmark", r.job);
    Json bookmark = doc.ok() ? *doc : Json{{"JobName", r.job}, {"Version", 0}, {"Run", 0}, {"runs", Json::array()}};
    AdvanceBookmark(bookmark, r.id, r.run.value("Attempt", 0), r.seen);
    auto bst = catalog_.PutDocument("job_bookmark", r.job, bookmark, !doc.ok());
    if (!bst.ok()) {
      state = "FAILED";
      r.run["ErrorMessage"] = StrCat("Could not save the job bookmark: ", bst.message());
    }
  }
  r.run["JobRunState"] = state;
  r.run["CompletedOn"] = r.run["LastModifiedOn"] = EpochSeconds(absl::Now());
  r.run["ExecutionTime"] = absl::ToInt64Seconds(absl::Now() - r.started);
  bool retry = state == "FAILED" && r.run.value("Attempt", 0) < r.job_doc.value("MaxRetries", 0);
  // The retry is recorded before the failure, so that it happens even if the server dies
  // in between (Init starts recorded retries).
  if (retry && !catalog_.PutDocument("job_retry", StrCat(r.job, "/", r.id), {{"JobName", r.job}, {"RunId", r.id}}, false).ok()) {
    WriteLog(log_dir + "/error", "Could not record the retry\n");
  }
  (void)Persist(r.run);

  bool stopping;
  {
    std::lock_guard lock(mu_);
    active_.erase(r.id);
    finished_.push_back(r.id);
    stopping = stopping_;
  }
  athena::RemoveTree(work_dir);
  if (retry && !stopping) StartRetry(r.job, r.id);  // when stopping, the next start does it
}

absl::Status Jobs::RunSql(Active& r, const std::string& script, const std::string& log_dir) {
  ASSIGN_OR_RETURN(auto con, db_.Connect());
  {
    std::lock_guard lock(r.mu);
    r.con = con.get();
  }
  if (r.stop_requested || r.timed_out) return absl::CancelledError("the run was stopped");
  SqlJobContext ctx;
  ctx.job = r.job;
  ctx.run_id = r.id;
  for (const auto& [k, v] : r.arguments.items()) {
    std::string key = k.starts_with("--") ? k.substr(2) : k;
    ctx.args[key] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  ctx.args["JOB_NAME"] = r.job;
  ctx.args["JOB_RUN_ID"] = r.id;
  ctx.use_bookmark = r.bookmark_option != "job-bookmark-disable";
  ctx.done = &r.done;
  ctx.seen = &r.seen;
  ctx.output_log = log_dir + "/output";
  ctx.error_log = log_dir + "/error";
  ctx.cancelled = [&r] { return r.stop_requested.load() || r.timed_out.load(); };
  SqlJob job(catalog_, store_, engine_, dq_, *con, ctx);
  absl::Status st = job.Run(script);
  {
    std::lock_guard lock(r.mu);
    r.con = nullptr;
  }
  return st;
}

absl::Status Jobs::RunProcess(Active& r, const std::vector<std::string>& argv, const std::string& dir,
                              const std::string& log_dir) {
  // Everything the child needs is prepared before fork: only async-signal-safe calls after.
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (v.starts_with("AWS_") || v.starts_with("PYTHONPATH=")) continue;
    env.emplace_back(v);
  }
  env.push_back("AWS_ENDPOINT_URL=" + endpoint_);
  env.push_back("AWS_ACCESS_KEY_ID=" + options_.access_key);
  env.push_back("AWS_SECRET_ACCESS_KEY=" + options_.secret_key);
  env.push_back("AWS_DEFAULT_REGION=" + options_.region);
  env.push_back("AWS_REGION=" + options_.region);
  env.push_back("PYTHONPATH=" + RuntimeDir());
  env.push_back("PYTHONUNBUFFERED=1");
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  UniqueFd out(::open((log_dir + "/output").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  UniqueFd err(::open((log_dir + "/error").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!out.valid() || !err.valid()) return absl::InternalError(StrCat("cannot open the run's logs: ", strerror(errno)));

  std::unique_lock lock(r.mu);
  if (r.stop_requested || r.timed_out) return absl::CancelledError("the run was stopped");
  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    ::setpgid(0, 0);
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(out.get(), 1);
    ::dup2(err.get(), 2);
    // Nothing else of the server reaches the script: not its listening socket (which would
    // keep the port busy after the server dies), not its database files.
    ::close_range(3, ~0U, 0);
    ::execvpe(cargv[0], cargv.data(), cenv.data());
    const char msg[] = "cannot execute the job's interpreter\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so a kill right away reaches the group
  r.pid = pid;
  lock.unlock();

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  lock.lock();
  r.pid = -1;
  // Whatever the script started in its group goes with it.
  ::kill(-pid, SIGKILL);
  lock.unlock();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  // Glue reports the script's last error line; so do we.
  std::string last;
  if (auto text = ReadFile(log_dir + "/error"); text.ok()) {
    std::string_view t = StripWhitespace(*text);
    auto nl = t.rfind('\n');
    last = std::string(nl == std::string_view::npos ? t : t.substr(nl + 1));
  }
  if (WIFSIGNALED(status)) return absl::AbortedError(StrCat("Command was killed by signal ", WTERMSIG(status)));
  int code = WEXITSTATUS(status);
  if (code == 127 && last.find("cannot execute") != std::string::npos) {
    return absl::FailedPreconditionError(StrCat("Cannot run ", argv[0], ": not found or not executable"));
  }
  return absl::AbortedError(StrCat("Command failed with exit code ", code, last.empty() ? "" : ": " + last));
}

void Jobs::Monitor() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_for(lock, std::chrono::milliseconds(100));
    if (stopping_ && active_.empty()) break;
    // Join the threads of finished runs.
    std::vector<std::thread> done;
    for (const auto& id : finished_) {
      auto it = threads_.find(id);
      if (it == threads_.end()) continue;
      done.push_back(std::move(it->second));
      threads_.erase(it);
    }
    finished_.clear();
    if (!done.empty()) {
      lock.unlock();
      for (auto& t : done) t.join();
      lock.lock();
    }
    absl::Time now = absl::Now();
    for (auto& [id, run] : active_) {
      if (!run->timed_out && now >= run->deadline) {
        run->timed_out = true;
        run->Cancel();
      }
      std::lock_guard run_lock(run->mu);
      if (run->kill_at && now >= *run->kill_at && run->pid > 0) ::kill(-run->pid, SIGKILL);
    }
  }
}

}  // namespace sluice
