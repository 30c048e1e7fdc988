#include "states/states.h"

#include <random>
#include <utility>

#include "absl/strings/cord.h"
#include "base/json.h"
#include "base/ids.h"
#include "base/strings.h"
#include "base/time.h"
#include "http/json_api.h"
#include "io/file.h"
#include "states/interpreter.h"
#include "states/language.h"
#include "states/validate.h"

namespace sluice {
namespace {

constexpr const char kCodePayload[] = "sluice.states/code";

absl::Status ApiError(absl::StatusCode code, const std::string& aws_code, const std::string& message) {
  absl::Status st(code, message);
  st.SetPayload(kCodePayload, absl::Cord(aws_code));
  return st;
}
absl::Status Invalid(const std::string& code, const std::string& m) {
  return ApiError(absl::StatusCode::kInvalidArgument, code, m);
}
absl::Status Missing(const std::string& code, const std::string& m) {
  return ApiError(absl::StatusCode::kNotFound, code, m);
}

std::string Iso(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone()); }

absl::Status CheckName(const std::string& name) {
  // AWS refuses whitespace, brackets, wildcards, punctuation that ARNs use, and control characters.
  bool bad = name.empty() || name.size() > 80;
  for (unsigned char c : name) {
    bad |= c <= 0x20 || c == 0x7f || std::string_view("<>{}[]?*\"#%\\^|~`$&,;:/").find(static_cast<char>(c)) != std::string_view::npos;
  }
  if (bad) {
    return Invalid("InvalidName", StrCat("Invalid Name: '", name, "'"));
  }
  return absl::OkStatus();
}

// The history event's details member: stateEnteredEventDetails, taskScheduledEventDetails, ...
std::string DetailsKey(const std::string& type) {
  if (type.ends_with("StateEntered")) return "stateEnteredEventDetails";
  if (type.ends_with("StateExited")) return "stateExitedEventDetails";
  std::string k = type;
  k[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(k[0])));
  return k + "EventDetails";
}

Json Page(std::vector<Json> items, const Json& in, const char* field, size_t default_max) {
  size_t start = 0;
  if (in.contains("nextToken") && in["nextToken"].is_string()) ParseNumber(in["nextToken"].get<std::string>(), &start);
  size_t max = default_max;
  if (in.contains("maxResults") && in["maxResults"].is_number_integer() && in["maxResults"].get<int64_t>() > 0) {
    max = std::min<size_t>(in["maxResults"].get<size_t>(), 1000);
  }
  Json out = {{field, Json::array()}};
  for (size_t i = start; i < items.size() && i < start + max; ++i) out[field].push_back(std::move(items[i]));
  if (start + max < items.size()) out["nextToken"] = std::to_string(start + max);
  return out;
}

bool Terminal(const std::string& status) { return status != "RUNNING"; }

}  // namespace

std::string StatesErrorCode(const absl::Status& status) {
  if (auto p = status.GetPayload(kCodePayload)) return std::string(*p);
  if (absl::IsInvalidArgument(status)) return "ValidationException";
  if (absl::IsNotFound(status)) return "ResourceNotFound";
  return "InternalServerError";
}

struct StepFunctions::Execution {
  std::string arn, name, machine_arn, machine_name;
  bool durable = true;
  Json definition;
  Json doc;  // DescribeExecution's shape (+ sluice:checkpoint)
  std::vector<Json> events;
  absl::Time deadline = absl::InfiniteFuture();
  std::atomic<bool> stop{false};
  std::optional<absl::Time> resume_entered;  // the checkpointed state's entered time, on resume
  Json resume_task = Json::object();         // what the checkpointed task had started, on resume
  std::mutex events_mu;                      // guards events
};

StepFunctions::StepFunctions(StatesOptions options) : options_(std::move(options)) {}
StepFunctions::~StepFunctions() { Stop(); }

absl::StatusOr<std::unique_ptr<StepFunctions>> StepFunctions::Open(const std::string& dir, StatesOptions options) {
  RETURN_IF_ERROR(MakeDirs(dir));
  std::unique_ptr<StepFunctions> s(new StepFunctions(std::move(options)));
  std::string path = dir + "/states.db";
  ASSIGN_OR_RETURN(s->writer_, SqliteGroupWriter::Open(path));
  RETURN_IF_ERROR(s->writer_->Write([](SqliteDb& db) {
    return db.Exec(
        "CREATE TABLE IF NOT EXISTS documents(kind TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,"
        " PRIMARY KEY(kind, name)) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS events(arn TEXT NOT NULL, id INTEGER NOT NULL, event TEXT NOT NULL,"
        " PRIMARY KEY(arn, id)) WITHOUT ROWID;");
  }));
  s->readers_ = std::make_unique<SqliteReaderPool>(path);
  return s;
}

void StepFunctions::RegisterIntegration(const std::string& service, Integration integration) {
  integrations_[service] = std::move(integration);
}
void StepFunctions::RegisterSdk(const std::string& service, SdkService sdk) { sdk_[service] = std::move(sdk); }

void StepFunctions::Stop() {
  std::map<std::string, std::thread> threads;
  {
    std::lock_guard lock(mu_);
    // Running executions are not stopped for good: they see stopping_, end where they are
    // and resume from their checkpoints at the next start.
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& [arn, t] : threads) t.join();
}

