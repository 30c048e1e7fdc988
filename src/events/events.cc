#include "events/events.h"

#include <random>
#include <regex>

#include "absl/strings/cord.h"
#include "base/json.h"
#include "base/ids.h"
#include "base/strings.h"
#include "spdlog/spdlog.h"
#include "base/time.h"
#include "base/time.h"
#include "events/transform.h"
#include "io/file.h"

namespace sluice {
namespace {

constexpr const char kCodePayload[] = "sluice.events/code";
constexpr size_t kMaxTargetsPerRule = 5;
constexpr size_t kMaxEntrySize = 256 * 1024;

absl::Status Error(absl::StatusCode code, const std::string& aws_code, const std::string& message) {
  absl::Status st(code, message);
  st.SetPayload(kCodePayload, absl::Cord(aws_code));
  return st;
}
absl::Status NotFound(const std::string& message) {
  return Error(absl::StatusCode::kNotFound, "ResourceNotFoundException", message);
}
absl::Status Invalid(const std::string& message) {
  return Error(absl::StatusCode::kInvalidArgument, "ValidationException", message);
}
absl::Status Exists(const std::string& message) {
  return Error(absl::StatusCode::kAlreadyExists, "ResourceAlreadyExistsException", message);
}

std::string EventTime(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

// "name" or an ARN ending in "/name" (event-bus/name, rule/bus/name, archive/name).
std::string NameOf(const std::string& name_or_arn) {
  if (!name_or_arn.starts_with("arn:")) return name_or_arn;
  auto slash = name_or_arn.rfind('/');
  return slash == std::string::npos ? name_or_arn : name_or_arn.substr(slash + 1);
}

absl::Status CheckName(const std::string& what, const std::string& name, size_t max, const char* extra = "") {
  static const std::regex kRule("[\\.\\-_A-Za-z0-9]+");
  bool ok = !name.empty() && name.size() <= max && std::regex_match(name, kRule);
  if (!ok && *extra) {
    static const std::regex kBus("[/\\.\\-_A-Za-z0-9]+");
    ok = !name.empty() && name.size() <= max && std::regex_match(name, kBus);
  }
  if (!ok) {
    return Invalid(StrCat("1 validation error detected: Value '", name, "' at '", what,
                          "' failed to satisfy constraint: Member must satisfy regular expression pattern: ",
                          *extra ? "[/\\.\\-_A-Za-z0-9]+" : "[\\.\\-_A-Za-z0-9]+", " and have length between 1 and ", max));
  }
  return absl::OkStatus();
}

// AWS's model constraints, checked as its request validation does: one ValidationException
// for the request, naming the member ("targets.1.member.input") in AWS's words.
absl::Status LengthError(const std::string& where, const std::string& value, size_t min, size_t max) {
  std::string shown = value.size() > 64 ? value.substr(0, 64) + "..." : value;
  return Invalid(StrCat("1 validation error detected: Value '", shown, "' at '", where,
                        "' failed to satisfy constraint: Member must have length ",
                        value.size() < min ? StrCat("greater than or equal to ", min) : StrCat("less than or equal to ", max)));
}

// `in[key]`, when present, must be a string of min..max characters.
absl::Status CheckLength(const Json& in, const char* key, const std::string& where, size_t min, size_t max) {
  if (!in.is_object() || !in.contains(key)) return absl::OkStatus();
  if (!in[key].is_string()) return Invalid(StrCat("1 validation error detected: Value at '", where, "' must be a string"));
  const std::string& v = in[key].get_ref<const std::string&>();
  if (v.size() < min || v.size() > max) return LengthError(where, v, min, max);
  return absl::OkStatus();
}

// `in[key]`, when present, must be an integer in min..max.
absl::Status CheckRange(const Json& in, const char* key, const std::string& where, int64_t min, int64_t max) {
  if (!in.is_object() || !in.contains(key)) return absl::OkStatus();
  if (!in[key].is_number_integer()) return Invalid(StrCat("1 validation error detected: Value at '", where, "' must be an integer"));
  int64_t v = in[key].get<int64_t>();
  if (v < min || v > max) {
    return Invalid(StrCat("1 validation error detected: Value '", v, "' at '", where,
                          "' failed to satisfy constraint: Member must have value ",
                          v < min ? StrCat("greater than or equal to ", min) : StrCat("less than or equal to ", max)));
  }
  return absl::OkStatus();
}

// Tags as TagResource, PutRule and CreateEventBus take them: keys 1..128 characters
// (not starting with "aws:"), values up to 256, at most 50 on a resource.
constexpr size_t kMaxTags = 50;
absl::Status CheckTags(const Json& tags, const char* where) {
  if (!tags.is_array()) return Invalid(StrCat("1 validation error detected: Value at '", where, "' must be a list"));
  size_t i = 0;
  for (const auto& t : tags) {
    ++i;
    if (!t.is_object() || !t.contains("Key") || !t.contains("Value")) {
      return Invalid(StrCat("1 validation error detected: Value at '", where, ".", i, ".member' must have a Key and a Value"));
    }
    RETURN_IF_ERROR(CheckLength(t, "Key", StrCat(where, ".", i, ".member.key"), 1, 128));
    RETURN_IF_ERROR(CheckLength(t, "Value", StrCat(where, ".", i, ".member.value"), 0, 256));
    if (t["Key"].get<std::string>().starts_with("aws:")) {
      return Invalid("Invalid tag key: the aws: prefix is reserved for AWS use.");
    }
  }
  if (tags.size() > kMaxTags) {
    return Error(absl::StatusCode::kResourceExhausted, "LimitExceededException",
                 StrCat("The number of tags exceeds the limit of ", kMaxTags, " per resource."));
  }
  return absl::OkStatus();
}

// A target's model constraints (PutTargets): Id, Arn, RoleArn, Input, InputPath,
// InputTransformer, RetryPolicy.
absl::Status CheckTargetLimits(const Json& t, size_t index) {
  if (!t.is_object()) return Invalid(StrCat("1 validation error detected: Value at 'targets.", index, ".member' must be a structure"));
  std::string at = StrCat("targets.", index, ".member.");
  RETURN_IF_ERROR(CheckLength(t, "Arn", at + "arn", 1, 1600));
  RETURN_IF_ERROR(CheckLength(t, "RoleArn", at + "roleArn", 1, 1600));
  RETURN_IF_ERROR(CheckLength(t, "Input", at + "input", 0, 8192));
  RETURN_IF_ERROR(CheckLength(t, "InputPath", at + "inputPath", 0, 256));
  if (t.contains("InputTransformer") && t["InputTransformer"].is_object()) {
    const Json& x = t["InputTransformer"];
    RETURN_IF_ERROR(CheckLength(x, "InputTemplate", at + "inputTransformer.inputTemplate", 1, 8192));
    if (x.contains("InputPathsMap") && x["InputPathsMap"].is_object()) {
      for (const auto& [name, path] : x["InputPathsMap"].items()) {
        if (name.empty() || name.size() > 256) return LengthError(at + "inputTransformer.inputPathsMap", name, 1, 256);
        if (path.is_string() && path.get<std::string>().size() > 256) {
          return LengthError(at + "inputTransformer.inputPathsMap", path.get<std::string>(), 0, 256);
        }
      }
    }
  }
  if (t.contains("RetryPolicy") && t["RetryPolicy"].is_object()) {
    RETURN_IF_ERROR(CheckRange(t["RetryPolicy"], "MaximumRetryAttempts", at + "retryPolicy.maximumRetryAttempts", 0, 185));
    RETURN_IF_ERROR(CheckRange(t["RetryPolicy"], "MaximumEventAgeInSeconds", at + "retryPolicy.maximumEventAgeInSeconds", 60, 86400));
  }
  if (t.contains("DeadLetterConfig") && t["DeadLetterConfig"].is_object()) {
    RETURN_IF_ERROR(CheckLength(t["DeadLetterConfig"], "Arn", at + "deadLetterConfig.arn", 1, 1600));
  }
  return absl::OkStatus();
}

// NextToken paging over a sorted list of names.
Json PageOf(std::vector<Json> items, const Json& in, const char* field) {
  size_t start = 0;
  if (in.contains("NextToken") && in["NextToken"].is_string()) ParseNumber(in["NextToken"].get<std::string>(), &start);
  size_t limit = 100;
  if (in.contains("Limit") && in["Limit"].is_number_integer()) limit = std::clamp<int64_t>(in["Limit"].get<int64_t>(), 1, 100);
  Json out = {{field, Json::array()}};
  for (size_t i = start; i < items.size() && i < start + limit; ++i) out[field].push_back(std::move(items[i]));
  if (start + limit < items.size()) out["NextToken"] = std::to_string(start + limit);
  return out;
}

}  // namespace

std::string EventsErrorCode(const absl::Status& status) {
  auto p = status.GetPayload(kCodePayload);
  if (p) return std::string(*p);
  if (absl::IsNotFound(status)) return "ResourceNotFoundException";
  if (absl::IsInvalidArgument(status)) return "ValidationException";
  return "InternalException";
}

struct EventBridge::Rule {
  std::string bus, name;
  uint64_t id = 0;
  Json doc;                     // Name, EventPattern, ScheduleExpression, State, Description, RoleArn, ...
  std::vector<Json> targets;    // as PutTargets gave them
  std::optional<events::Schedule> schedule;
  absl::Time anchor;            // rate() slots count from here
  std::optional<absl::Time> last_fired;
  bool enabled() const { return doc.value("State", "ENABLED") == "ENABLED"; }
};

struct EventBridge::Bus {
  std::string name;
  Json doc;
  std::map<std::string, std::shared_ptr<Rule>> rules;
  std::map<uint64_t, std::shared_ptr<Rule>> by_id;
  events::PatternSet patterns;  // enabled rules with an EventPattern
};

// One delivery to one target, a row of the outbox until it is done. kTarget carries a
// rule's matched event; kInvoke carries a Scheduler target's input (Invoke()).
struct EventBridge::Delivery {
  enum class Kind { kTarget, kInvoke } kind = Kind::kTarget;
  int64_t row = 0;  // outbox id; 0 until Commit() assigns one
  absl::Time due, first;
  int attempt = 0;
  std::string event_text;  // kTarget: the event; kInvoke: the input
  Json event;              // kTarget: event_text parsed
  Json target;
  std::string rule_arn, rule_name;

