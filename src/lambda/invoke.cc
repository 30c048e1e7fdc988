// Execution: worker pools, synchronous invocations, and the queue of asynchronous ones.
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "absl/strings/cord.h"
#include "absl/strings/str_format.h"
#include "base/ids.h"
#include "base/json.h"
#include "base/strings.h"
#include "base/time.h"
#include "io/checksum.h"
#include "io/file.h"
#include "lambda/service.h"

namespace sluice::lambda {
namespace {

constexpr size_t kMaxSyncPayload = 6291456;
constexpr size_t kMaxAsyncPayload = 262144;
constexpr int kDispatchers = 4;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

std::string ErrorPayload(const std::string& type, const std::string& message) {
  return Json{{"errorType", type}, {"errorMessage", message}}.dump();
}

absl::Status TooMany(const std::string& reason) {
  absl::Status st = LambdaStatus(absl::StatusCode::kResourceExhausted, "TooManyRequestsException", "Rate Exceeded.");
  st.SetPayload("lambda-reason", absl::Cord(reason));
  return st;
}

}  // namespace

void LambdaService::SetEndpoint(const std::string& endpoint) {
  std::lock_guard lock(mu_);
  endpoint_ = endpoint;
  if (options_.start_threads && dispatchers_.empty() && !stopping_) {
    for (int i = 0; i < kDispatchers; ++i) dispatchers_.emplace_back([this] { DispatchLoop(); });
    esm_->Start();
  }
}

void LambdaService::Stop() {
  std::vector<std::unique_ptr<Worker>> doomed;
  std::vector<std::thread> dispatchers;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [name, pool] : pools_) {
      for (auto& w : pool.idle) doomed.push_back(std::move(w));
      pool.idle.clear();
    }
    dispatchers.swap(dispatchers_);
    // Running invocations end now (their callers get Runtime.ExitError).
    for (Worker* w : busy_) w->Abort();
  }
  cv_.notify_all();
  if (esm_) esm_->Stop();
  doomed.clear();  // kills the idle workers
  for (auto& t : dispatchers) t.join();
  // Busy workers belong to invocations still running; they are killed when released. The
  // spawner stays (a racing Acquire gets Unavailable from it).
  if (spawner_) spawner_->Stop();
}

std::vector<std::string> LambdaService::WorkerEnvironment(const Function& f, const std::string& stream,
                                                          const std::string& tmp, const std::string& opt) const {
  const Json& c = f.config;
  std::string code = CodeDir(f.name, f.code_revision);
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (v.starts_with("PATH=") && !opt.empty()) {
      env.push_back(StrCat("PATH=", opt, "/bin:", v.substr(5)));
    } else if (v.starts_with("PATH=") || v.starts_with("LANG=") || v.starts_with("LC_")) {
      env.emplace_back(v);
    }
  }
  // Layers are this function's /opt: their python/, nodejs/node_modules, bin/ and lib/.
  std::string pythonpath = code, nodepath = code;
  if (!opt.empty()) {
    pythonpath += ":" + opt + "/python";
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(opt + "/python/lib", ec)) {
      pythonpath += ":" + e.path().string() + "/site-packages";
    }
    nodepath += ":" + opt + "/nodejs/node_modules";
    env.push_back(StrCat("LD_LIBRARY_PATH=", opt, "/lib"));
  }
  auto add = [&](std::string_view k, const std::string& v) { env.push_back(StrCat(k, "=", v)); };
  add("TZ", ":UTC");
  add("LAMBDA_TASK_ROOT", code);
  add("LAMBDA_RUNTIME_DIR", dir_ + "/runtime");
  add("_HANDLER", c.value("Handler", ""));
  add("AWS_EXECUTION_ENV", StrCat("AWS_Lambda_", c.value("Runtime", "")));
  add("AWS_LAMBDA_FUNCTION_NAME", f.name);
  add("AWS_LAMBDA_FUNCTION_VERSION", c.value("Version", "$LATEST"));
  add("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", StrCat(c.value("MemorySize", 128)));
  add("AWS_LAMBDA_LOG_GROUP_NAME", StrCat("/aws/lambda/", f.name));
  add("AWS_LAMBDA_LOG_STREAM_NAME", stream);
  add("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
  add("AWS_REGION", options_.region);
  add("AWS_DEFAULT_REGION", options_.region);
  add("AWS_ACCESS_KEY_ID", options_.access_key);
  add("AWS_SECRET_ACCESS_KEY", options_.secret_key);
  if (!endpoint_.empty()) add("AWS_ENDPOINT_URL", endpoint_);
  add("TMPDIR", tmp);
  add("HOME", tmp);
  add("PYTHONPATH", pythonpath);
  add("PYTHONUNBUFFERED", "1");
  add("NODE_PATH", nodepath);
  if (c.contains("Environment")) {
    const Json& vars = c["Environment"]["Variables"];
    if (vars.is_object()) {
      for (auto it = vars.begin(); it != vars.end(); ++it) add(it.key(), it.value().get<std::string>());
    }
  }
  return env;
}

