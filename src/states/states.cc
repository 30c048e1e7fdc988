#include "states/states.h"

#include <random>
#include <utility>

#include "absl/strings/cord.h"
#include "spdlog/spdlog.h"
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

// Characters, not bytes (AWS's lengths count characters).
size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

absl::Status CheckName(const std::string& name) {
  // AWS: 1..80 characters; no whitespace, brackets, wildcards, punctuation that ARNs use, or
  // control characters (U+0000-U+001F, U+007F-U+009F).
  bool bad = name.empty() || Utf8Length(name) > 80;
  for (size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    bad |= c <= 0x20 || c == 0x7f || std::string_view("<>{}[]?*\"#%\\^|~`$&,;:/").find(static_cast<char>(c)) != std::string_view::npos;
    bad |= c == 0xC2 && i + 1 < name.size() && static_cast<unsigned char>(name[i + 1]) >= 0x80 &&
           static_cast<unsigned char>(name[i + 1]) <= 0x9F;
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

// AWS's documented limits (botocore's model and the Step Functions quotas page).
constexpr size_t kMaxDefinitionBytes = 1048576;  // a state machine definition: 1 MB
constexpr size_t kMaxPayloadBytes = 262144;      // execution input/output, task output: 256 KiB (UTF-8)
constexpr size_t kMaxTaskTokenChars = 1024;
constexpr size_t kMaxTags = 50, kMaxTagKeyChars = 128, kMaxTagValueChars = 256;
constexpr size_t kMaxErrorChars = 256, kMaxCauseChars = 32768;
constexpr int64_t kMaxHistoryEvents = 25000;

// A Coral-style length violation, as AWS's front end words it.
absl::Status LengthError(const std::string& field, size_t max) {
  return Invalid("ValidationException", StrCat("1 validation error detected: Value at '", field,
                                               "' failed to satisfy constraint: Member must have length less than "
                                               "or equal to ", max));
}

// The first string in `v` (outside nested machines) holding a JSONata expression "{% ... %}":
// its field path inside the state, or "".
std::string JsonataField(const Json& v, const std::string& at) {
  if (v.is_string()) {
    std::string_view s = StripWhitespace(v.get_ref<const std::string&>());
    return s.starts_with("{%") && s.ends_with("%}") ? at : "";
  }
  if (v.is_object()) {
    for (const auto& [k, x] : v.items()) {
      if (at.empty() && (k == "Branches" || k == "ItemProcessor" || k == "Iterator")) continue;
      std::string f = JsonataField(x, at.empty() ? k : StrCat(at, ".", k));
      if (!f.empty()) return f;
    }
  }
  if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) {
      std::string f = JsonataField(v[i], StrCat(at, "[", i, "]"));
      if (!f.empty()) return f;
    }
  }
  return "";
}

// Sluice evaluates JSONPath only: the first state (in a machine, its Parallel branches and Map
// processors) that uses JSONata, described for a NotImplemented message; "" when none does.
std::string JsonataUse(const Json& machine, bool jsonata) {
  if (!machine.is_object()) return "";
  if (machine.contains("QueryLanguage") && machine["QueryLanguage"].is_string()) {
    jsonata = machine["QueryLanguage"] == "JSONata";
  }
  if (!machine.contains("States") || !machine["States"].is_object()) return "";
  for (const auto& [name, state] : machine["States"].items()) {
    if (!state.is_object()) continue;
    bool state_jsonata = jsonata;
    if (state.contains("QueryLanguage") && state["QueryLanguage"].is_string()) state_jsonata = state["QueryLanguage"] == "JSONata";
    if (state_jsonata) {
      std::string field = JsonataField(state, "");
      return field.empty() ? StrCat("state '", name, "' uses QueryLanguage JSONata")
                           : StrCat("field '", field, "' of state '", name, "' is a JSONata expression");
    }
    for (const char* k : {"ItemProcessor", "Iterator"}) {
      if (state.contains(k)) {
        std::string use = JsonataUse(state[k], jsonata);
        if (!use.empty()) return use;
      }
    }
    if (state.contains("Branches") && state["Branches"].is_array()) {
      for (const auto& b : state["Branches"]) {
        std::string use = JsonataUse(b, jsonata);
        if (!use.empty()) return use;
      }
    }
  }
  return "";
}