  Json ToDoc() const {
    return {{"kind", kind == Kind::kInvoke ? "invoke" : "target"}, {"first_ms", absl::ToUnixMillis(first)},
            {"attempt", attempt}, {"event", event_text}, {"target", target}, {"rule_arn", rule_arn},
            {"rule_name", rule_name}};
  }
  // A stored outbox row back; an error when the row cannot be resumed.
  static absl::StatusOr<std::unique_ptr<Delivery>> FromDoc(int64_t row, int64_t due_ms, const std::string& text) {
    Json doc = ParseJson(text, kMaxStoredJsonDepth);
    if (!doc.is_object() || !doc.contains("event") || !doc["event"].is_string() || !doc.contains("target") ||
        !doc["target"].is_object()) {
      return absl::DataLossError("outbox row is not a delivery");
    }
    auto d = std::make_unique<Delivery>();
    d->row = row;
    d->kind = doc.value("kind", "target") == "invoke" ? Kind::kInvoke : Kind::kTarget;
    d->due = absl::FromUnixMillis(due_ms);
    d->first = absl::FromUnixMillis(doc.value("first_ms", due_ms));
    d->attempt = doc.value("attempt", 0);
    d->event_text = doc["event"].get<std::string>();
    d->target = doc["target"];
    d->rule_arn = doc.value("rule_arn", "");
    d->rule_name = doc.value("rule_name", "");
    if (d->kind == Kind::kTarget) {
      d->event = ParseJson(d->event_text, kMaxStoredJsonDepth);
      if (!d->event.is_object()) return absl::DataLossError("outbox row's event is not a JSON object");
    }
    return d;
  }
};

// What routing and delivering produce, made durable together by Commit(): new or retried
// deliveries (outbox rows written), finished ones (outbox rows deleted) and archive rows.
struct EventBridge::Work {
  struct Archived {
    std::string archive;
    int64_t ms;
    std::string event;
  };
  std::vector<std::unique_ptr<Delivery>> deliveries;
  std::vector<int64_t> done;
  std::vector<Archived> archived;
  bool empty() const { return deliveries.empty() && done.empty() && archived.empty(); }
};

bool EventBridge::Later::operator()(const std::unique_ptr<Delivery>& a, const std::unique_ptr<Delivery>& b) const {
  return a->due > b->due;
}

absl::StatusOr<std::unique_ptr<EventBridge>> EventBridge::Open(const std::string& dir, EventsOptions options) {
  RETURN_IF_ERROR(MakeDirs(dir));
  std::unique_ptr<EventBridge> e(new EventBridge(dir, std::move(options)));
  std::string path = dir + "/events.db";
  ASSIGN_OR_RETURN(e->writer_, SqliteGroupWriter::Open(path));
  RETURN_IF_ERROR(e->writer_->Write([](SqliteDb& db) {
    return db.Exec(
        "CREATE TABLE IF NOT EXISTS documents(kind TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,"
        " PRIMARY KEY(kind, name)) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS archived(archive TEXT NOT NULL, ms INTEGER NOT NULL, seq INTEGER NOT NULL,"
        " event TEXT NOT NULL, PRIMARY KEY(archive, ms, seq)) WITHOUT ROWID;"
        // Every delivery acknowledged and not yet done (see README: durability).
        "CREATE TABLE IF NOT EXISTS outbox(id INTEGER PRIMARY KEY, due_ms INTEGER NOT NULL, item TEXT NOT NULL);");
  }));
  e->readers_ = std::make_unique<SqliteReaderPool>(path);
  RETURN_IF_ERROR(e->Load());
  return e;
}

void EventBridge::Start() {
  std::vector<std::string> resume;
  {
    std::shared_lock lock(mu_);
    for (const auto& [name, r] : replays_) {
      std::string state = r.value("State", "");
      if (state == "STARTING" || state == "RUNNING") resume.push_back(name);
    }
  }
  std::lock_guard lock(queue_mu_);
  if (started_ || stopping_ || !options_.start_threads) return;
  started_ = true;
  threads_.emplace_back(&EventBridge::DeliveryLoop, this);
  threads_.emplace_back(&EventBridge::ScheduleLoop, this);
  // Replays that were running when the server stopped go on from their cursor.
  for (auto& name : resume) threads_.emplace_back(&EventBridge::Replay, this, name);
}

EventBridge::EventBridge(std::string dir, EventsOptions options) : dir_(std::move(dir)), options_(std::move(options)) {}

EventBridge::~EventBridge() { Stop(); }

void EventBridge::Stop() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  stop_flag_ = true;
  queue_cv_.notify_all();
  for (;;) {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(queue_mu_);
      threads.swap(threads_);
    }
    if (threads.empty()) break;
    for (auto& t : threads) t.join();
  }
  // Finished deliveries leave the outbox before the process ends: none is sent again.
  if (writer_) {
    Work work;
    if (auto st = Commit(work); !st.ok()) spdlog::error("events: the outbox could not be updated: {}", std::string(st.message()));
  }
}

void EventBridge::RegisterInvoker(const std::string& service, TargetInvoker invoker) {
  invokers_[service] = std::move(invoker);
}

absl::Status EventBridge::Save(const std::string& kind, const std::string& name, const Json& doc) {
  return writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("INSERT OR REPLACE INTO documents(kind, name, doc) VALUES(?,?,?)"));
    return s->Bind(1, kind).Bind(2, name).Bind(3, doc.dump()).Run();
  });
}

absl::Status EventBridge::Erase(const std::string& kind, const std::string& name) {
  return writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("DELETE FROM documents WHERE kind=? AND name=?"));
    return s->Bind(1, kind).Bind(2, name).Run();
  });
}

std::string EventBridge::BusArn(const std::string& bus) const {
  return StrCat("arn:aws:events:", options_.region, ":", options_.account, ":event-bus/", bus);
}

std::string EventBridge::RuleArn(const std::string& bus, const std::string& rule) const {
  return StrCat("arn:aws:events:", options_.region, ":", options_.account, ":rule/", bus == "default" ? "" : bus + "/", rule);
}