absl::Status StepFunctions::Save(const std::string& kind, const std::string& name, const Json& doc) {
  return writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("INSERT OR REPLACE INTO documents(kind, name, doc) VALUES(?,?,?)"));
    return s->Bind(1, kind).Bind(2, name).Bind(3, doc.dump()).Run();
  });
}

absl::StatusOr<Json> StepFunctions::Load(const std::string& kind, const std::string& name) {
  std::optional<Json> out;
  RETURN_IF_ERROR(readers_->With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT doc FROM documents WHERE kind=? AND name=?"));
    s->Bind(1, kind).Bind(2, name);
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (row) out = ParseJson(s->Text(0), kMaxStoredJsonDepth);
    s->Reset();
    return absl::OkStatus();
  }));
  if (!out) return absl::NotFoundError(StrCat(kind, " ", name, " not found"));
  return *out;
}

absl::StatusOr<std::vector<Json>> StepFunctions::LoadAll(const std::string& kind) {
  std::vector<Json> out;
  RETURN_IF_ERROR(readers_->With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT doc FROM documents WHERE kind=? ORDER BY name"));
    s->Bind(1, kind);
    for (;;) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(ParseJson(s->Text(0), kMaxStoredJsonDepth));
    }
    return absl::OkStatus();
  }));
  return out;
}

std::string StepFunctions::MachineArn(const std::string& name) const {
  return StrCat("arn:aws:states:", options_.region, ":", options_.account, ":stateMachine:", name);
}

absl::StatusOr<Json> StepFunctions::MachineByArn(const std::string& arn) {
  std::string name = arn.substr(arn.rfind(':') + 1);
  if (!arn.starts_with("arn:aws:states:") || arn.find(":stateMachine:") == std::string::npos) {
    return Invalid("InvalidArn", StrCat("Invalid Arn: '", arn, "'"));
  }
  auto m = Load("machine", name);
  if (!m.ok()) return Missing("StateMachineDoesNotExist", StrCat("State Machine Does Not Exist: '", arn, "'"));
  return m;
}

absl::StatusOr<Json> StepFunctions::Call(const std::string& action, const Json& in) {
  if (action == "CreateStateMachine") return CreateStateMachine(in);
  if (action == "UpdateStateMachine") return UpdateStateMachine(in);
  if (action == "DescribeStateMachine") {
    ASSIGN_OR_RETURN(Json m, MachineByArn(in.value("stateMachineArn", "")));
    return m;
  }
  if (action == "ListStateMachines") {
    ASSIGN_OR_RETURN(auto all, LoadAll("machine"));
    std::vector<Json> items;
    for (const auto& m : all) {
      items.push_back({{"stateMachineArn", m["stateMachineArn"]}, {"name", m["name"]}, {"type", m["type"]},
                       {"creationDate", m["creationDate"]}});
    }
    return Page(std::move(items), in, "stateMachines", 100);
  }
  if (action == "DeleteStateMachine") {
    ASSIGN_OR_RETURN(Json m, MachineByArn(in.value("stateMachineArn", "")));
    RETURN_IF_ERROR(writer_->Write([&](SqliteDb& db) -> absl::Status {
      ASSIGN_OR_RETURN(auto* s, db.Prepare("DELETE FROM documents WHERE kind='machine' AND name=?"));
      return s->Bind(1, m.value("name", "")).Run();
    }));
    return Json::object();
  }
  if (action == "ValidateStateMachineDefinition") {
    auto diagnostics = states::ValidateDefinition(in.value("definition", ""));
    Json list = Json::array();
    bool failed = false;
    for (const auto& d : diagnostics) {
      failed |= d.severity == "ERROR";
      list.push_back({{"severity", d.severity}, {"code", d.code}, {"message", d.message}, {"location", d.location}});
    }
    return Json{{"result", failed ? "FAIL" : "OK"}, {"diagnostics", list}, {"truncated", false}};
  }
  if (action == "StartExecution") return StartExecution(in, false);
  if (action == "StartSyncExecution") return StartExecution(in, true);
  if (action == "DescribeExecution") return DescribeExecution(in);
  if (action == "DescribeStateMachineForExecution") {
    ASSIGN_OR_RETURN(Json e, DescribeExecution(in));
    ASSIGN_OR_RETURN(Json m, MachineByArn(e.value("stateMachineArn", "")));
    m["updateDate"] = m.value("updateDate", m.value("creationDate", 0.0));
    return m;
  }
  if (action == "ListExecutions") return ListExecutions(in);
  if (action == "GetExecutionHistory") return History(in);
  if (action == "StopExecution") return StopExecution(in);
  if (action == "SendTaskSuccess" || action == "SendTaskFailure" || action == "SendTaskHeartbeat") {
    return TaskResponse(action, in);
  }
  if (action.find("Activit") != std::string::npos) return Activity(action, in);
  return ApiError(absl::StatusCode::kUnimplemented, "UnknownOperationException",
                  StrCat("Sluice does not implement Step Functions ", action, " yet."));
}