std::string LambdaService::PythonExecutable() {
  // The configured python may be a wrapper (a pyenv shim is a shell script that costs a
  // cold start hundreds of milliseconds): ask it once for the interpreter it runs.
  std::call_once(python_once_, [this] {
    python_ = options_.python;
    std::string cmd = StrCat("'", options_.python, "' -c 'import sys; print(sys.executable)' 2>/dev/null");
    if (options_.python.find('\'') != std::string::npos) return;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return;
    char buf[4096];
    std::string out;
    while (size_t n = ::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    if (::pclose(p) == 0) {
      std::string exe(StripWhitespace(out));
      if (!exe.empty() && ::access(exe.c_str(), X_OK) == 0) python_ = exe;
    }
  });
  return python_;
}

absl::StatusOr<std::unique_ptr<Worker>> LambdaService::StartWorker(const Function& f) {
  std::string runtime = f.config.value("Runtime", "");
  std::string code = CodeDir(f.name, f.code_revision);
  ASSIGN_OR_RETURN(std::string opt, OptDir(f));
  WorkerSpec spec;
  if (runtime.starts_with("python")) {
    spec.argv = {PythonExecutable(), dir_ + "/runtime/python_bootstrap.py"};
  } else if (runtime.starts_with("nodejs")) {
    spec.argv = {options_.node, dir_ + "/runtime/nodejs_bootstrap.js"};
  } else {
    std::string bootstrap = code + "/bootstrap";
    if (::access(bootstrap.c_str(), F_OK) != 0 && !opt.empty()) bootstrap = opt + "/bootstrap";  // a runtime layer
    if (::access(bootstrap.c_str(), X_OK) != 0) {
      return LambdaStatus(absl::StatusCode::kFailedPrecondition, "Runtime.InvalidEntrypoint",
                          ::access(bootstrap.c_str(), F_OK) == 0
                              ? "Error: fork/exec /var/task/bootstrap: permission denied"
                              : "Error: Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]");
    }
    spec.argv = {bootstrap};
  }
  absl::Time now = absl::Now();
  std::string id = RandomHex(32);
  std::string stream = StrCat(absl::FormatTime("%Y/%m/%d", now, absl::UTCTimeZone()), "/[",
                              f.config.value("Version", "$LATEST"), "]", id);
  std::string logs = StrCat(dir_, "/logs/", f.name);
  RETURN_IF_ERROR(MakeDirs(logs));
  spec.log_path = StrCat(logs, "/", absl::FormatTime("%Y-%m-%d", now, absl::UTCTimeZone()), "-", id, ".log");
  spec.tmp_dir = StrCat(dir_, "/tmp/", id);
  RETURN_IF_ERROR(MakeDirs(spec.tmp_dir));
  spec.cwd = code;
  spec.env = WorkerEnvironment(f, stream, spec.tmp_dir, opt);
  ASSIGN_OR_RETURN(auto worker, Worker::Start(*spawner_, std::move(spec)));
  worker->revision = static_cast<int>(f.revision);
  return worker;
}

absl::StatusOr<LambdaService::Lease> LambdaService::Acquire(const std::string& function) {
  std::vector<std::unique_ptr<Worker>> doomed;
  Lease lease;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return LambdaStatus(absl::StatusCode::kUnavailable, "ServiceException", "The server is stopping");
    ASSIGN_OR_RETURN(Target target, Resolve(function));
    lease.key = target.key;
    lease.version = target.version;
    const Function& f = target.snapshot;
    Pool& pool = pools_[target.key];
    if (f.reserved_concurrency && pool.busy >= *f.reserved_concurrency) {
      return TooMany("ReservedFunctionConcurrentInvocationLimitExceeded");
    }
    while (!pool.idle.empty()) {
      std::unique_ptr<Worker> w = std::move(pool.idle.back());
      pool.idle.pop_back();
      if (w->revision == f.revision && w->alive()) {
        pool.busy++;
        busy_.insert(w.get());
        lease.worker = std::move(w);
        lease.snapshot = f;
        break;
      }
      doomed.push_back(std::move(w));
      running_--;
    }
    if (!lease.worker) {
      if (running_ >= options_.concurrency_limit) {
        // Idle workers of other functions make room.
        for (auto& [other, p] : pools_) {
          if (!p.idle.empty()) {
            doomed.push_back(std::move(p.idle.front()));
            p.idle.erase(p.idle.begin());
            running_--;
            break;
          }
        }
      }
      if (running_ >= options_.concurrency_limit) return TooMany("ConcurrentInvocationLimitExceeded");
      pool.busy++;
      running_++;
      lease.snapshot = f;
    }
  }
  doomed.clear();
  if (!lease.worker) {
    auto w = StartWorker(lease.snapshot);
    if (!w.ok()) {
      std::lock_guard lock(mu_);
      pools_[lease.key].busy--;
      running_--;
      return w.status();
    }
    lease.worker = std::move(*w);
    std::lock_guard lock(mu_);
    busy_.insert(lease.worker.get());
    if (stopping_) lease.worker->Abort();
  }
  return lease;
}