absl::Status EventBridge::Load() {
  std::vector<std::pair<std::string, Json>> docs;
  RETURN_IF_ERROR(readers_->With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT kind, doc FROM documents ORDER BY kind, name"));
    s->Reset();
    for (;;) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      Json doc = ParseJson(s->Text(1), kMaxStoredJsonDepth);
      if (!doc.is_object()) {
        spdlog::error("events: stored {} document is not a JSON object; skipped", s->Text(0));
        continue;
      }
      docs.emplace_back(s->Text(0), std::move(doc));
    }
    ASSIGN_OR_RETURN(auto* q, db.Prepare("SELECT coalesce(max(seq), -1) FROM archived"));
    q->Reset();
    ASSIGN_OR_RETURN(bool seq_row, q->Step());
    if (seq_row) next_seq_ = q->Int(0) + 1;
    q->Reset();
    return absl::OkStatus();
  }));
  // The outbox: deliveries acknowledged before the last stop or crash are delivered again.
  std::vector<int64_t> broken;
  RETURN_IF_ERROR(readers_->With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT id, due_ms, item FROM outbox ORDER BY id"));
    s->Reset();
    for (;;) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      int64_t id = s->Int(0);
      next_row_ = std::max<int64_t>(next_row_, id + 1);
      absl::StatusOr<std::unique_ptr<Delivery>> d = absl::DataLossError("unreadable");
      try {
        d = Delivery::FromDoc(id, s->Int(1), s->Text(2));
      } catch (const std::exception& e) {
        d = absl::DataLossError(e.what());
      }
      if (!d.ok()) {
        // A row that cannot be resumed is failed (logged and removed), never a crash loop.
        spdlog::error("events: outbox delivery {} cannot be resumed and is dropped: {}", id, std::string(d.status().message()));
        broken.push_back(id);
        continue;
      }
      queue_.push(std::move(*d));
    }
    return absl::OkStatus();
  }));
  if (!broken.empty()) {
    Work work;
    work.done = std::move(broken);
    RETURN_IF_ERROR(Commit(work));
  }
  std::unique_lock lock(mu_);
  auto add_bus = [&](const std::string& name, Json doc) {
    auto bus = std::make_unique<Bus>();
    bus->name = name;
    bus->doc = std::move(doc);
    buses_[name] = std::move(bus);
  };
  add_bus("default", {{"Name", "default"}, {"Arn", BusArn("default")}});
  for (auto& [kind, doc] : docs) {
    if (kind == "bus" && doc.contains("Name") && doc["Name"].is_string()) add_bus(doc["Name"].get<std::string>(), doc);
  }
  // A stored document that cannot be loaded is skipped with an error, never a crash loop.
  for (auto& [kind, doc] : docs) try {
    if (kind == "archive") {
      std::string name = doc.value("ArchiveName", "");
      if (doc.contains("EventPattern") && doc["EventPattern"].is_string()) {
        auto set = std::make_shared<events::PatternSet>();
        if (set->Add(0, doc["EventPattern"].get<std::string>()).ok()) archive_patterns_[name] = set;
      }
      archives_[name] = doc;
    } else if (kind == "replay") {
      // A replay that was running when the server stopped goes on from its cursor (Start());
      // one being cancelled is cancelled.
      if (doc.value("State", "") == "CANCELLING") doc["State"] = "CANCELLED";
      replays_[doc.value("ReplayName", "")] = doc;
    } else if (kind == "rule") {
      auto it = buses_.find(doc.value("EventBusName", "default"));
      if (it == buses_.end()) continue;
      auto rule = std::make_shared<Rule>();
      rule->bus = it->first;
      rule->name = doc.value("Name", "");
      rule->id = next_rule_id_++;
      const Json& targets = doc.value("sluice:targets", Json::array());
      if (targets.is_array()) {
        for (const auto& t : targets) {
          if (t.is_object()) rule->targets.push_back(t);
        }
      }
      rule->anchor = absl::FromUnixMillis(doc.value("sluice:anchor_ms", int64_t{0}));
      if (doc.contains("sluice:last_fired_ms") && doc["sluice:last_fired_ms"].is_number_integer()) {
        rule->last_fired = absl::FromUnixMillis(doc["sluice:last_fired_ms"].get<int64_t>());
      }
      if (doc.contains("ScheduleExpression") && doc["ScheduleExpression"].is_string()) {
        auto s = events::Schedule::Parse(doc["ScheduleExpression"].get<std::string>());
        if (s.ok()) rule->schedule = *s;
      }
      rule->doc = std::move(doc);
      if (rule->enabled() && rule->doc.contains("EventPattern") && rule->doc["EventPattern"].is_string()) {
        (void)it->second->patterns.Add(rule->id, rule->doc["EventPattern"].get<std::string>());
      }
      it->second->by_id[rule->id] = rule;
      it->second->rules[rule->name] = rule;
    }
  } catch (const std::exception& e) {
    spdlog::error("events: stored {} document cannot be loaded and is skipped: {}", kind, e.what());
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> EventBridge::Call(const std::string& action, const Json& in) {
  // Last-resort guard: a member of the wrong JSON type is the caller's error; anything else
  // fails this one request with a 500-class error, never the server.
  try {
    return Dispatch(action, in);
  } catch (const nlohmann::json::exception& e) {
    return Error(absl::StatusCode::kInvalidArgument, "SerializationException", StrCat("Malformed input: ", e.what()));
  } catch (const std::exception& e) {
    spdlog::error("events: {} failed: {}", action, e.what());
    return Error(absl::StatusCode::kInternal, "InternalException", StrCat("Internal error: ", e.what()));
  }
}

absl::StatusOr<Json> EventBridge::Dispatch(const std::string& action, const Json& in) {
  if (action == "PutEvents") return PutEvents(in);
  if (action == "PutRule") return PutRule(in);
  if (action == "DescribeRule") return DescribeRule(in);
  if (action == "ListRules") return ListRules(in);
  if (action == "EnableRule") return SetRuleState(in, true);
  if (action == "DisableRule") return SetRuleState(in, false);
  if (action == "DeleteRule") return DeleteRule(in);
  if (action == "PutTargets") return PutTargets(in);
  if (action == "RemoveTargets") return RemoveTargets(in);
  if (action == "ListTargetsByRule") return ListTargetsByRule(in);
  if (action == "ListRuleNamesByTarget") return ListRuleNamesByTarget(in);
  if (action == "CreateEventBus") return CreateEventBus(in);
  if (action == "DescribeEventBus") return DescribeEventBus(in);
  if (action == "ListEventBuses") return ListEventBuses(in);
  if (action == "DeleteEventBus") return DeleteEventBus(in);
  if (action == "TestEventPattern") return TestEventPattern(in);
  if (action == "TagResource" || action == "UntagResource" || action == "ListTagsForResource") return Tags(action, in);
  if (action.find("Archive") != std::string::npos) return ArchiveAction(action, in);
  if (action.find("Replay") != std::string::npos) return ReplayAction(action, in);
  return Error(absl::StatusCode::kUnimplemented, "UnknownOperationException",
               StrCat("Sluice does not implement EventBridge ", action, " yet."));
}

absl::StatusOr<EventBridge::Bus*> EventBridge::FindBus(const std::string& name_or_arn) {
  std::string name = name_or_arn.empty() ? "default" : NameOf(name_or_arn);
  auto it = buses_.find(name);
  if (it == buses_.end()) return NotFound(StrCat("Event bus ", name, " does not exist."));
  return it->second.get();
}

absl::StatusOr<std::shared_ptr<EventBridge::Rule>> EventBridge::FindRule(const Json& in) {
  std::string bus_name = in.value("EventBusName", "");
  std::string name = NameOf(in.value("Name", in.value("Rule", "")));
  if (name.empty()) return Invalid("Rule name must be specified.");
  ASSIGN_OR_RETURN(Bus * bus, FindBus(bus_name));
  auto it = bus->rules.find(name);
  if (it == bus->rules.end()) return NotFound(StrCat("Rule ", name, " does not exist on EventBus ", bus->name, "."));
  return it->second;
}

// ---- Buses ----

absl::StatusOr<Json> EventBridge::CreateEventBus(const Json& in) {
  std::string name = in.value("Name", "");
  RETURN_IF_ERROR(CheckName("name", name, 256, "bus"));
  if (name == "default") return Invalid("The event bus name 'default' is reserved.");
  if (name.starts_with("aws.")) return Invalid("Event bus names starting with aws. are reserved for partner event sources.");
  RETURN_IF_ERROR(CheckLength(in, "Description", "description", 0, 512));
  if (in.contains("Tags")) RETURN_IF_ERROR(CheckTags(in["Tags"], "tags"));
  std::unique_lock lock(mu_);
  if (buses_.contains(name)) return Exists(StrCat("Event bus ", name, " already exists."));
  Json doc = {{"Name", name}, {"Arn", BusArn(name)}, {"CreationTime", EpochSeconds(absl::Now())},
              {"LastModifiedTime", EpochSeconds(absl::Now())}};
  for (const char* k : {"Description", "KmsKeyIdentifier", "DeadLetterConfig", "Tags"}) {
    if (in.contains(k)) doc[k] = in[k];
  }
  RETURN_IF_ERROR(Save("bus", name, doc));
  auto bus = std::make_unique<Bus>();
  bus->name = name;
  bus->doc = doc;
  buses_[name] = std::move(bus);
  return Json{{"EventBusArn", BusArn(name)}};
}

absl::StatusOr<Json> EventBridge::DescribeEventBus(const Json& in) {
  std::shared_lock lock(mu_);
  ASSIGN_OR_RETURN(Bus * bus, FindBus(in.value("Name", "")));
  Json out = bus->doc;
  out.erase("Tags");
  return out;
}

absl::StatusOr<Json> EventBridge::ListEventBuses(const Json& in) {
  std::shared_lock lock(mu_);
  std::string prefix = in.value("NamePrefix", "");
  std::vector<Json> out;
  for (const auto& [name, bus] : buses_) {
    if (!name.starts_with(prefix)) continue;
    Json d = bus->doc;
    d.erase("Tags");
    out.push_back(d);
  }
  return PageOf(std::move(out), in, "EventBuses");
}

absl::StatusOr<Json> EventBridge::DeleteEventBus(const Json& in) {
  std::string name = NameOf(in.value("Name", ""));
  if (name == "default") return Invalid("Cannot delete event bus default.");
  std::unique_lock lock(mu_);
  auto it = buses_.find(name);
  if (it == buses_.end()) return Json::object();  // AWS answers success for a missing bus
  if (!it->second->rules.empty()) {
    return Invalid(StrCat("Event bus ", name, " still has rules; delete them first."));
  }
  RETURN_IF_ERROR(Erase("bus", name));
  buses_.erase(it);
  return Json::object();
}

// ---- Rules ----

Json EventBridge::RuleDoc(const Rule& rule) const {
  Json d = {{"Name", rule.name}, {"Arn", RuleArn(rule.bus, rule.name)}, {"EventBusName", rule.bus},
            {"State", rule.doc.value("State", "ENABLED")}};
  for (const char* k : {"EventPattern", "ScheduleExpression", "Description", "RoleArn", "ManagedBy"}) {
    if (rule.doc.contains(k)) d[k] = rule.doc[k];
  }
  return d;
}

absl::StatusOr<Json> EventBridge::PutRule(const Json& in) {
  std::string name = in.value("Name", "");
  RETURN_IF_ERROR(CheckName("name", name, 64));
  bool has_pattern = in.contains("EventPattern"), has_schedule = in.contains("ScheduleExpression");
  if (!has_pattern && !has_schedule) {
    return Invalid("Parameter(s) EventPattern or ScheduleExpression must be specified.");
  }
  RETURN_IF_ERROR(CheckLength(in, "EventPattern", "eventPattern", 0, 4096));
  RETURN_IF_ERROR(CheckLength(in, "ScheduleExpression", "scheduleExpression", 0, 256));
  RETURN_IF_ERROR(CheckLength(in, "Description", "description", 0, 512));
  RETURN_IF_ERROR(CheckLength(in, "RoleArn", "roleArn", 1, 1600));
  if (in.contains("Tags")) RETURN_IF_ERROR(CheckTags(in["Tags"], "tags"));
  if (has_pattern) {
    if (!in["EventPattern"].is_string()) return Invalid("EventPattern must be a string of JSON text.");
    auto st = events::ValidatePattern(in["EventPattern"].get<std::string>());
    if (!st.ok()) return Error(absl::StatusCode::kInvalidArgument, "InvalidEventPatternException", std::string(st.message()));
  }
  std::optional<events::Schedule> schedule;
  if (has_schedule) {
    auto s = events::Schedule::Parse(in.value("ScheduleExpression", ""));
    if (!s.ok()) return Invalid(std::string(s.status().message()));
    schedule = *s;
  }
  std::string state = in.value("State", "ENABLED");
  if (state != "ENABLED" && state != "DISABLED" && state != "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS") {
    return Invalid(StrCat("1 validation error detected: Value '", state,
                          "' at 'state' failed to satisfy constraint: Member must satisfy enum value set: "
                          "[ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]"));
  }
  if (state != "DISABLED") state = "ENABLED";
  std::unique_lock lock(mu_);
  ASSIGN_OR_RETURN(Bus * bus, FindBus(in.value("EventBusName", "")));
  if (has_schedule && bus->name != "default") {
    return Invalid("ScheduleExpression is supported only on the default event bus.");
  }
  auto it = bus->rules.find(name);
  std::shared_ptr<Rule> rule;
  if (it != bus->rules.end()) {
    rule = it->second;
    bus->patterns.Remove(rule->id);
  } else {
    rule = std::make_shared<Rule>();
    rule->bus = bus->name;
    rule->name = name;
    rule->id = next_rule_id_++;
  }
  Json doc = {{"Name", name}, {"EventBusName", bus->name}, {"State", state}};
  for (const char* k : {"EventPattern", "ScheduleExpression", "Description", "RoleArn"}) {
    if (in.contains(k)) doc[k] = in[k];
  }
  if (in.contains("Tags")) doc["Tags"] = in["Tags"];
  else if (rule->doc.contains("Tags")) doc["Tags"] = rule->doc["Tags"];
  if (!schedule || !rule->schedule || rule->schedule->expression() != schedule->expression()) {
    rule->anchor = absl::Now();
    rule->last_fired.reset();
  }
  rule->schedule = schedule;
  doc["sluice:targets"] = rule->targets;
  doc["sluice:anchor_ms"] = absl::ToUnixMillis(rule->anchor);
  if (rule->last_fired) doc["sluice:last_fired_ms"] = absl::ToUnixMillis(*rule->last_fired);
  RETURN_IF_ERROR(Save("rule", StrCat(bus->name, "/", name), doc));
  rule->doc = doc;
  if (rule->enabled() && has_pattern) {
    RETURN_IF_ERROR(bus->patterns.Add(rule->id, doc["EventPattern"].get<std::string>()));
  }
  bus->rules[name] = rule;
  bus->by_id[rule->id] = rule;
  return Json{{"RuleArn", RuleArn(bus->name, name)}};
}

absl::StatusOr<Json> EventBridge::DescribeRule(const Json& in) {
  std::shared_lock lock(mu_);
  ASSIGN_OR_RETURN(auto rule, FindRule(in));
  Json d = RuleDoc(*rule);
  d["CreatedBy"] = options_.account;
  return d;
}

absl::StatusOr<Json> EventBridge::ListRules(const Json& in) {
  std::shared_lock lock(mu_);
  ASSIGN_OR_RETURN(Bus * bus, FindBus(in.value("EventBusName", "")));
  std::string prefix = in.value("NamePrefix", "");
  std::vector<Json> out;
  for (const auto& [name, rule] : bus->rules) {
    if (name.starts_with(prefix)) out.push_back(RuleDoc(*rule));
  }
  return PageOf(std::move(out), in, "Rules");
}

absl::StatusOr<Json> EventBridge::SetRuleState(const Json& in, bool enabled) {
  std::unique_lock lock(mu_);
  ASSIGN_OR_RETURN(auto rule, FindRule(in));
  ASSIGN_OR_RETURN(Bus * bus, FindBus(rule->bus));
  Json doc = rule->doc;
  doc["State"] = enabled ? "ENABLED" : "DISABLED";
  RETURN_IF_ERROR(Save("rule", StrCat(rule->bus, "/", rule->name), doc));
  bool was = rule->enabled();
  rule->doc = doc;
  bus->patterns.Remove(rule->id);
  if (enabled && doc.contains("EventPattern")) RETURN_IF_ERROR(bus->patterns.Add(rule->id, doc["EventPattern"].get<std::string>()));
  if (enabled && !was && rule->schedule) {
    rule->anchor = absl::Now();
    rule->last_fired.reset();
  }
  return Json::object();
}

absl::StatusOr<Json> EventBridge::DeleteRule(const Json& in) {
  std::unique_lock lock(mu_);
  auto rule = FindRule(in);
  if (absl::IsNotFound(rule.status())) return Json::object();  // AWS: deleting a missing rule succeeds
  RETURN_IF_ERROR(rule.status());
  if (!(*rule)->targets.empty() && !in.value("Force", false)) {
    return Invalid("Rule can't be deleted since it has targets.");
  }
  ASSIGN_OR_RETURN(Bus * bus, FindBus((*rule)->bus));
  RETURN_IF_ERROR(Erase("rule", StrCat(bus->name, "/", (*rule)->name)));
  bus->patterns.Remove((*rule)->id);
  bus->by_id.erase((*rule)->id);
  bus->rules.erase((*rule)->name);
  return Json::object();
}

// ---- Targets ----

absl::StatusOr<Json> EventBridge::PutTargets(const Json& in) {
  const Json& targets = in.value("Targets", Json::array());
  if (!targets.is_array() || targets.empty() || targets.size() > 10) {
    return Invalid("1 validation error detected: Value at 'targets' failed to satisfy constraint: Member must have "
                   "length less than or equal to 10 and greater than or equal to 1");
  }
  for (size_t i = 0; i < targets.size(); ++i) RETURN_IF_ERROR(CheckTargetLimits(targets[i], i + 1));
  std::unique_lock lock(mu_);
  ASSIGN_OR_RETURN(auto rule, FindRule(in));
  std::vector<Json> next = rule->targets;
  Json failed = Json::array();
  for (const auto& t : targets) {
    std::string id = t.value("Id", ""), arn = t.value("Arn", "");
    auto fail = [&](const std::string& code, const std::string& message) {
      failed.push_back({{"TargetId", id}, {"ErrorCode", code}, {"ErrorMessage", message}});
    };
    static const std::regex kTargetId("[\\.\\-_A-Za-z0-9]+");
    if (id.empty() || id.size() > 64 || !std::regex_match(id, kTargetId)) {
      fail("ValidationException", "Target Id must be 1 to 64 characters of letters, digits, '.', '-' and '_'.");
      continue;
    }
    auto parts = Split(arn, ':');
    if (parts.size() < 6 || parts[0] != "arn") {
      fail("ValidationException", StrCat("Parameter ", arn, " is not valid. Reason: Provided Arn is not in correct format."));
      continue;
    }
    std::string service(parts[2]);
    if (service != "events" && !invokers_.contains(service)) {
      fail("ValidationException",
           StrCat("Sluice cannot deliver to ", service, " targets yet (no ", service,
                  " service); supported targets: event buses", invokers_.empty() ? "" : " and ",
                  [&] {
                    std::vector<std::string> names;
                    for (const auto& [k, v] : invokers_) names.push_back(k);
                    return Join(names, ", ");
                  }()));
      continue;
    }
    if (service == "events" && arn.find(":event-bus/") == std::string::npos) {
      fail("ValidationException", StrCat("Target ", arn, " is not an event bus ARN."));
      continue;
    }
    if (t.contains("DeadLetterConfig") && !invokers_.contains("sqs")) {
      fail("ValidationException", "DeadLetterConfig names an SQS queue, and Sluice has no SQS service yet.");
      continue;
    }
    if (auto st = events::ValidateTargetInput(t); !st.ok()) {
      fail("ValidationException", std::string(std::string(st.message())));
      continue;
    }
    auto same = std::find_if(next.begin(), next.end(), [&](const Json& x) { return x.value("Id", "") == id; });
    if (same != next.end()) {
      *same = t;
    } else if (next.size() >= kMaxTargetsPerRule) {
      fail("LimitExceededException", "The requested resource exceeds the maximum number allowed: 5 targets per rule.");
    } else {
      next.push_back(t);
    }
  }
  Json doc = rule->doc;
  doc["sluice:targets"] = next;
  RETURN_IF_ERROR(Save("rule", StrCat(rule->bus, "/", rule->name), doc));
  rule->doc = doc;
  rule->targets = std::move(next);
  return Json{{"FailedEntryCount", failed.size()}, {"FailedEntries", failed}};
}

absl::StatusOr<Json> EventBridge::RemoveTargets(const Json& in) {
  std::unique_lock lock(mu_);
  ASSIGN_OR_RETURN(auto rule, FindRule(in));
  std::vector<Json> next;
  Json failed = Json::array();
  std::set<std::string> ids;
  for (const auto& id : in.value("Ids", Json::array())) {
    if (id.is_string()) ids.insert(id.get<std::string>());
  }
  for (const auto& t : rule->targets) {
    if (!ids.erase(t.value("Id", ""))) next.push_back(t);
  }
  for (const auto& id : ids) {
    failed.push_back({{"TargetId", id}, {"ErrorCode", "ResourceNotFoundException"},
                      {"ErrorMessage", StrCat("Target ", id, " does not exist on rule ", rule->name)}});
  }
  Json doc = rule->doc;
  doc["sluice:targets"] = next;
  RETURN_IF_ERROR(Save("rule", StrCat(rule->bus, "/", rule->name), doc));
  rule->doc = doc;
  rule->targets = std::move(next);
  return Json{{"FailedEntryCount", failed.size()}, {"FailedEntries", failed}};
}

absl::StatusOr<Json> EventBridge::ListTargetsByRule(const Json& in) {
  std::shared_lock lock(mu_);
  ASSIGN_OR_RETURN(auto rule, FindRule(in));
  return PageOf(rule->targets, in, "Targets");
}

absl::StatusOr<Json> EventBridge::ListRuleNamesByTarget(const Json& in) {
  std::shared_lock lock(mu_);
  std::string arn = in.value("TargetArn", "");
  if (arn.empty()) return Invalid("TargetArn must be specified.");
  ASSIGN_OR_RETURN(Bus * bus, FindBus(in.value("EventBusName", "")));
  std::vector<Json> names;
  for (const auto& [name, rule] : bus->rules) {
    for (const auto& t : rule->targets) {
      if (t.value("Arn", "") == arn) {
        names.push_back(name);
        break;
      }
    }
  }
  return PageOf(std::move(names), in, "RuleNames");
}

// ---- Events ----

absl::StatusOr<Json> EventBridge::PutEvents(const Json& in) {
  const Json& entries = in.value("Entries", Json::array());
  if (!entries.is_array() || entries.empty() || entries.size() > 10) {
    return Invalid(StrCat("1 validation error detected: Value '", entries.is_array() ? entries.size() : 0,
                          "' at 'entries' failed to satisfy constraint: Member must have length less than or equal "
                          "to 10 and greater than or equal to 1"));
  }
  // AWS's entry size: the UTF-8 bytes of Source, DetailType, Detail and Resources, plus 14
  // for a Time.
  size_t total = 0;
  for (const auto& e : entries) {
    if (!e.is_object()) continue;
    for (const char* k : {"Source", "DetailType", "Detail"}) {
      if (e.contains(k) && e[k].is_string()) total += e[k].get<std::string>().size();
    }
    for (const auto& r : e.value("Resources", Json::array())) {
      if (r.is_string()) total += r.get<std::string>().size();
    }
    if (e.contains("Time")) total += 14;
  }
  if (total > kMaxEntrySize) return Invalid("Total size of the entries in the request is over the limit.");
  Json results = Json::array();
  int failed = 0;
  absl::Time now = absl::Now();
  Work work;
  std::shared_lock lock(mu_);
  for (const auto& e : entries) {
    auto fail = [&](const char* code, std::string message) {
      results.push_back({{"ErrorCode", code}, {"ErrorMessage", std::move(message)}});
      ++failed;
    };
    std::string source = e.value("Source", ""), type = e.value("DetailType", ""), detail_text = e.value("Detail", "");
    if (source.empty() || type.empty() || detail_text.empty()) {
      fail("InvalidArgument", "Parameters Source, DetailType and Detail must be specified.");
      continue;
    }
    if (source.starts_with("aws.")) {
      fail("NotAuthorizedForSourceException", "Not authorized for the source.");
      continue;
    }
    Json detail = ParseJson(detail_text);
    if (detail.is_discarded() || !detail.is_object()) {
      fail("MalformedDetail", "Detail is malformed.");
      continue;
    }
    auto bus = FindBus(e.value("EventBusName", ""));
    if (!bus.ok()) {
      fail("InvalidArgument", std::string(bus.status().message()));
      continue;
    }
    absl::Time t = now;
    if (e.contains("Time") && e["Time"].is_number()) t = absl::FromUnixMillis(static_cast<int64_t>(e["Time"].get<double>() * 1000));
    std::string id = NewUuid();
    Json event = {{"version", "0"}, {"id", id}, {"detail-type", type}, {"source", source},
                  {"account", options_.account}, {"time", EventTime(t)}, {"region", options_.region},
                  {"resources", e.value("Resources", Json::array())}, {"detail", std::move(detail)}};
    Route(**bus, event.dump(), event, nullptr, work);
    results.push_back({{"EventId", id}});
  }
  lock.unlock();
  // Acknowledged means durable: the deliveries and archive rows of every entry commit
  // (grouped with concurrent requests) before the answer.
  if (auto st = Commit(work); !st.ok()) {
    spdlog::error("events: PutEvents could not be stored: {}", std::string(st.message()));
    return Error(absl::StatusCode::kInternal, "InternalException", "The events could not be stored; retry the request.");
  }
  return Json{{"FailedEntryCount", failed}, {"Entries", results}};
}

absl::Status EventBridge::Publish(const std::string& bus_name, Json event) {
  event["version"] = "0";
  event["id"] = NewUuid();
  event["account"] = options_.account;
  event["time"] = EventTime(absl::Now());
  event["region"] = options_.region;
  if (!event.contains("resources")) event["resources"] = Json::array();
  if (!event.contains("detail")) event["detail"] = Json::object();
  Work work;
  {
    std::shared_lock lock(mu_);
    ASSIGN_OR_RETURN(Bus * bus, FindBus(bus_name));
    Route(*bus, event.dump(), event, nullptr, work);
  }
  return Commit(work);
}

void EventBridge::Route(Bus& bus, const std::string& event_text, const Json& event, const std::vector<std::string>* only,
                        Work& work) {
  std::vector<uint64_t> ids;
  if (!bus.patterns.Match(event_text, &ids).ok()) return;
  absl::Time now = absl::Now();
  for (uint64_t id : ids) {
    auto it = bus.by_id.find(id);
    if (it == bus.by_id.end() || !it->second->enabled()) continue;
    const Rule& rule = *it->second;
    std::string arn = RuleArn(rule.bus, rule.name);
    if (only && std::find(only->begin(), only->end(), arn) == only->end()) continue;
    for (const auto& target : rule.targets) {
      auto d = std::make_unique<Delivery>();
      d->due = d->first = now;
      d->event_text = event_text;
      d->event = event;
      d->target = target;
      d->rule_arn = arn;
      d->rule_name = rule.name;
      work.deliveries.push_back(std::move(d));
    }
  }
  if (event.contains("replay-name")) return;  // replayed events are not archived again
  std::string bus_arn = BusArn(bus.name);
  for (const auto& [name, archive] : archives_) {
    if (archive.value("EventSourceArn", "") != bus_arn || archive.value("State", "") != "ENABLED") continue;
    auto p = archive_patterns_.find(name);
    if (p != archive_patterns_.end()) {
      std::vector<uint64_t> hit;
      if (!p->second->Match(event_text, &hit).ok() || hit.empty()) continue;
    }
    // Replays select archived events by the event's own time.
    absl::Time event_time = now;
    std::string err;
    if (event.contains("time") && event["time"].is_string() &&
        !absl::ParseTime(absl::RFC3339_full, event["time"].get<std::string>(), &event_time, &err)) {
      event_time = now;
    }
    work.archived.push_back({name, absl::ToUnixMillis(event_time), event_text});
  }
}

absl::Status EventBridge::Commit(Work& work, const std::function<absl::Status(SqliteDb&)>& extra) {
  {
    // Finished deliveries ride along with the next commit (see DeliverBatch).
    std::lock_guard lock(done_mu_);
    work.done.insert(work.done.end(), pending_done_.begin(), pending_done_.end());
    pending_done_.clear();
  }
  if (work.empty() && !extra) return absl::OkStatus();
  for (auto& d : work.deliveries) {
    if (d->row == 0) d->row = next_row_.fetch_add(1);
  }
  RETURN_IF_ERROR(writer_->Write([&](SqliteDb& db) -> absl::Status {
    if (!work.archived.empty()) {
      ASSIGN_OR_RETURN(auto* st, db.Prepare("INSERT INTO archived(archive, ms, seq, event) VALUES(?,?,?,?)"));
      for (const auto& a : work.archived) {
        RETURN_IF_ERROR(st->Reset().Bind(1, a.archive).Bind(2, a.ms).Bind(3, next_seq_.fetch_add(1)).Bind(4, a.event).Run());
      }
    }
    if (!work.deliveries.empty()) {
      ASSIGN_OR_RETURN(auto* st, db.Prepare("INSERT OR REPLACE INTO outbox(id, due_ms, item) VALUES(?,?,?)"));
      for (const auto& d : work.deliveries) {
        RETURN_IF_ERROR(st->Reset().Bind(1, d->row).Bind(2, absl::ToUnixMillis(d->due)).Bind(3, d->ToDoc().dump()).Run());
      }
    }
    if (!work.done.empty()) {
      ASSIGN_OR_RETURN(auto* st, db.Prepare("DELETE FROM outbox WHERE id=?"));
      for (int64_t id : work.done) RETURN_IF_ERROR(st->Reset().Bind(1, id).Run());
    }
    return extra ? extra(db) : absl::OkStatus();
  }));
  for (auto& d : work.deliveries) Enqueue(std::move(d));
  work.deliveries.clear();
  return absl::OkStatus();
}

void EventBridge::Enqueue(std::unique_ptr<Delivery> d) {
  {
    std::lock_guard lock(queue_mu_);
    queue_.push(std::move(d));
  }
  // The scheduler thread waits on the same condition variable: wake both.
  queue_cv_.notify_all();
}

void EventBridge::DeliveryLoop() {
  std::unique_lock lock(queue_mu_);
  while (!stopping_) {
    if (queue_.empty()) {
      if (queue_cv_.wait_for(lock, std::chrono::milliseconds(100)) == std::cv_status::timeout) {
        bool pending;
        {
          std::lock_guard done_lock(done_mu_);
          pending = !pending_done_.empty();
        }
        if (pending) {
          // Idle: the finished deliveries leave the outbox now.
          lock.unlock();
          Work work;
          if (auto st = Commit(work); !st.ok()) spdlog::error("events: the outbox could not be updated: {}", std::string(st.message()));
          lock.lock();
        }
      }
      continue;
    }
    absl::Time now = absl::Now();
    if (queue_.top()->due > now) {
      queue_cv_.wait_for(lock, std::chrono::milliseconds(absl::ToInt64Milliseconds(queue_.top()->due - now) + 1));
      continue;
    }
    // Everything due now, in one batch: its outbox changes commit in one transaction.
    std::vector<std::unique_ptr<Delivery>> batch;
    while (!queue_.empty() && queue_.top()->due <= now && batch.size() < 1000) {
      batch.push_back(std::move(const_cast<std::unique_ptr<Delivery>&>(queue_.top())));
      queue_.pop();
    }
    lock.unlock();
    DeliverBatch(batch, now);
    lock.lock();
  }
}

void EventBridge::DeliverBatch(std::vector<std::unique_ptr<Delivery>>& batch, absl::Time now) {
  // Deliveries that finish leave the outbox, retries are rewritten with their next due
  // time, and what event-bus targets route goes in: one transaction for the batch. A crash
  // before it commits delivers the batch again (at least once).
  // Targets are invoked by up to kParallel threads: a target that commits each request
  // (an SQS queue) then shares its group commits across the batch instead of paying one
  // fsync per event in turn.
  constexpr size_t kParallel = 8;
  std::vector<Work> produced(std::min(kParallel, batch.size()));
  std::vector<char> retry(batch.size(), 0);
  auto run = [&](size_t w) {
    for (size_t i = w; i < batch.size(); i += produced.size()) retry[i] = Deliver(*batch[i], now, produced[w]);
  };
  std::vector<std::thread> helpers;
  for (size_t w = 1; w < produced.size(); ++w) helpers.emplace_back(run, w);
  if (!produced.empty()) run(0);
  for (auto& t : helpers) t.join();
  Work work;
  for (auto& p : produced) {
    for (auto& d : p.deliveries) work.deliveries.push_back(std::move(d));
    for (auto& a : p.archived) work.archived.push_back(std::move(a));
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (retry[i]) {
      work.deliveries.push_back(std::move(batch[i]));
    } else {
      work.done.push_back(batch[i]->row);
    }
  }
  if (work.deliveries.empty() && work.archived.empty()) {
    // Only finished deliveries: their rows are removed with the next commit (a PutEvents',
    // or the delivery thread's when it goes idle, or Stop's) rather than by a commit of
    // their own. A crash before then delivers them again: at least once.
    std::lock_guard lock(done_mu_);
    pending_done_.insert(pending_done_.end(), work.done.begin(), work.done.end());
    return;
  }
  if (auto st = Commit(work); !st.ok()) {
    spdlog::error("events: the outbox could not be updated: {}", std::string(st.message()));
    // Keep going in memory: nothing acknowledged is dropped while the process lives.
    for (auto& d : work.deliveries) Enqueue(std::move(d));
  }
}

void EventBridge::Drain(absl::Time now) {
  for (;;) {
    std::unique_ptr<Delivery> d;
    {
      std::lock_guard lock(queue_mu_);
      if (queue_.empty() || queue_.top()->due > now) return;
      d = std::move(const_cast<std::unique_ptr<Delivery>&>(queue_.top()));
      queue_.pop();
    }
    std::vector<std::unique_ptr<Delivery>> batch;
    batch.push_back(std::move(d));
    DeliverBatch(batch, now);
  }
}

absl::Status EventBridge::Attempt(Delivery& d, Work& work) {
  std::string arn = d.target.value("Arn", "");
  auto parts = Split(arn, ':');
  std::string service = parts.size() > 2 ? std::string(parts[2]) : "";
  std::string input;
  if (d.kind == Delivery::Kind::kInvoke) {
    input = d.event_text;
    if (service == "events") {
      // A Scheduler target that is an event bus gets an event with the input as detail.
      const Json& p = d.target.value("EventBridgeParameters", Json::object());
      Json detail = ParseJson(input);
      if (!detail.is_object()) detail = Json::object();
      Json event = {{"version", "0"}, {"id", NewUuid()}, {"detail-type", p.value("DetailType", "Scheduled Event")},
                    {"source", p.value("Source", "aws.scheduler")}, {"account", options_.account},
                    {"time", EventTime(absl::Now())}, {"region", options_.region}, {"resources", Json::array()},
                    {"detail", detail}};
      std::shared_lock lock(mu_);
      ASSIGN_OR_RETURN(Bus * bus, FindBus(arn));
      Route(*bus, event.dump(), event, nullptr, work);
      return absl::OkStatus();
    }
  } else {
    ASSIGN_OR_RETURN(input, events::RenderInput(d.target, d.event, d.rule_arn, d.rule_name, EventTime(d.first)));
    if (service == "events") {
      Json forwarded = ParseJson(input);
      if (!forwarded.is_object()) return absl::OkStatus();
      std::shared_lock lock(mu_);
      ASSIGN_OR_RETURN(Bus * bus, FindBus(arn));
      Route(*bus, forwarded.dump(), forwarded, nullptr, work);
      return absl::OkStatus();
    }
  }
  auto it = invokers_.find(service);
  if (it == invokers_.end()) return absl::UnavailableError(StrCat("no ", service, " service"));
  return it->second(d.target, input);
}

bool EventBridge::Deliver(Delivery& d, absl::Time now, Work& work) {
  absl::Status st;
  bool retryable = true;
  // Last-resort guard: no exception leaves the delivery thread; the one delivery fails.
  try {
    Work produced;
    st = Attempt(d, produced);
    if (st.ok()) {
      for (auto& p : produced.deliveries) work.deliveries.push_back(std::move(p));
      for (auto& a : produced.archived) work.archived.push_back(std::move(a));
      return false;
    }
  } catch (const std::exception& e) {
    st = absl::InternalError(StrCat("internal error delivering the event: ", e.what()));
    retryable = false;
  }
  try {
    // Retry with exponential backoff, within MaximumRetryAttempts and MaximumEventAgeInSeconds.
    const Json& policy = d.target.value("RetryPolicy", Json::object());
    int max_attempts = policy.value("MaximumRetryAttempts", 185);
    int64_t max_age = policy.value("MaximumEventAgeInSeconds", 86400);
    absl::Duration backoff = absl::Seconds(1) * (1 << std::min(d.attempt, 8));
    if (retryable && d.attempt < max_attempts && now + backoff - d.first <= absl::Seconds(max_age)) {
      ++d.attempt;
      d.due = now + backoff;
      return true;
    }
    // Out of retries: the event goes to the target's dead-letter queue, as AWS sends it (the
    // event itself; why it failed in the message attributes), or is dropped.
    std::string dlq = d.target.value("DeadLetterConfig", Json::object()).value("Arn", "");
    auto sqs = invokers_.find("sqs");
    if (!dlq.empty() && sqs != invokers_.end()) {
      Json attributes = {
          {"RULE_ARN", {{"DataType", "String"}, {"StringValue", d.rule_arn}}},
          {"TARGET_ARN", {{"DataType", "String"}, {"StringValue", d.target.value("Arn", "")}}},
          {"ERROR_CODE",
           {{"DataType", "String"}, {"StringValue", absl::IsUnavailable(st) ? "SDK_CLIENT_ERROR" : "NO_PERMISSIONS"}}},
          {"ERROR_MESSAGE", {{"DataType", "String"}, {"StringValue", std::string(st.message())}}}};
      Json dead = {{"Arn", dlq}, {"MessageAttributes", attributes}};
      if (auto dst = sqs->second(dead, d.event_text.empty() ? d.event.dump() : d.event_text); !dst.ok()) {
        spdlog::warn("events: rule {} target {}: dead-letter queue {} refused the event: {}", d.rule_name,
                     d.target.value("Id", ""), dlq, std::string(dst.message()));
      }
      return false;
    }
    spdlog::warn("events: rule {} target {}: event {} dropped after {} attempts: {}", d.rule_name,
                 d.target.value("Id", ""), d.event.is_object() ? d.event.value("id", "") : "", d.attempt + 1,
                 std::string(st.message()));
  } catch (const std::exception& e) {
    spdlog::error("events: rule {}: delivery {} failed and is dropped: {} ({})", d.rule_name, d.row, std::string(st.message()), e.what());
  }
  return false;
}

absl::Status EventBridge::Invoke(const Json& target, const std::string& input) {
  auto d = std::make_unique<Delivery>();
  d->kind = Delivery::Kind::kInvoke;
  d->due = d->first = absl::Now();
  d->event_text = input;
  d->target = target;
  Work work;
  work.deliveries.push_back(std::move(d));
  return Commit(work);
}

absl::StatusOr<Json> EventBridge::TestEventPattern(const Json& in) {
  std::string pattern = in.value("EventPattern", ""), event_text = in.value("Event", "");
  if (pattern.empty() || event_text.empty()) return Invalid("EventPattern and Event must be specified.");
  Json event = ParseJson(event_text);
  if (event.is_discarded() || !event.is_object()) return Invalid("Event is not valid JSON.");
  for (const char* k : {"id", "account", "source", "time", "region", "detail-type"}) {
    if (!event.contains(k)) return Invalid(StrCat("Parameter Event is not valid. Reason: Provided Event is missing required field ", k));
  }
  auto match = events::MatchesPattern(pattern, event_text);
  if (!match.ok()) return Error(absl::StatusCode::kInvalidArgument, "InvalidEventPatternException", std::string(match.status().message()));
  return Json{{"Result", *match}};
}

absl::StatusOr<Json> EventBridge::Tags(const std::string& action, const Json& in) {
  std::string arn = in.value("ResourceARN", "");
  std::unique_lock lock(mu_);
  Json* doc = nullptr;
  std::string kind, key;
  for (auto& [name, bus] : buses_) {
    if (BusArn(name) == arn) {
      doc = &bus->doc;
      kind = "bus";
      key = name;
    }
    for (auto& [rname, rule] : bus->rules) {
      if (RuleArn(name, rname) == arn) {
        doc = &rule->doc;
        kind = "rule";
        key = StrCat(name, "/", rname);
      }
    }
  }
  if (!doc) return NotFound(StrCat("Resource ", arn, " does not exist."));
  Json tags = doc->value("Tags", Json::array());
  if (action == "ListTagsForResource") return Json{{"Tags", tags}};
  Json next = Json::array();
  if (action == "TagResource") {
    RETURN_IF_ERROR(CheckTags(in.value("Tags", Json::array()), "tags"));
    std::map<std::string, std::string> m;
    for (const auto& t : tags) m[t.value("Key", "")] = t.value("Value", "");
    for (const auto& t : in.value("Tags", Json::array())) m[t.value("Key", "")] = t.value("Value", "");
    for (const auto& [k, v] : m) next.push_back({{"Key", k}, {"Value", v}});
    RETURN_IF_ERROR(CheckTags(next, "tags"));
  } else {
    std::set<std::string> drop;
    for (const auto& k : in.value("TagKeys", Json::array())) drop.insert(k.get<std::string>());
    for (const auto& t : tags) {
      if (!drop.contains(t.value("Key", ""))) next.push_back(t);
    }
  }
  Json updated = *doc;
  updated["Tags"] = next;
  RETURN_IF_ERROR(Save(kind, key, updated));
  *doc = updated;
  return Json::object();
}

// ---- Schedules ----

void EventBridge::ScheduleLoop() {
  while (!stop_flag_) {
    RunDueSchedules(absl::Now());
    std::unique_lock lock(queue_mu_);
    queue_cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_; });
  }
}