absl::StatusOr<Json> StepFunctions::CreateStateMachine(const Json& in) {
  std::string name = in.value("name", ""), definition = in.value("definition", "");
  RETURN_IF_ERROR(CheckName(name));
  std::string type = in.value("type", "STANDARD");
  if (type != "STANDARD" && type != "EXPRESS") return Invalid("ValidationException", "type must be STANDARD or EXPRESS");
  if (!in.contains("roleArn")) return Invalid("ValidationException", "roleArn is required");
  auto diagnostics = states::ValidateDefinition(definition);
  std::vector<states::Diagnostic> errors;
  for (const auto& d : diagnostics) {
    if (d.severity == "ERROR") errors.push_back(d);
  }
  if (!errors.empty()) return Invalid("InvalidDefinition", states::InvalidDefinitionMessage(errors));
  std::lock_guard lock(mu_);
  auto existing = Load("machine", name);
  if (existing.ok()) {
    // Creating the same machine again returns it, as AWS does; a different one conflicts.
    if (existing->value("definition", "") == definition && existing->value("roleArn", "") == in.value("roleArn", "")) {
      return Json{{"stateMachineArn", (*existing)["stateMachineArn"]}, {"creationDate", (*existing)["creationDate"]}};
    }
    return ApiError(absl::StatusCode::kAlreadyExists, "StateMachineAlreadyExists",
                    StrCat("State Machine Already Exists: '", MachineArn(name), "'"));
  }
  Json m = {{"stateMachineArn", MachineArn(name)}, {"name", name}, {"status", "ACTIVE"}, {"definition", definition},
            {"roleArn", in["roleArn"]}, {"type", type}, {"creationDate", EpochSeconds(absl::Now())},
            {"loggingConfiguration", in.value("loggingConfiguration", Json{{"level", "OFF"}, {"includeExecutionData", false}})},
            {"revisionId", NewUuid()}};
  RETURN_IF_ERROR(Save("machine", name, m));
  return Json{{"stateMachineArn", m["stateMachineArn"]}, {"creationDate", m["creationDate"]}};
}

absl::StatusOr<Json> StepFunctions::UpdateStateMachine(const Json& in) {
  ASSIGN_OR_RETURN(Json m, MachineByArn(in.value("stateMachineArn", "")));
  if (!in.contains("definition") && !in.contains("roleArn") && !in.contains("loggingConfiguration")) {
    return Invalid("MissingRequiredParameter", "Either the definition, the roleArn or the loggingConfiguration must be specified");
  }
  if (in.contains("definition")) {
    std::vector<states::Diagnostic> errors;
    for (const auto& d : states::ValidateDefinition(in.value("definition", ""))) {
      if (d.severity == "ERROR") errors.push_back(d);
    }
    if (!errors.empty()) return Invalid("InvalidDefinition", states::InvalidDefinitionMessage(errors));
    m["definition"] = in["definition"];
  }
  for (const char* k : {"roleArn", "loggingConfiguration"}) {
    if (in.contains(k)) m[k] = in[k];
  }
  m["updateDate"] = EpochSeconds(absl::Now());
  m["revisionId"] = NewUuid();
  RETURN_IF_ERROR(Save("machine", m.value("name", ""), m));
  return Json{{"updateDate", m["updateDate"]}, {"revisionId", m["revisionId"]}};
}

absl::StatusOr<Json> StepFunctions::StartExecution(const Json& in, bool sync) {
  ASSIGN_OR_RETURN(Json m, MachineByArn(in.value("stateMachineArn", "")));
  std::string type = m.value("type", "STANDARD");
  if (sync && type != "EXPRESS") {
    return Invalid("StateMachineTypeNotSupported", "This operation is not supported by this type of state machine");
  }
  std::string input_text = in.value("input", "{}");
  Json input = ParseJson(input_text);
  if (input.is_discarded()) return Invalid("InvalidExecutionInput", StrCat("Invalid State Machine Execution Input: '", input_text, "'"));
  if (input_text.size() > 256 * 1024) return Invalid("InvalidExecutionInput", "The input is larger than 256 KB");
  std::string name = in.value("name", NewUuid());
  RETURN_IF_ERROR(CheckName(name));
  Json definition = ParseJson(m.value("definition", "{}"), kMaxStoredJsonDepth);
  auto e = std::make_shared<Execution>();
  e->name = name;
  e->machine_arn = m["stateMachineArn"];
  e->machine_name = m["name"];
  e->durable = type == "STANDARD";
  e->definition = definition;
  e->arn = e->durable ? StrCat("arn:aws:states:", options_.region, ":", options_.account, ":execution:", e->machine_name, ":", name)
                      : StrCat("arn:aws:states:", options_.region, ":", options_.account, ":express:", e->machine_name, ":",
                               name, ":", NewUuid());
  absl::Time now = absl::Now();
  if (definition.contains("TimeoutSeconds")) e->deadline = now + absl::Seconds(definition["TimeoutSeconds"].get<double>());
  e->doc = {{"executionArn", e->arn}, {"stateMachineArn", e->machine_arn}, {"name", name}, {"status", "RUNNING"},
            {"startDate", EpochSeconds(now)}, {"input", input_text}, {"inputDetails", {{"included", true}}}};
  if (in.contains("traceHeader")) e->doc["traceHeader"] = in["traceHeader"];
  if (e->durable) {
    std::lock_guard lock(mu_);
    auto existing = Load("execution", e->arn);
    if (existing.ok()) {
      // StartExecution is idempotent for a running execution with the same input.
      if (existing->value("status", "") == "RUNNING" && existing->value("input", "") == input_text) {
        return Json{{"executionArn", e->arn}, {"startDate", (*existing)["startDate"]}};
      }
      return ApiError(absl::StatusCode::kAlreadyExists, "ExecutionAlreadyExists",
                      StrCat("Execution Already Exists: '", e->arn, "'"));
    }
    RETURN_IF_ERROR(Save("execution", e->arn, e->doc));
  }
  AddEvent(*e, "ExecutionStarted", {{"input", input_text}, {"roleArn", m.value("roleArn", "")}});
  ReapFinished();
  if (sync) {
    Run(e, "", input);
    Json out = e->doc;
    out.erase("sluice:checkpoint");
    out["billingDetails"] = {{"billedMemoryUsedInMB", 64}, {"billedDurationInMilliseconds", 100}};
    return out;
  }
  std::lock_guard lock(mu_);
  if (stopping_) return absl::UnavailableError("the server is stopping");
  running_[e->arn] = e;
  threads_[e->arn] = std::thread(&StepFunctions::Run, this, e, std::string(), input);
  return Json{{"executionArn", e->arn}, {"startDate", e->doc["startDate"]}};
}