void LambdaService::Release(Lease& lease) {
  std::unique_ptr<Worker> worker = std::move(lease.worker);
  {
    std::lock_guard lock(mu_);
    Pool& pool = pools_[lease.key];
    pool.busy--;
    busy_.erase(worker.get());
    auto it = functions_.find(lease.snapshot.name);
    bool current = it != functions_.end() &&
                   (lease.version == "$LATEST" ? it->second.revision == worker->revision
                                               : it->second.versions.contains(lease.version));
    if (!stopping_ && current && worker->alive()) {
      pool.idle.push_back(std::move(worker));
      return;
    }
    running_--;
  }
  worker.reset();  // kills the process group, outside the lock
}

void LambdaService::DropIdleWorkers(const std::string& name) {
  std::vector<std::unique_ptr<Worker>> doomed;
  {
    std::lock_guard lock(mu_);
    auto it = pools_.find(name);
    if (it == pools_.end()) return;
    running_ -= static_cast<int>(it->second.idle.size());
    doomed = std::move(it->second.idle);
    it->second.idle.clear();
  }
}

LambdaInvokeResult LambdaService::Run(Lease& lease, const std::string& request_id, const std::string& payload) {
  const Json& c = lease.snapshot.config;
  int timeout = c.value("Timeout", 3);
  int memory = c.value("MemorySize", 128);
  std::string start = StrCat("START RequestId: ", request_id, " Version: ", lease.version, "\n");
  lease.worker->AppendLog(start);
  InvokeOutcome o = lease.worker->Invoke(request_id, payload, absl::Seconds(timeout), c.value("FunctionArn", ""));
  LambdaInvokeResult r;
  r.executed_version = lease.version;
  std::string extra, status;
  switch (o.kind) {
    case InvokeOutcome::Kind::kSuccess:
      r.payload = std::move(o.body);
      break;
    case InvokeOutcome::Kind::kError:
      r.function_error = "Unhandled";
      r.payload = o.body.empty() ? ErrorPayload(o.error_type.empty() ? "Unknown" : o.error_type, "") : std::move(o.body);
      break;
    case InvokeOutcome::Kind::kTimeout: {
      r.function_error = "Unhandled";
      std::string message = absl::StrFormat("Task timed out after %d.00 seconds", timeout);
      r.payload = ErrorPayload("Sandbox.Timedout", StrCat("RequestId: ", request_id, " Error: ", message));
      extra = StrCat(FormatIso8601(absl::Now()), " ", request_id, " ", message, "\n");
      status = "\tStatus: timeout";
      break;
    }
    case InvokeOutcome::Kind::kExited: {
      r.function_error = "Unhandled";
      std::string why = WIFSIGNALED(o.exit_status) ? StrCat("signal: ", strsignal(WTERMSIG(o.exit_status)))
                                                   : StrCat("exit status ", WEXITSTATUS(o.exit_status));
      std::string message = StrCat("RequestId: ", request_id, " Error: Runtime exited with error: ", why);
      if (!o.init_error.empty()) {
        r.payload = o.init_error;
      } else {
        r.payload = ErrorPayload("Runtime.ExitError", message);
      }
      extra = StrCat(message, "\nRuntime.ExitError\n");
      status = "\tStatus: error\tError Type: Runtime.ExitError";
      break;
    }
  }
  double billed = std::ceil(o.duration_ms);
  std::string report = absl::StrFormat(
      "END RequestId: %s\nREPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %.0f ms\tMemory Size: %d MB\t"
      "Max Memory Used: %d MB\t",
      request_id, request_id, o.duration_ms, billed, memory, o.max_memory_mb);
  if (o.init_ms > 0) report += absl::StrFormat("Init Duration: %.2f ms\t", o.init_ms);
  report += status + "\n";
  lease.worker->AppendLog(extra + report);
  std::string log = start + o.log + extra + report;
  r.log_tail = log.size() > 4096 ? log.substr(log.size() - 4096) : log;
  return r;
}