void EventBridge::RunDueSchedules(absl::Time now) {
  std::lock_guard serial(schedule_mu_);
  std::vector<std::pair<std::shared_ptr<Rule>, absl::Time>> due;
  {
    std::shared_lock lock(mu_);
    for (auto& [bname, bus] : buses_) {
      for (auto& [rname, rule] : bus->rules) {
        if (!rule->schedule || !rule->enabled()) continue;
        // The latest slot at or before now that was not fired yet: missed slots (the
        // server was down) are not caught up one by one, and no slot fires twice.
        absl::Time from = rule->last_fired.value_or(rule->anchor);
        auto next = rule->schedule->Next(from, rule->anchor);
        if (!next || *next > now) continue;
        absl::Time slot = *next;
        for (int i = 0; i < 100000; ++i) {
          auto later = rule->schedule->Next(slot, rule->anchor);
          if (!later || *later > now) break;
          slot = *later;
        }
        due.emplace_back(rule, slot);
      }
    }
  }
  for (auto& [rule, slot] : due) {
    try {
      std::unique_lock lock(mu_);
      std::string arn = RuleArn(rule->bus, rule->name);
      Json event = {{"version", "0"}, {"id", NewUuid()}, {"detail-type", "Scheduled Event"}, {"source", "aws.events"},
                    {"account", options_.account}, {"time", EventTime(slot)}, {"region", options_.region},
                    {"resources", {arn}}, {"detail", Json::object()}};
      std::string text = event.dump();
      Work work;
      for (const auto& target : rule->targets) {
        auto d = std::make_unique<Delivery>();
        d->due = d->first = now;
        d->event_text = text;
        d->event = event;
        d->target = target;
        d->rule_arn = arn;
        d->rule_name = rule->name;
        work.deliveries.push_back(std::move(d));
      }
      // The slot is recorded with its deliveries in one transaction: it fires exactly once,
      // across crashes too.
      Json doc = rule->doc;
      doc["sluice:last_fired_ms"] = absl::ToUnixMillis(slot);
      std::string key = StrCat(rule->bus, "/", rule->name);
      auto st = Commit(work, [&](SqliteDb& db) -> absl::Status {
        ASSIGN_OR_RETURN(auto* s, db.Prepare("INSERT OR REPLACE INTO documents(kind, name, doc) VALUES(?,?,?)"));
        return s->Bind(1, "rule").Bind(2, key).Bind(3, doc.dump()).Run();
      });
      if (!st.ok()) {
        spdlog::error("events: schedule of rule {} could not fire: {}", rule->name, std::string(st.message()));
        continue;
      }
      rule->doc = doc;
      rule->last_fired = slot;
    } catch (const std::exception& e) {
      spdlog::error("events: schedule of rule {} failed: {}", rule->name, e.what());
    }
  }
}