absl::Status StepFunctions::Resume() {
  ASSIGN_OR_RETURN(auto all, LoadAll("execution"));
  for (auto& doc : all) {
    if (doc.value("status", "") != "RUNNING") continue;
    auto m = Load("machine", doc.value("stateMachineArn", "").substr(doc.value("stateMachineArn", "").rfind(':') + 1));
    if (!m.ok()) continue;
    auto e = std::make_shared<Execution>();
    e->arn = doc["executionArn"];
    e->name = doc["name"];
    e->machine_arn = doc["stateMachineArn"];
    e->machine_name = (*m)["name"];
    e->definition = ParseJson(m->value("definition", "{}"), kMaxStoredJsonDepth);
    if (e->definition.contains("TimeoutSeconds")) {
      e->deadline = absl::FromUnixMillis(static_cast<int64_t>(doc.value("startDate", 0.0) * 1000)) +
                    absl::Seconds(e->definition["TimeoutSeconds"].get<double>());
    }
    // The events written so far stay; new ones continue their numbering.
    RETURN_IF_ERROR(readers_->With([&](SqliteDb& db) -> absl::Status {
      ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT event FROM events WHERE arn=? ORDER BY id"));
      s->Bind(1, e->arn);
      for (;;) {
        ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        e->events.push_back(ParseJson(s->Text(0), kMaxStoredJsonDepth));
      }
      return absl::OkStatus();
    }));
    Json checkpoint = doc.value("sluice:checkpoint", Json::object());
    std::string start_at = checkpoint.value("state", "");
    Json input = checkpoint.contains("input") ? checkpoint["input"] : ParseJson(doc.value("input", "{}"));
    if (checkpoint.contains("entered_ms")) e->resume_entered = absl::FromUnixMillis(checkpoint["entered_ms"].get<int64_t>());
    if (checkpoint.contains("task")) e->resume_task = checkpoint["task"];
    e->doc = doc;
    std::lock_guard lock(mu_);
    running_[e->arn] = e;
    threads_[e->arn] = std::thread(&StepFunctions::Run, this, e, start_at, input);
  }
  return absl::OkStatus();
}

void StepFunctions::AddEvent(Execution& e, const std::string& type, Json details) {
  int64_t id;
  Json event;
  {
    // Events of an execution may come from Parallel/Map threads; the commit happens outside
    // the lock, so the writer groups the events of all executions into one transaction.
    std::lock_guard lock(e.events_mu);
    id = static_cast<int64_t>(e.events.size()) + 1;
    event = {{"timestamp", EpochSeconds(absl::Now())}, {"type", type}, {"id", id}, {"previousEventId", id - 1}};
    if (!details.empty()) event[DetailsKey(type)] = std::move(details);
    e.events.push_back(event);
  }
  if (!e.durable) return;
  (void)writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("INSERT OR REPLACE INTO events(arn, id, event) VALUES(?,?,?)"));
    return s->Bind(1, e.arn).Bind(2, id).Bind(3, event.dump()).Run();
  });
}

bool StepFunctions::Sleep(Execution& e, absl::Time until) {
  std::unique_lock lock(mu_);
  for (;;) {
    if (e.stop || stopping_) return false;
    absl::Time now = absl::Now();
    if (now >= until || now >= e.deadline) return now < e.deadline || now >= until;
    absl::Time wake = std::min(until, e.deadline);
    cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(1, absl::ToInt64Milliseconds(wake - now))));
  }
}