absl::Status JsonataNotSupported(const std::string& use) {
  return ApiError(absl::StatusCode::kUnimplemented, "NotImplemented",
                  StrCat("Sluice does not support JSONata yet (", use,
                         "); write the state machine with QueryLanguage JSONPath"));
}

// Checks a definition's size, its validity and that Sluice can run it (CreateStateMachine,
// UpdateStateMachine); ValidateStateMachineDefinition shares the size and JSONata checks.
absl::Status CheckRunnable(const std::string& definition) {
  if (definition.size() > kMaxDefinitionBytes) return LengthError("definition", kMaxDefinitionBytes);
  Json parsed = ParseJson(definition, kMaxStoredJsonDepth);
  if (parsed.is_discarded()) return absl::OkStatus();  // validation says why
  std::string use = JsonataUse(parsed, false);
  if (!use.empty()) return JsonataNotSupported(use);
  return absl::OkStatus();
}

absl::Status CheckTags(const Json& in) {
  if (!in.contains("tags")) return absl::OkStatus();
  const Json& tags = in["tags"];
  if (!tags.is_array()) return Invalid("ValidationException", "tags must be a list");
  if (tags.size() > kMaxTags) {
    return Invalid("TooManyTags", StrCat("Too many tags: a resource can have at most ", kMaxTags, " tags"));
  }
  for (size_t i = 0; i < tags.size(); ++i) {
    const Json& t = tags[i];
    std::string key = t.is_object() && t.contains("key") && t["key"].is_string() ? t["key"].get<std::string>() : "";
    std::string value = t.is_object() && t.contains("value") && t["value"].is_string() ? t["value"].get<std::string>() : "";
    if (key.empty()) return Invalid("ValidationException", StrCat("1 validation error detected: Value at 'tags.", i + 1, ".member.key' failed to satisfy constraint: Member must have length greater than or equal to 1"));
    if (Utf8Length(key) > kMaxTagKeyChars) return LengthError(StrCat("tags.", i + 1, ".member.key"), kMaxTagKeyChars);
    if (Utf8Length(value) > kMaxTagValueChars) return LengthError(StrCat("tags.", i + 1, ".member.value"), kMaxTagValueChars);
  }
  return absl::OkStatus();
}

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
  std::atomic<bool> stop{false};          // StopExecution (or a full history) ends the run
  std::atomic<bool> history_full{false};  // a non-final event would have been the 25,000th
  std::optional<absl::Time> resume_entered;  // the checkpointed state's entered time, on resume
  Json resume_task = Json::object();         // what the checkpointed task had started, on resume
  std::string resume_token;                  // the checkpointed task's token, on resume
  Json resume_callback;                      // the callback it had been sent (null: none), on resume
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
    return s->Bind(1, kind).Bind(2, name).Bind(3, doc.dump(-1, ' ', false, Json::error_handler_t::replace)).Run();
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
    std::string definition = in.value("definition", "");
    if (definition.size() > kMaxDefinitionBytes) return LengthError("definition", kMaxDefinitionBytes);
    auto diagnostics = states::ValidateDefinition(definition);
    Json list = Json::array();
    bool failed = false;
    for (const auto& d : diagnostics) {
      failed |= d.severity == "ERROR";
      list.push_back({{"severity", d.severity}, {"code", d.code}, {"message", d.message}, {"location", d.location}});
    }
    // A valid JSONata machine is one Sluice cannot run yet: say so rather than "OK".
    if (!failed) RETURN_IF_ERROR(CheckRunnable(definition));
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
  if (definition.size() > kMaxDefinitionBytes) return LengthError("definition", kMaxDefinitionBytes);
  RETURN_IF_ERROR(CheckTags(in));
  auto diagnostics = states::ValidateDefinition(definition);
  std::vector<states::Diagnostic> errors;
  for (const auto& d : diagnostics) {
    if (d.severity == "ERROR") errors.push_back(d);
  }
  if (!errors.empty()) return Invalid("InvalidDefinition", states::InvalidDefinitionMessage(errors));
  RETURN_IF_ERROR(CheckRunnable(definition));
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
    std::string definition = in.value("definition", "");
    if (definition.size() > kMaxDefinitionBytes) return LengthError("definition", kMaxDefinitionBytes);
    std::vector<states::Diagnostic> errors;
    for (const auto& d : states::ValidateDefinition(definition)) {
      if (d.severity == "ERROR") errors.push_back(d);
    }
    if (!errors.empty()) return Invalid("InvalidDefinition", states::InvalidDefinitionMessage(errors));
    RETURN_IF_ERROR(CheckRunnable(definition));
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
  // 256 KiB as UTF-8 (the quotas page), checked before the text is parsed.
  if (input_text.size() > kMaxPayloadBytes) return LengthError("input", kMaxPayloadBytes);
  JsonParseError parse_error = JsonParseError::kNone;
  Json input = ParseJson(input_text, &parse_error);
  if (input.is_discarded()) {
    std::string shown = input_text.size() > 200 ? input_text.substr(0, 200) + "..." : input_text;
    return Invalid("InvalidExecutionInput",
                   parse_error == JsonParseError::kTooDeep
                       ? StrCat("Invalid State Machine Execution Input: the input nests deeper than ", kMaxJsonDepth, " levels")
                       : StrCat("Invalid State Machine Execution Input: '", shown, "'"));
  }
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
  if (definition.contains("TimeoutSeconds") && definition["TimeoutSeconds"].is_number()) {
    e->deadline = now + absl::Seconds(definition["TimeoutSeconds"].get<double>());
  }
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
  std::vector<std::pair<std::string, Json>> all;
  RETURN_IF_ERROR(readers_->With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT name, doc FROM documents WHERE kind='execution' ORDER BY name"));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      all.emplace_back(s->Text(0), ParseJson(s->Text(1), kMaxStoredJsonDepth));
    }
    return absl::OkStatus();
  }));
  for (auto& [arn, doc] : all) {
    if (!doc.is_object()) {
      // A row this build cannot read: keep what its ARN says and fail it.
      std::string rest = arn.substr(arn.find(":execution:") == std::string::npos ? arn.size() : arn.find(":execution:") + 11);
      std::string machine = rest.substr(0, rest.find(':'));
      doc = {{"executionArn", arn}, {"name", rest.substr(rest.find(':') == std::string::npos ? 0 : rest.find(':') + 1)},
             {"stateMachineArn", MachineArn(machine)}, {"status", "RUNNING"}, {"startDate", EpochSeconds(absl::Now())},
             {"input", "{}"}, {"inputDetails", {{"included", true}}}};
      spdlog::error("states: the stored execution {} cannot be read; failing it", arn);
      FailStored(doc, "The stored execution cannot be read");
      continue;
    }
    if (doc.value("status", "") != "RUNNING") continue;
    // An execution that cannot be resumed is failed with the reason, never retried at every
    // start (a crash loop) and never left RUNNING.
    std::string why;
    try {
      why = ResumeOne(doc);
    } catch (const std::exception& ex) {
      why = StrCat("Internal error while resuming the execution: ", ex.what());
    } catch (...) {
      why = "Internal error while resuming the execution";
    }
    if (!why.empty()) {
      spdlog::error("states: cannot resume {}: {}", doc.value("executionArn", ""), why);
      FailStored(doc, why);
    }
  }
  return absl::OkStatus();
}