// ---- Archives and replays ----

absl::StatusOr<Json> EventBridge::ArchiveAction(const std::string& action, const Json& in) {
  std::string name = in.value("ArchiveName", "");
  auto arn = [&](const std::string& n) { return StrCat("arn:aws:events:", options_.region, ":", options_.account, ":archive/", n); };
  auto count = [&](const std::string& n, int64_t* events, int64_t* bytes) {
    (void)readers_->With([&](SqliteDb& db) -> absl::Status {
      ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT count(*), coalesce(sum(length(event)),0) FROM archived WHERE archive=?"));
      s->Bind(1, n);
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (row) {
        *events = s->Int(0);
        *bytes = s->Int(1);
      }
      s->Reset();
      return absl::OkStatus();
    });
  };
  auto describe = [&](const Json& a) {
    Json d = a;
    int64_t events = 0, bytes = 0;
    count(a.value("ArchiveName", ""), &events, &bytes);
    d["EventCount"] = events;
    d["SizeBytes"] = bytes;
    return d;
  };
  if (action == "CreateArchive") {
    RETURN_IF_ERROR(CheckName("archiveName", name, 48));
    RETURN_IF_ERROR(CheckLength(in, "Description", "description", 0, 512));
    RETURN_IF_ERROR(CheckLength(in, "EventPattern", "eventPattern", 0, 4096));
    RETURN_IF_ERROR(CheckRange(in, "RetentionDays", "retentionDays", 0, INT32_MAX));
    std::string source = in.value("EventSourceArn", "");
    std::unique_lock lock(mu_);
    if (archives_.contains(name)) return Exists(StrCat("Archive ", name, " already exists."));
    RETURN_IF_ERROR(FindBus(source).status());
    std::shared_ptr<events::PatternSet> set;
    if (in.contains("EventPattern")) {
      set = std::make_shared<events::PatternSet>();
      auto st = set->Add(0, in.value("EventPattern", ""));
      if (!st.ok()) return Error(absl::StatusCode::kInvalidArgument, "InvalidEventPatternException", std::string(st.message()));
    }
    Json doc = {{"ArchiveName", name}, {"ArchiveArn", arn(name)}, {"EventSourceArn", BusArn(NameOf(source))},
                {"State", "ENABLED"}, {"RetentionDays", in.value("RetentionDays", 0)}, {"CreationTime", EpochSeconds(absl::Now())}};
    if (in.contains("EventPattern")) doc["EventPattern"] = in["EventPattern"];
    if (in.contains("Description")) doc["Description"] = in["Description"];
    RETURN_IF_ERROR(Save("archive", name, doc));
    archives_[name] = doc;
    if (set) archive_patterns_[name] = set;
    return Json{{"ArchiveArn", arn(name)}, {"State", "ENABLED"}, {"CreationTime", doc["CreationTime"]}};
  }
  if (action == "ListArchives") {
    std::shared_lock lock(mu_);
    std::vector<Json> out;
    for (const auto& [n, a] : archives_) {
      if (!n.starts_with(in.value("NamePrefix", ""))) continue;
      if (in.contains("EventSourceArn") && a.value("EventSourceArn", "") != in.value("EventSourceArn", "")) continue;
      Json d = describe(a);
      d.erase("EventPattern");
      d.erase("Description");
      d.erase("ArchiveArn");
      out.push_back(d);
    }
    return PageOf(std::move(out), in, "Archives");
  }
  std::unique_lock lock(mu_);
  auto it = archives_.find(name);
  if (it == archives_.end()) return NotFound(StrCat("Archive ", name, " does not exist."));
  if (action == "DescribeArchive") return describe(it->second);
  if (action == "UpdateArchive") {
    RETURN_IF_ERROR(CheckLength(in, "Description", "description", 0, 512));
    RETURN_IF_ERROR(CheckLength(in, "EventPattern", "eventPattern", 0, 4096));
    RETURN_IF_ERROR(CheckRange(in, "RetentionDays", "retentionDays", 0, INT32_MAX));
    Json doc = it->second;
    for (const char* k : {"Description", "EventPattern", "RetentionDays"}) {
      if (in.contains(k)) doc[k] = in[k];
    }
    if (in.contains("EventPattern")) {
      auto set = std::make_shared<events::PatternSet>();
      auto st = set->Add(0, in.value("EventPattern", ""));
      if (!st.ok()) return Error(absl::StatusCode::kInvalidArgument, "InvalidEventPatternException", std::string(st.message()));
      archive_patterns_[name] = set;
    }
    RETURN_IF_ERROR(Save("archive", name, doc));
    it->second = doc;
    return Json{{"ArchiveArn", arn(name)}, {"State", doc["State"]}, {"CreationTime", doc["CreationTime"]}};
  }
  if (action == "DeleteArchive") {
    RETURN_IF_ERROR(Erase("archive", name));
    RETURN_IF_ERROR(writer_->Write([&](SqliteDb& db) -> absl::Status {
      ASSIGN_OR_RETURN(auto* s, db.Prepare("DELETE FROM archived WHERE archive=?"));
      return s->Bind(1, name).Run();
    }));
    archive_patterns_.erase(name);
    archives_.erase(it);
    return Json::object();
  }
  return Error(absl::StatusCode::kUnimplemented, "UnknownOperationException", StrCat("Unknown action ", action));
}