void StepFunctions::Run(std::shared_ptr<Execution> e, std::string start_at, Json input) {
  states::Hooks hooks;
  // A resumed execution re-enters its checkpointed state; its history already says so.
  bool skip_reentry = false;
  if (!start_at.empty() && !e->events.empty()) {
    const Json& last = e->events.back();
    skip_reentry = last.value("type", "").ends_with("StateEntered") &&
                   last.value("stateEnteredEventDetails", Json::object()).value("name", "") == start_at;
  }
  hooks.event = [&](const std::string& type, Json details) {
    if (skip_reentry) {
      skip_reentry = false;
      if (type.ends_with("StateEntered") && details.value("name", "") == start_at) return;
    }
    AddEvent(*e, type, std::move(details));
  };
  // EXPRESS executions keep no state-by-state history (AWS sends it to CloudWatch Logs only
  // when logging is on); building it would cost more than running the states.
  if (!e->durable) hooks.event = nullptr;
  hooks.stopped = [&] { return e->stop.load() || stopping_ || absl::Now() >= e->deadline; };
  hooks.sleep = [&](absl::Time until) {
    // A resumed Wait keeps the deadline it had: count from when the state was entered.
    if (e->resume_entered) {
      until = *e->resume_entered + (until - absl::Now());
      e->resume_entered.reset();
    }
    return Sleep(*e, until);
  };
  bool first_state = true;
  hooks.checkpoint = [&](const std::string& state, const Json& data) {
    // The first state of a resumed run keeps the entered time of its checkpoint (a Wait's
    // deadline counts from it); later states start now.
    absl::Time entered = absl::Now();
    if (first_state && e->resume_entered) {
      entered = *e->resume_entered;
    } else {
      e->resume_entered.reset();
      std::lock_guard lock(mu_);
      e->resume_task = Json::object();  // a new state: nothing of the old task to re-attach to
    }
    first_state = false;
    if (!e->durable) return;
    Json doc;
    {
      std::lock_guard lock(mu_);
      Json checkpoint = {{"state", state}, {"input", data}, {"entered_ms", absl::ToUnixMillis(entered)}};
      if (!e->resume_task.empty()) checkpoint["task"] = e->resume_task;  // still waiting for that job
      e->doc["sluice:checkpoint"] = checkpoint;
      doc = e->doc;
    }
    (void)Save("execution", e->arn, doc);
  };
  hooks.read_items = [&](const Json& reader, const Json& data) -> absl::StatusOr<Json> {
    if (!item_reader_) return states::StatesError("States.Runtime", "ItemReader needs the S3 service");
    Json r = reader;
    if (r.contains("Parameters")) {
      ASSIGN_OR_RETURN(r["Parameters"], states::EvaluatePayloadTemplate(r["Parameters"], data, Json::object()));
    }
    return item_reader_(r);
  };
  hooks.write_results = [&](const Json& writer, const Json& data, const Json& succeeded,
                            const Json& failed) -> absl::StatusOr<Json> {
    if (!result_writer_) return states::StatesError("States.Runtime", "ResultWriter needs the S3 service");
    Json w = writer;
    if (w.contains("Parameters")) {
      ASSIGN_OR_RETURN(w["Parameters"], states::EvaluatePayloadTemplate(w["Parameters"], data, Json::object()));
    }
    std::string run_id = NewUuid();
    ASSIGN_OR_RETURN(Json details, result_writer_(w, run_id, succeeded, failed));
    return Json{{"MapRunArn", StrCat("arn:aws:states:", options_.region, ":", options_.account, ":mapRun:",
                                     e->machine_name, "/", run_id, ":", run_id)},
                {"ResultWriterDetails", details}};
  };
  hooks.task = [&](const std::string& resource, const Json& params, const Json& context, absl::Time deadline,
                   double heartbeat) {
    return RunTask(*e, resource, params, context, std::min(deadline, e->deadline), heartbeat);
  };
  hooks.new_token = [] { return NewUuid() + NewUuid(); };
  Json context = {{"Execution", {{"Id", e->arn}, {"Name", e->name}, {"StartTime", Iso(absl::FromUnixMillis(static_cast<int64_t>(e->doc.value("startDate", 0.0) * 1000)))},
                                 {"Input", ParseJson(e->doc.value("input", "{}"))},
                                 {"RoleArn", ""}}},
                  {"StateMachine", {{"Id", e->machine_arn}, {"Name", e->machine_name}}}};
  states::Interpreter interpreter(e->definition, hooks);
  auto out = interpreter.Run(input, context, start_at);
  absl::Time now = absl::Now();
  if (absl::IsCancelled(out.status()) && stopping_ && !e->stop) {
    // The server is stopping: the execution resumes from its checkpoint after the restart.
    std::lock_guard lock(mu_);
    running_.erase(e->arn);
    return;
  }
  std::string type, error, cause;
  Json details;
  {
    std::lock_guard lock(mu_);
    if (out.ok()) {
      e->doc["status"] = "SUCCEEDED";
      e->doc["output"] = out->dump();
      e->doc["outputDetails"] = {{"included", true}};
      type = "ExecutionSucceeded";
      details = {{"output", out->dump()}};
    } else if (now >= e->deadline) {
      e->doc["status"] = "TIMED_OUT";
      e->doc["error"] = "States.Timeout";
      type = "ExecutionTimedOut";
      details = {{"error", "States.Timeout"}, {"cause", "The execution timed out"}};
    } else if (absl::IsCancelled(out.status())) {
      e->doc["status"] = "ABORTED";
      type = "ExecutionAborted";
      details = {{"error", e->doc.value("error", "")}, {"cause", e->doc.value("cause", "")}};
    } else {
      e->doc["status"] = "FAILED";
      e->doc["error"] = states::ErrorName(out.status());
      e->doc["cause"] = std::string(out.status().message());
      type = "ExecutionFailed";
      details = {{"error", e->doc["error"]}, {"cause", e->doc["cause"]}};
    }
    e->doc["stopDate"] = EpochSeconds(now);
    e->doc.erase("sluice:checkpoint");
  }
  AddEvent(*e, type, details);
  if (e->durable) (void)Save("execution", e->arn, e->doc);
  std::lock_guard lock(mu_);
  if (!e->durable) {
    // Finished EXPRESS executions stay describable for a while; the oldest are dropped.
    express_[e->arn] = e->doc;
    express_order_.push_back(e->arn);
    while (express_order_.size() > 1000) {
      express_.erase(express_order_.front());
      express_order_.pop_front();
    }
  }
  running_.erase(e->arn);
  finished_.push_back(e->arn);  // the thread is joined by the next StartExecution, or Stop
  cv_.notify_all();
}