absl::StatusOr<LambdaInvokeResult> LambdaService::Invoke(const std::string& function, std::string payload,
                                                         InvocationType type, bool tail_log) {
  std::string name;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(Target t, Resolve(function));
    name = t.snapshot.name;
    // Asynchronous events keep the qualifier they were sent to.
    if (t.version != "$LATEST") {
      std::string q;
      (void)ResolveName(function, &q);
      name = StrCat(name, ":", q);
    }
  }
  size_t limit = type == InvocationType::kEvent ? kMaxAsyncPayload : kMaxSyncPayload;
  if (payload.size() > limit) {
    return LambdaStatus(absl::StatusCode::kOutOfRange, "RequestTooLargeException",
                        StrCat("Request must be smaller than ", limit, " bytes for the InvokeFunction operation"));
  }
  if (!StripWhitespace(payload).empty()) {
    JsonParseError why;
    Json parsed = ParseJson(payload, &why);
    if (parsed.is_discarded()) {
      return LambdaStatus(absl::StatusCode::kInvalidArgument, "InvalidRequestContentException",
                          "Could not parse request body into json: Could not parse payload into json: Unexpected "
                          "character: was expecting a JSON value");
    }
  }
  LambdaInvokeResult r;
  if (type == InvocationType::kDryRun) {
    r.status = 204;
    return r;
  }
  if (type == InvocationType::kEvent) {
    RETURN_IF_ERROR(Enqueue(name, payload));
    r.status = 202;
    return r;
  }
  auto lease = Acquire(function);
  if (!lease.ok() && LambdaErrorCode(lease.status()).starts_with("Runtime.")) {
    // The runtime cannot start (no bootstrap): a function error, as AWS reports it.
    std::string id = NewUuid();
    r.function_error = "Unhandled";
    r.payload = ErrorPayload(LambdaErrorCode(lease.status()), StrCat("RequestId: ", id, " ", lease.status().message()));
    return r;
  }
  if (!lease.ok()) return lease.status();
  r = Run(*lease, NewUuid(), payload);
  Release(*lease);
  if (!tail_log) r.log_tail.clear();
  return r;
}

absl::Status LambdaService::Enqueue(const std::string& name, const std::string& payload) {
  AsyncItem item{NewUuid(), name, payload, 0, NowMs(), NowMs(), false};
  int64_t id;
  {
    std::lock_guard lock(mu_);
    id = next_async_id_++;
  }
  RETURN_IF_ERROR(writer_->Write([id, item](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStmt * q, db.Prepare("INSERT INTO async_invocations(id, request_id, function, payload, "
                                                "attempts, next_ms, created_ms) VALUES(?, ?, ?, ?, 0, ?, ?)"));
    return q->Bind(1, id).Bind(2, item.request_id).Bind(3, item.function).Bind(4, item.payload)
        .Bind(5, item.next_ms).Bind(6, item.created_ms).Run();
  }));
  {
    std::lock_guard lock(mu_);
    queue_[id] = std::move(item);
  }
  cv_.notify_one();
  return absl::OkStatus();
}

void LambdaService::DispatchLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    int64_t now = NowMs(), soonest = now + 1000, pick = 0;
    for (auto& [id, item] : queue_) {
      if (item.running) continue;
      if (item.next_ms <= now) {
        pick = id;
        break;
      }
      soonest = std::min(soonest, item.next_ms);
    }
    if (pick == 0) {
      cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(1, soonest - now)));
      continue;
    }
    queue_[pick].running = true;
    lock.unlock();
    Dispatch(pick);
    lock.lock();
  }
}