void StepFunctions::FailStored(Json doc, const std::string& cause) {
  try {
    auto e = std::make_shared<Execution>();
    e->arn = doc.value("executionArn", "");
    if (e->arn.empty()) return;
    (void)readers_->With([&](SqliteDb& db) -> absl::Status {
      ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT count(*) FROM events WHERE arn=?"));
      s->Bind(1, e->arn);
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (row) e->events.resize(static_cast<size_t>(s->Int(0)));
      s->Reset();
      return absl::OkStatus();
    });
    AddEvent(*e, "ExecutionFailed", {{"error", "States.Runtime"}, {"cause", cause}});
    doc["status"] = "FAILED";
    doc["error"] = "States.Runtime";
    doc["cause"] = cause;
    doc["stopDate"] = EpochSeconds(absl::Now());
    doc.erase("sluice:checkpoint");
    (void)Save("execution", e->arn, doc);
  } catch (...) {
    spdlog::error("states: cannot record the failure of {}", doc.value("executionArn", ""));
  }
}

std::string StepFunctions::ResumeOne(const Json& doc) {
  auto m = Load("machine", doc.value("stateMachineArn", "").substr(doc.value("stateMachineArn", "").rfind(':') + 1));
  if (!m.ok() || !m->is_object()) return "The state machine of the execution no longer exists";
  auto e = std::make_shared<Execution>();
  e->arn = doc["executionArn"];
  e->name = doc["name"];
  e->machine_arn = doc["stateMachineArn"];
  e->machine_name = (*m)["name"];
  e->definition = ParseJson(m->value("definition", "{}"), kMaxStoredJsonDepth);
  if (e->definition.is_discarded()) return "The state machine definition cannot be read";
  if (e->definition.contains("TimeoutSeconds") && e->definition["TimeoutSeconds"].is_number()) {
    e->deadline = absl::FromUnixMillis(static_cast<int64_t>(doc.value("startDate", 0.0) * 1000)) +
                  absl::Seconds(e->definition["TimeoutSeconds"].get<double>());
  }
  // The events written so far stay; new ones continue their numbering.
  absl::Status read = readers_->With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT event FROM events WHERE arn=? ORDER BY id"));
    s->Bind(1, e->arn);
    for (;;) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      e->events.push_back(ParseJson(s->Text(0), kMaxStoredJsonDepth));
    }
    return absl::OkStatus();
  });
  if (!read.ok()) return StrCat("The execution history cannot be read: ", read.message());
  for (const auto& ev : e->events) {
    if (!ev.is_object()) return "The execution history cannot be read";
  }
  Json checkpoint = doc.value("sluice:checkpoint", Json::object());
  if (!checkpoint.is_object()) return "The execution checkpoint cannot be read";
  std::string start_at = checkpoint.value("state", "");
  Json input = checkpoint.contains("input") ? checkpoint["input"] : ParseJson(doc.value("input", "{}"));
  if (input.is_discarded()) return "The execution input cannot be read";
  if (checkpoint.contains("entered_ms")) e->resume_entered = absl::FromUnixMillis(checkpoint["entered_ms"].get<int64_t>());
  if (checkpoint.contains("task")) e->resume_task = checkpoint["task"];
  if (checkpoint.contains("token")) e->resume_token = checkpoint["token"].get<std::string>();
  if (checkpoint.contains("callback")) e->resume_callback = checkpoint["callback"];
  e->doc = doc;
  std::lock_guard lock(mu_);
  if (!e->resume_token.empty()) {
    // The task's token is valid again at once (a worker may answer before the execution gets
    // back to the task); an answer acknowledged before the restart is applied.
    TokenWait& w = tokens_[e->resume_token];
    w.last_heartbeat = absl::Now();
    w.execution = e->arn;
    if (e->resume_callback.is_object()) {
      if (e->resume_callback.contains("output")) {
        w.result = e->resume_callback["output"];
      } else {
        w.result = states::StatesError(e->resume_callback.value("error", ""), e->resume_callback.value("cause", ""));
      }
    }
  }
  running_[e->arn] = e;
  threads_[e->arn] = std::thread(&StepFunctions::Run, this, e, start_at, input);
  return "";
}