void StepFunctions::ReapFinished() {
  std::vector<std::thread> done;
  {
    std::lock_guard lock(mu_);
    for (const auto& arn : finished_) {
      auto it = threads_.find(arn);
      if (it == threads_.end()) continue;
      done.push_back(std::move(it->second));
      threads_.erase(it);
    }
    finished_.clear();
  }
  for (auto& t : done) t.join();
}

absl::StatusOr<Json> StepFunctions::WaitForToken(Execution& e, const std::string& token, absl::Time deadline,
                                                 double heartbeat) {
  std::unique_lock lock(mu_);
  for (;;) {
    auto it = tokens_.find(token);
    if (it != tokens_.end() && it->second.result) {
      auto r = *it->second.result;
      tokens_.erase(it);
      return r;
    }
    absl::Time now = absl::Now();
    if (e.stop || stopping_) {
      tokens_.erase(token);
      return absl::CancelledError("The execution was stopped");
    }
    if (now >= deadline) {
      tokens_.erase(token);
      return states::StatesError("States.Timeout", "The task timed out");
    }
    if (heartbeat > 0 && it != tokens_.end() && now - it->second.last_heartbeat > absl::Seconds(heartbeat)) {
      tokens_.erase(token);
      return states::StatesError("States.HeartbeatTimeout", "The task did not send a heartbeat in time");
    }
    cv_.wait_for(lock, std::chrono::milliseconds(200));
  }
}

absl::StatusOr<Json> StepFunctions::RunTask(Execution& e, const std::string& resource, const Json& parameters,
                                            const Json& context, absl::Time deadline, double heartbeat) {
  auto stopped = [&] { return e.stop.load() || stopping_ || absl::Now() >= deadline; };
  // The token the interpreter put in $$.Task.Token (for callbacks and activities).
  std::string context_token = context.value("Task", Json::object()).value("Token", "");
  if (resource.find(":activity:") != std::string::npos) {
    std::string token = context_token.empty() ? NewUuid() : context_token;
    {
      std::lock_guard lock(mu_);
      tokens_[token].last_heartbeat = absl::Now();
      activities_[resource].emplace_back(token, parameters);
    }
    cv_.notify_all();
    return WaitForToken(e, token, deadline, heartbeat);
  }
  if (resource.starts_with("arn:aws:lambda:")) {
    // A plain function ARN: the integration "lambda" runs it with the effective input.
    auto it = integrations_.find("lambda");
    if (it == integrations_.end()) return states::StatesError("States.TaskFailed", "Sluice has no Lambda service");
    TaskAttachment attachment;
    return it->second("function", "", Json{{"FunctionName", resource}, {"Payload", parameters}}, deadline, stopped, attachment);
  }
  constexpr std::string_view kPrefix = "arn:aws:states:::";
  if (!resource.starts_with(kPrefix)) {
    return states::StatesError("States.Runtime", StrCat("Unsupported Task resource ", resource));
  }
  std::string rest = resource.substr(kPrefix.size());
  std::string service = rest.substr(0, rest.find(':'));
  std::string action = rest.find(':') == std::string::npos ? "" : rest.substr(rest.find(':') + 1);
  std::string mode;
  for (const char* m : {".sync:2", ".sync", ".waitForTaskToken"}) {
    if (action.ends_with(m)) {
      mode = std::string(m + 1);
      action.resize(action.size() - strlen(m));
      break;
    }
  }
  std::string token;
  Json params = parameters;
  if (mode == "waitForTaskToken") {
    token = context_token.empty() ? NewUuid() : context_token;
    std::lock_guard lock(mu_);
    tokens_[token].last_heartbeat = absl::Now();
  }
  absl::StatusOr<Json> result;
  if (service == "aws-sdk") {
    std::string svc = action.substr(0, action.find(':'));
    std::string op = action.substr(action.find(':') + 1);
    if (!op.empty()) op[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(op[0])));
    auto it = sdk_.find(svc);
    if (it == sdk_.end()) {
      result = states::StatesError("States.TaskFailed", StrCat("Sluice has no ", svc, " service for aws-sdk tasks yet"));
    } else {
      result = it->second(op, params);
    }
  } else if (service == "states" && action == "startExecution") {
    Json in = {{"stateMachineArn", params.value("StateMachineArn", "")}};
    if (params.contains("Input")) in["input"] = params["Input"].is_string() ? params["Input"].get<std::string>() : params["Input"].dump();
    if (params.contains("Name")) in["name"] = params["Name"];
    auto started = StartExecution(in, false);
    if (!started.ok()) {
      result = states::StatesError(StrCat("StepFunctions.", StatesErrorCode(started.status())), std::string(started.status().message()));
    } else if (!mode.starts_with("sync")) {
      result = Json{{"ExecutionArn", (*started)["executionArn"]}, {"StartDate", (*started)["startDate"]}};
    } else {
      std::string arn = (*started)["executionArn"];
      for (;;) {
        auto d = DescribeExecution({{"executionArn", arn}});
        if (d.ok() && Terminal(d->value("status", "RUNNING"))) {
          Json out = {{"ExecutionArn", arn}, {"StateMachineArn", (*d)["stateMachineArn"]}, {"Name", (*d)["name"]},
                      {"Status", (*d)["status"]}, {"StartDate", (*d)["startDate"]}, {"StopDate", (*d)["stopDate"]},
                      {"Input", (*d)["input"]}};
          if (d->contains("output")) {
            out["Output"] = mode == "sync:2" ? ParseJson((*d)["output"].get<std::string>()) : (*d)["output"];
          }
          if (d->value("status", "") != "SUCCEEDED") {
            result = states::StatesError("States.TaskFailed", out.dump());
          } else {
            result = out;
          }
          break;
        }
        if (stopped()) {
          result = absl::Now() >= deadline ? states::StatesError("States.Timeout", "The task timed out")
                                           : absl::CancelledError("The execution was stopped");
          break;
        }
        Sleep(e, absl::Now() + absl::Milliseconds(100));
      }
    }
  } else {
    auto it = integrations_.find(service);
    if (it == integrations_.end()) {
      result = states::StatesError("States.TaskFailed",
                                   StrCat("Sluice has no ", service, " service yet, so ", resource, " tasks cannot run"));
    } else {
      // Only a top-level Task (the checkpointed state) keeps what it started: inner tasks of a
      // Parallel or Map run again with their state when it resumes.
      std::string state_name = context.value("State", Json::object()).value("Name", "");
      TaskAttachment attachment;
      attachment.persist = [&] {
        if (!e.durable) return;
        Json doc;
        {
          std::lock_guard lock(mu_);
          if (!e.doc.contains("sluice:checkpoint") || e.doc["sluice:checkpoint"].value("state", "") != state_name) return;
          e.doc["sluice:checkpoint"]["task"] = attachment.state;
          doc = e.doc;
        }
        (void)Save("execution", e.arn, doc);
      };
      {
        std::lock_guard lock(mu_);
        if (!e.resume_task.empty() && e.doc.value("sluice:checkpoint", Json::object()).value("state", "") == state_name) {
          attachment.state = std::exchange(e.resume_task, Json::object());
        }
      }
      result = it->second(action, mode == "waitForTaskToken" ? "" : mode, params, deadline, stopped, attachment);
    }
  }
  if (!result.ok() || token.empty()) {
    if (!token.empty()) {
      std::lock_guard lock(mu_);
      tokens_.erase(token);
    }
    return result;
  }
  return WaitForToken(e, token, deadline, heartbeat);
}