void LambdaService::Dispatch(int64_t id) {
  AsyncItem item;
  Function f;
  bool exists;
  {
    std::lock_guard lock(mu_);
    item = queue_[id];
    auto target = Resolve(item.function);
    exists = target.ok();
    if (exists) f = functions_[target->snapshot.name];
  }
  auto forget = [&] {
    (void)writer_->Write([id](SqliteDb& db) -> absl::Status {
      ASSIGN_OR_RETURN(SqliteStmt * q, db.Prepare("DELETE FROM async_invocations WHERE id=?"));
      return q->Bind(1, id).Run();
    });
    std::lock_guard lock(mu_);
    queue_.erase(id);
  };
  if (!exists) return forget();  // events of a deleted function are dropped, as on AWS
  Json eic = f.event_invoke_config.is_object() ? f.event_invoke_config : Json::object();
  int max_age = eic.value("MaximumEventAgeInSeconds", 21600);
  int max_retries = eic.value("MaximumRetryAttempts", 2);
  LambdaInvokeResult result;
  if (NowMs() - item.created_ms > int64_t{max_age} * 1000) {
    SendToDestination(f, "EventAgeExceeded", item.request_id, item.payload, result, item.attempts);
    return forget();
  }
  auto lease = Acquire(item.function);
  if (!lease.ok()) {
    std::lock_guard lock(mu_);
    auto& q = queue_[id];
    q.running = false;
    if (absl::IsNotFound(lease.status())) {
      q.next_ms = NowMs();
    } else {
      // Throttled (or the runtime cannot start): asynchronous events wait and retry.
      q.next_ms = NowMs() + static_cast<int64_t>(1000 * options_.retry_delay_scale) + 1;
    }
    return;
  }
  result = Run(*lease, item.request_id, item.payload);
  Release(*lease);
  int attempts = item.attempts + 1;
  if (result.function_error.empty()) {
    SendToDestination(f, "Success", item.request_id, item.payload, result, attempts);
    return forget();
  }
  if (attempts > max_retries) {
    SendToDestination(f, "RetriesExhausted", item.request_id, item.payload, result, attempts);
    return forget();
  }
  // Retried after a minute, then two (scaled in tests).
  int64_t next = NowMs() + static_cast<int64_t>(60000.0 * attempts * options_.retry_delay_scale);
  (void)writer_->Write([id, attempts, next](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStmt * q, db.Prepare("UPDATE async_invocations SET attempts=?, next_ms=? WHERE id=?"));
    return q->Bind(1, int64_t{attempts}).Bind(2, next).Bind(3, id).Run();
  });
  std::lock_guard lock(mu_);
  auto& q = queue_[id];
  q.attempts = attempts;
  q.next_ms = next;
  q.running = false;
  cv_.notify_all();
}

void LambdaService::SendToDestination(const Function& f, const std::string& condition, const std::string& request_id,
                                      const std::string& payload, const LambdaInvokeResult& result, int attempts) {
  bool success = condition == "Success";
  std::string destination;
  if (f.event_invoke_config.is_object() && f.event_invoke_config.contains("DestinationConfig")) {
    const Json& d = f.event_invoke_config["DestinationConfig"];
    const char* which = success ? "OnSuccess" : "OnFailure";
    if (d.contains(which) && d[which].is_object()) destination = d[which].value("Destination", "");
  }
  if (!options_.destination_sender) return;
  if (destination.empty()) {
    // Without an on-failure destination, the dead-letter queue gets the event itself.
    if (!success && f.config.contains("DeadLetterConfig")) {
      std::string dlq = f.config["DeadLetterConfig"].value("TargetArn", "");
      if (!dlq.empty()) (void)options_.destination_sender(dlq, payload);
    }
    return;
  }
  Json request_payload = ParseJson(payload);
  Json response_payload = ParseJson(result.payload);
  Json record = {{"version", "1.0"},
                 {"timestamp", FormatIso8601(absl::Now())},
                 {"requestContext",
                  {{"requestId", request_id},
                   {"functionArn", StrCat(Arn(f.name), ":", result.executed_version)},
                   {"condition", condition},
                   {"approximateInvokeCount", attempts}}},
                 {"requestPayload", request_payload.is_discarded() ? Json(payload) : request_payload}};
  if (condition != "EventAgeExceeded") {
    Json response = {{"statusCode", 200}, {"executedVersion", result.executed_version}};
    if (!result.function_error.empty()) response["functionError"] = result.function_error;
    record["responseContext"] = response;
    record["responsePayload"] = response_payload.is_discarded() ? Json(result.payload) : response_payload;
  }
  (void)options_.destination_sender(destination, record.dump());
}

}  // namespace sluice::lambda