absl::StatusOr<Json> EventBridge::ReplayAction(const std::string& action, const Json& in) {
  std::string name = in.value("ReplayName", "");
  auto arn = [&](const std::string& n) { return StrCat("arn:aws:events:", options_.region, ":", options_.account, ":replay/", n); };
  if (action == "StartReplay") {
    RETURN_IF_ERROR(CheckName("replayName", name, 64));
    RETURN_IF_ERROR(CheckLength(in, "Description", "description", 0, 512));
    for (const char* k : {"EventStartTime", "EventEndTime"}) {
      if (in.contains(k) && !in[k].is_number()) return Invalid(StrCat("Parameter ", k, " is not valid: it must be a timestamp."));
    }
    std::unique_lock lock(mu_);
    if (replays_.contains(name)) return Exists(StrCat("Replay ", name, " already exists."));
    std::string source = NameOf(in.value("EventSourceArn", ""));
    if (!archives_.contains(source)) return NotFound(StrCat("Archive ", source, " does not exist."));
    const Json& dest = in.value("Destination", Json::object());
    RETURN_IF_ERROR(FindBus(dest.value("Arn", "")).status());
    if (!in.contains("EventStartTime") || !in.contains("EventEndTime")) {
      return Invalid("EventStartTime and EventEndTime must be specified.");
    }
    if (in["EventEndTime"].get<double>() <= in["EventStartTime"].get<double>()) {
      return Invalid("Parameter EventEndTime is not valid. Reason: EventStartTime must be before EventEndTime.");
    }
    Json doc = {{"ReplayName", name}, {"ReplayArn", arn(name)}, {"EventSourceArn", archives_[source]["ArchiveArn"]},
                {"Destination", dest}, {"EventStartTime", in["EventStartTime"]}, {"EventEndTime", in["EventEndTime"]},
                {"State", "STARTING"}, {"ReplayStartTime", EpochSeconds(absl::Now())}};
    if (in.contains("Description")) doc["Description"] = in["Description"];
    RETURN_IF_ERROR(Save("replay", name, doc));
    replays_[name] = doc;
    std::lock_guard qlock(queue_mu_);
    if (!stopping_) threads_.emplace_back(&EventBridge::Replay, this, name);
    return Json{{"ReplayArn", arn(name)}, {"State", "STARTING"}, {"ReplayStartTime", doc["ReplayStartTime"]}};
  }
  if (action == "ListReplays") {
    std::shared_lock lock(mu_);
    std::vector<Json> out;
    for (const auto& [n, r] : replays_) {
      if (!n.starts_with(in.value("NamePrefix", ""))) continue;
      if (in.contains("State") && r.value("State", "") != in.value("State", "")) continue;
      Json d = r;
      d.erase("Destination");
      d.erase("Description");
      d.erase("ReplayArn");
      d.erase("sluice:cursor_ms");
      d.erase("sluice:cursor_seq");
      out.push_back(d);
    }
    return PageOf(std::move(out), in, "Replays");
  }
  std::unique_lock lock(mu_);
  auto it = replays_.find(name);
  if (it == replays_.end()) return NotFound(StrCat("Replay ", name, " does not exist."));
  if (action == "DescribeReplay") {
    Json d = it->second;
    d.erase("sluice:cursor_ms");
    d.erase("sluice:cursor_seq");
    return d;
  }
  if (action == "CancelReplay") {
    std::string state = it->second.value("State", "");
    if (state != "STARTING" && state != "RUNNING") {
      return Error(absl::StatusCode::kFailedPrecondition, "IllegalStatusException",
                   StrCat("Replay ", name, " is ", state, " and cannot be cancelled."));
    }
    it->second["State"] = "CANCELLING";
    RETURN_IF_ERROR(Save("replay", name, it->second));
    return Json{{"ReplayArn", arn(name)}, {"State", "CANCELLING"}};
  }
  return Error(absl::StatusCode::kUnimplemented, "UnknownOperationException", StrCat("Unknown action ", action));
}