absl::StatusOr<Json> StepFunctions::TaskResponse(const std::string& action, const Json& in) {
  std::string token = in.value("taskToken", "");
  std::unique_lock lock(mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return Missing("TaskDoesNotExist", "Task Timed Out: 'Provided task does not exist anymore'");
  if (action == "SendTaskHeartbeat") {
    it->second.last_heartbeat = absl::Now();
  } else if (action == "SendTaskSuccess") {
    Json output = ParseJson(in.value("output", ""));
    if (output.is_discarded()) return Invalid("InvalidOutput", "Invalid Output: the output is not valid JSON");
    it->second.result = output;
  } else {
    it->second.result = states::StatesError(in.value("error", ""), in.value("cause", ""));
  }
  lock.unlock();
  cv_.notify_all();
  return Json::object();
}

absl::StatusOr<Json> StepFunctions::Activity(const std::string& action, const Json& in) {
  auto arn_of = [&](const std::string& name) {
    return StrCat("arn:aws:states:", options_.region, ":", options_.account, ":activity:", name);
  };
  if (action == "CreateActivity") {
    std::string name = in.value("name", "");
    RETURN_IF_ERROR(CheckName(name));
    auto existing = Load("activity", name);
    if (existing.ok()) return Json{{"activityArn", (*existing)["activityArn"]}, {"creationDate", (*existing)["creationDate"]}};
    Json a = {{"activityArn", arn_of(name)}, {"name", name}, {"creationDate", EpochSeconds(absl::Now())}};
    RETURN_IF_ERROR(Save("activity", name, a));
    return Json{{"activityArn", a["activityArn"]}, {"creationDate", a["creationDate"]}};
  }
  if (action == "ListActivities") {
    ASSIGN_OR_RETURN(auto all, LoadAll("activity"));
    return Page(std::move(all), in, "activities", 100);
  }
  std::string arn = in.value("activityArn", "");
  auto a = Load("activity", arn.substr(arn.rfind(':') + 1));
  if (!a.ok()) return Missing("ActivityDoesNotExist", StrCat("Activity Does Not Exist: '", arn, "'"));
  if (action == "DescribeActivity") return *a;
  if (action == "DeleteActivity") {
    RETURN_IF_ERROR(writer_->Write([&](SqliteDb& db) -> absl::Status {
      ASSIGN_OR_RETURN(auto* s, db.Prepare("DELETE FROM documents WHERE kind='activity' AND name=?"));
      return s->Bind(1, a->value("name", "")).Run();
    }));
    return Json::object();
  }
  if (action == "GetActivityTask") {
    // Long poll, as AWS does (up to 60 s): an empty answer when nothing comes.
    std::unique_lock lock(mu_);
    absl::Time until = absl::Now() + absl::Seconds(60);
    while (!stopping_ && absl::Now() < until) {
      auto& queue = activities_[arn];
      if (!queue.empty()) {
        auto [token, input] = queue.front();
        queue.erase(queue.begin());
        return Json{{"taskToken", token}, {"input", input.dump()}};
      }
      cv_.wait_for(lock, std::chrono::milliseconds(200));
    }
    return Json::object();
  }
  return ApiError(absl::StatusCode::kUnimplemented, "UnknownOperationException", StrCat("Unknown action ", action));
}

absl::StatusOr<Json> StepFunctions::DescribeExecution(const Json& in) {
  std::string arn = in.value("executionArn", "");
  {
    std::lock_guard lock(mu_);
    auto r = running_.find(arn);
    if (r != running_.end()) {
      Json d = r->second->doc;
      d.erase("sluice:checkpoint");
      return d;
    }
    auto x = express_.find(arn);
    if (x != express_.end()) return x->second;
  }
  if (!arn.starts_with("arn:aws:states:")) return Invalid("InvalidArn", StrCat("Invalid Arn: '", arn, "'"));
  auto d = Load("execution", arn);
  if (!d.ok()) return Missing("ExecutionDoesNotExist", StrCat("Execution Does Not Exist: '", arn, "'"));
  d->erase("sluice:checkpoint");
  return d;
}

absl::StatusOr<Json> StepFunctions::ListExecutions(const Json& in) {
  ASSIGN_OR_RETURN(Json m, MachineByArn(in.value("stateMachineArn", "")));
  ASSIGN_OR_RETURN(auto all, LoadAll("execution"));
  std::string filter = in.value("statusFilter", "");
  std::vector<Json> items;
  for (auto& d : all) {
    if (d.value("stateMachineArn", "") != m["stateMachineArn"]) continue;
    {
      std::lock_guard lock(mu_);
      auto r = running_.find(d.value("executionArn", ""));
      if (r != running_.end()) d = r->second->doc;
    }
    if (!filter.empty() && d.value("status", "") != filter) continue;
    Json item = {{"executionArn", d["executionArn"]}, {"stateMachineArn", d["stateMachineArn"]}, {"name", d["name"]},
                 {"status", d["status"]}, {"startDate", d["startDate"]}};
    if (d.contains("stopDate")) item["stopDate"] = d["stopDate"];
    items.push_back(item);
  }
  std::sort(items.begin(), items.end(), [](const Json& a, const Json& b) {
    return a.value("startDate", 0.0) > b.value("startDate", 0.0);
  });
  return Page(std::move(items), in, "executions", 100);
}

absl::StatusOr<Json> StepFunctions::History(const Json& in) {
  ASSIGN_OR_RETURN(Json d, DescribeExecution(in));
  std::string arn = d["executionArn"];
  std::vector<Json> events;
  {
    std::lock_guard lock(mu_);
    auto r = running_.find(arn);
    if (r != running_.end()) events = r->second->events;
  }
  if (events.empty()) {
    RETURN_IF_ERROR(readers_->With([&](SqliteDb& db) -> absl::Status {
      ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT event FROM events WHERE arn=? ORDER BY id"));
      s->Bind(1, arn);
      for (;;) {
        ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        events.push_back(ParseJson(s->Text(0), kMaxStoredJsonDepth));
      }
      return absl::OkStatus();
    }));
  }
  if (in.value("reverseOrder", false)) std::reverse(events.begin(), events.end());
  return Page(std::move(events), in, "events", 1000);
}

absl::StatusOr<Json> StepFunctions::StopExecution(const Json& in) {
  std::string arn = in.value("executionArn", "");
  std::shared_ptr<Execution> e;
  {
    std::lock_guard lock(mu_);
    auto r = running_.find(arn);
    if (r != running_.end()) e = r->second;
  }
  if (!e) {
    RETURN_IF_ERROR(DescribeExecution(in).status());
    return Json{{"stopDate", EpochSeconds(absl::Now())}};  // already finished: nothing to stop
  }
  {
    std::lock_guard lock(mu_);
    if (in.contains("error")) e->doc["error"] = in["error"];
    if (in.contains("cause")) e->doc["cause"] = in["cause"];
    e->stop = true;
  }
  cv_.notify_all();
  // Wait (briefly) for the execution to record its end, so Describe right after says ABORTED.
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::seconds(5), [&] { return !running_.contains(arn); });
  return Json{{"stopDate", EpochSeconds(absl::Now())}};
}

ServiceRoute MakeStatesService(StepFunctions& sfn) {
  JsonServiceSpec spec;
  spec.signing_name = "states";
  spec.target_prefix = "AWSStepFunctions";
  spec.content_type = "application/x-amz-json-1.0";
  spec.dispatch = [&sfn](const std::string& action, const Json& in, const HttpRequest&) {
    auto out = sfn.Call(action, in);
    if (out.ok()) {
      JsonReply r;
      r.body = std::move(*out);
      return r;
    }
    std::string code = StatesErrorCode(out.status());
    return JsonReply::Error(code == "InternalServerError" ? 500 : 400, code, std::string(out.status().message()));
  };
  return MakeJsonService(std::move(spec));
}

}  // namespace sluice