void StepFunctions::AddEvent(Execution& e, const std::string& type, Json details) {
  int64_t id;
  Json event;
  bool full = false;
  {
    // Events of an execution may come from Parallel/Map threads; the commit happens outside
    // the lock, so the writer groups the events of all executions into one transaction.
    std::lock_guard lock(e.events_mu);
    id = static_cast<int64_t>(e.events.size()) + 1;
    // AWS's hard quota: event 25,000 is the execution's last (ExecutionSucceeded, or
    // ExecutionFailed because the history is full).
    bool final = type == "ExecutionSucceeded" || type == "ExecutionFailed" || type == "ExecutionAborted" ||
                 type == "ExecutionTimedOut";
    if (!final && id >= kMaxHistoryEvents) full = !e.history_full.exchange(true);
    if (!final && id >= kMaxHistoryEvents && !full) return;
    event = {{"timestamp", EpochSeconds(absl::Now())}, {"type", type}, {"id", id}, {"previousEventId", id - 1}};
    if (!full) {
      if (!details.empty()) event[DetailsKey(type)] = std::move(details);
      e.events.push_back(event);
    }
  }
  if (full) {
    // The run ends at its next step (as StopExecution ends it); Run() records the failure.
    {
      std::lock_guard lock(mu_);
      e.stop = true;
    }
    cv_.notify_all();
    return;
  }
  if (!e.durable) return;
  (void)writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("INSERT OR REPLACE INTO events(arn, id, event) VALUES(?,?,?)"));
    return s->Bind(1, e.arn).Bind(2, id).Bind(3, event.dump(-1, ' ', false, Json::error_handler_t::replace)).Run();
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
  std::atomic<bool> skip_reentry = false;  // events come from Parallel / Map threads too
  if (!start_at.empty() && !e->events.empty()) {
    const Json& last = e->events.back();
    skip_reentry = last.value("type", "").ends_with("StateEntered") &&
                   last.value("stateEnteredEventDetails", Json::object()).value("name", "") == start_at;
  }
  hooks.event = [&](const std::string& type, Json details) {
    if (skip_reentry.exchange(false)) {
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
      e->resume_token.clear();
      e->resume_callback = nullptr;
    }
    first_state = false;
    if (!e->durable) return;
    Json doc;
    {
      std::lock_guard lock(mu_);
      Json checkpoint = {{"state", state}, {"input", data}, {"entered_ms", absl::ToUnixMillis(entered)}};
      if (!e->resume_task.empty()) checkpoint["task"] = e->resume_task;  // still waiting for that job
      if (!e->resume_token.empty()) checkpoint["token"] = e->resume_token;  // still waiting for that callback
      if (!e->resume_callback.is_null()) checkpoint["callback"] = e->resume_callback;
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
  hooks.new_token = [&] {
    // The checkpointed task of a resumed run keeps its token (workers may hold it).
    std::lock_guard lock(mu_);
    if (!e->resume_token.empty()) return std::exchange(e->resume_token, std::string());
    return NewUuid() + NewUuid();
  };
  Json context = {{"Execution", {{"Id", e->arn}, {"Name", e->name}, {"StartTime", Iso(absl::FromUnixMillis(static_cast<int64_t>(e->doc.value("startDate", 0.0) * 1000)))},
                                 {"Input", ParseJson(e->doc.value("input", "{}"))},
                                 {"RoleArn", ""}}},
                  {"StateMachine", {{"Id", e->machine_arn}, {"Name", e->machine_name}}}};
  absl::StatusOr<Json> out;
  std::string jsonata = JsonataUse(e->definition, false);
  if (!e->definition.is_object() || !e->definition.contains("States")) {
    // A stored machine whose definition no longer parses (written by another build).
    out = states::StatesError("States.Runtime", "The state machine definition cannot be read");
  } else if (!jsonata.empty()) {
    // A machine stored by an older build that accepted JSONata: fail, do not guess.
    out = states::StatesError("States.Runtime", StrCat("Sluice does not support JSONata yet (", jsonata, ")"));
  } else {
    try {
      states::Interpreter interpreter(e->definition, hooks);
      out = interpreter.Run(input, context, start_at);
    } catch (const std::exception& ex) {
      // Last resort: a bug fails this one execution, never the server (or its restarts).
      spdlog::error("states: execution {} failed with an unexpected exception: {}", e->arn, ex.what());
      out = states::StatesError("States.Runtime", StrCat("Internal error while running the execution: ", ex.what()));
    } catch (...) {
      spdlog::error("states: execution {} failed with an unexpected exception", e->arn);
      out = states::StatesError("States.Runtime", "Internal error while running the execution");
    }
  }
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
    if (e->history_full) {
      e->doc["status"] = "FAILED";
      e->doc["error"] = "States.Runtime";
      e->doc["cause"] = StrCat("The execution reached the maximum number of history events (", kMaxHistoryEvents, ").");
      type = "ExecutionFailed";
      details = {{"error", e->doc["error"]}, {"cause", e->doc["cause"]}};
    } else if (out.ok()) {
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

bool StepFunctions::RegisterToken(Execution& e, const std::string& token, const std::string& state_name) {
  Json doc;
  {
    std::lock_guard lock(mu_);
    TokenWait& w = tokens_[token];
    w.last_heartbeat = absl::Now();
    w.execution = e.arn;
    if (w.result) return false;
    // The token of the checkpointed (top-level) task is made durable before anyone can see
    // it, so a callback for it can be acknowledged durably and survives a restart.
    if (!e.durable || !e.doc.contains("sluice:checkpoint")) return true;
    Json& checkpoint = e.doc["sluice:checkpoint"];
    if (checkpoint.value("state", "") != state_name || checkpoint.value("token", "") == token) return true;
    checkpoint["token"] = token;
    checkpoint.erase("callback");
    doc = e.doc;
  }
  (void)Save("execution", e.arn, doc);
  return true;
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
  std::string state_name = context.value("State", Json::object()).value("Name", "");
  if (resource.find(":activity:") != std::string::npos) {
    std::string token = context_token.empty() ? NewUuid() : context_token;
    if (RegisterToken(e, token, state_name)) {
      std::lock_guard lock(mu_);
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
    // Answered before a restart: the answer stands, the task is not sent again.
    if (!RegisterToken(e, token, state_name)) return WaitForToken(e, token, deadline, heartbeat);
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
    if (params.contains("Input")) in["input"] = params["Input"].is_string() ? params["Input"].get<std::string>() : params["Input"].dump(-1, ' ', false, Json::error_handler_t::replace);
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
            result = states::StatesError("States.TaskFailed", out.dump(-1, ' ', false, Json::error_handler_t::replace));
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
  if (token.empty() || Utf8Length(token) > kMaxTaskTokenChars) {
    return Invalid("InvalidToken", StrCat("Invalid Token: a task token is 1 to ", kMaxTaskTokenChars, " characters"));
  }
  Json callback;  // {"output": ...} or {"error": ..., "cause": ...}
  if (action == "SendTaskSuccess") {
    std::string text = in.value("output", "");
    if (text.size() > kMaxPayloadBytes) return LengthError("output", kMaxPayloadBytes);
    Json output = ParseJson(text);
    if (output.is_discarded()) return Invalid("InvalidOutput", "Invalid Output: the output is not valid JSON");
    callback = {{"output", std::move(output)}};
  } else if (action == "SendTaskFailure") {
    std::string error = in.value("error", ""), cause = in.value("cause", "");
    if (Utf8Length(error) > kMaxErrorChars) return LengthError("error", kMaxErrorChars);
    if (Utf8Length(cause) > kMaxCauseChars) return LengthError("cause", kMaxCauseChars);
    callback = {{"error", error}, {"cause", cause}};
  }
  auto gone = [] { return Missing("TaskDoesNotExist", "Task Timed Out: 'Provided task does not exist anymore'"); };
  std::unique_lock lock(mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end() || it->second.result) return gone();
  if (action == "SendTaskHeartbeat") {
    it->second.last_heartbeat = absl::Now();
    return Json::object();
  }
  // The answer to a checkpointed task is durable before it is acknowledged: written into the
  // execution's checkpoint, so after a crash the task ends with it instead of running again.
  auto r = running_.find(it->second.execution);
  if (r != running_.end() && r->second->durable) {
    Execution& e = *r->second;
    Json& checkpoint = e.doc["sluice:checkpoint"];
    if (checkpoint.is_object() && checkpoint.value("token", "") == token) {
      checkpoint["callback"] = callback;
      Json doc = e.doc;
      std::string arn = e.arn;
      lock.unlock();
      RETURN_IF_ERROR(Save("execution", arn, doc));
      lock.lock();
      it = tokens_.find(token);
      if (it == tokens_.end() || it->second.result) return gone();  // timed out meanwhile
    }
  }
  if (callback.contains("output")) {
    it->second.result = callback["output"];
  } else {
    it->second.result = states::StatesError(callback.value("error", ""), callback.value("cause", ""));
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
        return Json{{"taskToken", token}, {"input", input.dump(-1, ' ', false, Json::error_handler_t::replace)}};
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
    absl::StatusOr<Json> out;
    try {
      out = sfn.Call(action, in);
    } catch (const std::exception& ex) {
      // Last resort: a bug must fail this one request, never the server.
      spdlog::error("states: {} failed with an unexpected exception: {}", action, ex.what());
      return JsonReply::Error(500, "InternalServerError", StrCat("Internal error in ", action, ": ", ex.what()));
    } catch (...) {
      spdlog::error("states: {} failed with an unexpected exception", action);
      return JsonReply::Error(500, "InternalServerError", StrCat("Internal error in ", action));
    }
    if (out.ok()) {
      JsonReply r;
      r.body = std::move(*out);
      return r;
    }
    std::string code = StatesErrorCode(out.status());
    int http = code == "InternalServerError"                   ? 500
               : absl::IsUnimplemented(out.status())           ? 501
               : absl::IsUnavailable(out.status())             ? 503
                                                               : 400;
    return JsonReply::Error(http, code, std::string(out.status().message()));
  };
  return MakeJsonService(std::move(spec));
}

}  // namespace sluice