void EventBridge::Replay(std::string name) {
  // Last-resort guard: a replay that throws fails alone, with the reason recorded.
  try {
    ReplayChunks(name);
  } catch (const std::exception& e) {
    spdlog::error("events: replay {} failed: {}", name, e.what());
    std::unique_lock lock(mu_);
    Json& r = replays_[name];
    r["State"] = "FAILED";
    r["StateReason"] = StrCat("Internal error: ", e.what());
    (void)Save("replay", name, r);
  }
}

// Replays the archive in chunks. Each chunk's deliveries commit with the replay's cursor
// (the last archived event routed), so a crash or stop resumes after it: every event of the
// window is replayed at least once, and a committed chunk is not replayed again.
void EventBridge::ReplayChunks(const std::string& name) {
  constexpr int kChunk = 200;
  Json replay;
  {
    std::unique_lock lock(mu_);
    replay = replays_[name];
    if (replay.value("State", "") != "RUNNING") {
      replay["State"] = "RUNNING";
      replays_[name] = replay;
      if (auto st = Save("replay", name, replay); !st.ok()) spdlog::error("events: replay {}: {}", name, std::string(st.message()));
    }
  }
  std::string archive = NameOf(replay.value("EventSourceArn", ""));
  int64_t from = static_cast<int64_t>(replay["EventStartTime"].get<double>() * 1000);
  int64_t to = static_cast<int64_t>(replay["EventEndTime"].get<double>() * 1000);
  int64_t cursor_ms = replay.value("sluice:cursor_ms", from), cursor_seq = replay.value("sluice:cursor_seq", int64_t{-1});
  std::vector<std::string> only;
  const Json& dest = replay["Destination"];
  for (const auto& f : dest.value("FilterArns", Json::array())) only.push_back(f.get<std::string>());
  std::string state = "COMPLETED";
  for (;;) {
    struct Row {
      int64_t ms, seq;
      std::string event;
    };
    std::vector<Row> rows;
    auto read = readers_->With([&](SqliteDb& db) -> absl::Status {
      ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT ms, seq, event FROM archived WHERE archive=? AND ms<? AND"
                                           " (ms>? OR (ms=? AND seq>?)) ORDER BY ms, seq LIMIT ?"));
      s->Reset().Bind(1, archive).Bind(2, to).Bind(3, cursor_ms).Bind(4, cursor_ms).Bind(5, cursor_seq).Bind(6, int64_t{kChunk});
      for (;;) {
        ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        rows.push_back({s->Int(0), s->Int(1), s->Text(2)});
      }
      s->Reset();
      return absl::OkStatus();
    });
    if (!read.ok()) {
      spdlog::error("events: replay {} cannot read archive {}: {}", name, archive, std::string(read.message()));
      state = "FAILED";
      break;
    }
    if (rows.empty()) break;
    if (stop_flag_) return;  // stays RUNNING: the next start resumes from the cursor
    std::unique_lock lock(mu_);
    if (replays_[name].value("State", "") == "CANCELLING") {
      state = "CANCELLED";
      break;
    }
    auto bus = FindBus(dest.value("Arn", ""));
    if (!bus.ok()) {
      state = "FAILED";
      break;
    }
    Work work;
    for (const auto& row : rows) {
      Json event = ParseJson(row.event, kMaxStoredJsonDepth);
      if (!event.is_object()) continue;
      event["replay-name"] = name;
      Route(**bus, event.dump(), event, only.empty() ? nullptr : &only, work);
    }
    cursor_ms = rows.back().ms;
    cursor_seq = rows.back().seq;
    Json doc = replays_[name];
    doc["sluice:cursor_ms"] = cursor_ms;
    doc["sluice:cursor_seq"] = cursor_seq;
    auto st = Commit(work, [&](SqliteDb& db) -> absl::Status {
      ASSIGN_OR_RETURN(auto* s, db.Prepare("INSERT OR REPLACE INTO documents(kind, name, doc) VALUES(?,?,?)"));
      return s->Bind(1, "replay").Bind(2, name).Bind(3, doc.dump()).Run();
    });
    if (!st.ok()) {
      spdlog::error("events: replay {} could not be stored: {}", name, std::string(st.message()));
      state = "FAILED";
      break;
    }
    replays_[name] = doc;
  }
  std::unique_lock lock(mu_);
  Json& r = replays_[name];
  r["State"] = state;
  r["ReplayEndTime"] = EpochSeconds(absl::Now());
  r["EventLastReplayedTime"] = replay["EventEndTime"];
  (void)Save("replay", name, r);
}

}  // namespace sluice
