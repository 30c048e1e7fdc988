#include "events/scheduler.h"

#include <regex>

#include "absl/strings/cord.h"
#include "base/json.h"
#include "base/strings.h"
#include "base/time.h"
#include "http/aws_error.h"
#include "http/message.h"
#include "io/file.h"
#include "spdlog/spdlog.h"

namespace sluice {
namespace {

constexpr const char kCodePayload[] = "sluice.events/code";

absl::Status Error(absl::StatusCode code, const std::string& aws_code, const std::string& message) {
  absl::Status st(code, message);
  st.SetPayload(kCodePayload, absl::Cord(aws_code));
  return st;
}
absl::Status NotFound(const std::string& m) { return Error(absl::StatusCode::kNotFound, "ResourceNotFoundException", m); }
absl::Status Invalid(const std::string& m) { return Error(absl::StatusCode::kInvalidArgument, "ValidationException", m); }
absl::Status Conflict(const std::string& m) { return Error(absl::StatusCode::kAlreadyExists, "ConflictException", m); }

absl::Time FromSeconds(double s) { return absl::FromUnixMillis(static_cast<int64_t>(s * 1000)); }

absl::Status CheckName(const std::string& what, const std::string& name) {
  static const std::regex kName("[0-9a-zA-Z\\-_.]+");
  if (name.empty() || name.size() > 64 || !std::regex_match(name, kName)) {
    return Invalid(StrCat("1 validation error detected: Value '", name, "' at '", what,
                          "' failed to satisfy constraint: Member must satisfy regular expression pattern: "
                          "[0-9a-zA-Z-_.]+ and have length between 1 and 64"));
  }
  return absl::OkStatus();
}

}  // namespace

Scheduler::Scheduler(EventBridge& events, EventsOptions options) : events_(events), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Open(const std::string& dir, EventBridge& events,
                                                           EventsOptions options) {
  RETURN_IF_ERROR(MakeDirs(dir));
  std::unique_ptr<Scheduler> s(new Scheduler(events, std::move(options)));
  std::string path = dir + "/scheduler.db";
  ASSIGN_OR_RETURN(s->writer_, SqliteGroupWriter::Open(path));
  RETURN_IF_ERROR(s->writer_->Write([](SqliteDb& db) {
    return db.Exec(
        "CREATE TABLE IF NOT EXISTS documents(kind TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,"
        " PRIMARY KEY(kind, name)) WITHOUT ROWID;");
  }));
  s->readers_ = std::make_unique<SqliteReaderPool>(path);
  RETURN_IF_ERROR(s->Load());
  if (s->options_.start_threads) s->thread_ = std::thread(&Scheduler::Loop, s.get());
  return s;
}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::Status Scheduler::Load() {
  std::lock_guard lock(mu_);
  groups_["default"] = {{"Name", "default"}, {"Arn", GroupArn("default")}, {"State", "ACTIVE"},
                        {"CreationDate", 0.0}, {"LastModificationDate", 0.0}};
  return readers_->With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT kind, name, doc FROM documents"));
    s->Reset();
    for (;;) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      Json doc = ParseJson(s->Text(2), kMaxStoredJsonDepth);
      if (!doc.is_object()) continue;
      (s->Text(0) == "group" ? groups_ : schedules_)[s->Text(1)] = doc;
    }
    return absl::OkStatus();
  });
}

absl::Status Scheduler::Save(const std::string& kind, const std::string& name, const Json& doc) {
  return writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("INSERT OR REPLACE INTO documents(kind, name, doc) VALUES(?,?,?)"));
    return s->Bind(1, kind).Bind(2, name).Bind(3, doc.dump()).Run();
  });
}

absl::Status Scheduler::Erase(const std::string& kind, const std::string& name) {
  return writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("DELETE FROM documents WHERE kind=? AND name=?"));
    return s->Bind(1, kind).Bind(2, name).Run();
  });
}

std::string Scheduler::ScheduleArn(const std::string& group, const std::string& name) const {
  return StrCat("arn:aws:scheduler:", options_.region, ":", options_.account, ":schedule/", group, "/", name);
}

std::string Scheduler::GroupArn(const std::string& group) const {
  return StrCat("arn:aws:scheduler:", options_.region, ":", options_.account, ":schedule-group/", group);
}

absl::StatusOr<Json> Scheduler::Put(const std::string& name, const Json& body, bool create) {
  RETURN_IF_ERROR(CheckName("name", name));
  std::string group = body.value("GroupName", "default");
  for (const char* k : {"ScheduleExpression", "FlexibleTimeWindow", "Target"}) {
    if (!body.contains(k)) return Invalid(StrCat("1 validation error detected: Value null at '", k, "' failed to satisfy constraint: Member must not be null"));
  }
  auto schedule = events::Schedule::Parse(body.value("ScheduleExpression", ""), body.value("ScheduleExpressionTimezone", ""));
  if (!schedule.ok()) return Invalid(std::string(schedule.status().message()));
  const Json& window = body["FlexibleTimeWindow"];
  std::string mode = window.value("Mode", "");
  if (mode != "OFF" && mode != "FLEXIBLE") return Invalid("FlexibleTimeWindow.Mode must be OFF or FLEXIBLE.");
  if (mode == "FLEXIBLE" && !window.contains("MaximumWindowInMinutes")) {
    return Invalid("MaximumWindowInMinutes must be provided when the mode is FLEXIBLE.");
  }
  const Json& target = body["Target"];
  std::string arn = target.value("Arn", "");
  auto parts = Split(arn, ':');
  if (parts.size() < 6 || parts[0] != "arn" || !target.contains("RoleArn")) {
    return Invalid("Target needs an Arn (arn:aws:...) and a RoleArn.");
  }
  std::string service(parts[2]);
  if (!events_.CanDeliver(service)) {
    return Invalid(StrCat("Sluice cannot deliver to ", service, " targets yet (no ", service,
                          " service); event buses are supported"));
  }
  if (service == "events" && !target.contains("EventBridgeParameters")) {
    return Invalid("An event bus target needs EventBridgeParameters (DetailType and Source).");
  }
  std::string state = body.value("State", "ENABLED");
  if (state != "ENABLED" && state != "DISABLED") return Invalid("State must be ENABLED or DISABLED.");
  std::string after = body.value("ActionAfterCompletion", "NONE");
  if (after != "NONE" && after != "DELETE") return Invalid("ActionAfterCompletion must be NONE or DELETE.");
  if (body.contains("StartDate") && body.contains("EndDate") &&
      body["EndDate"].get<double>() <= body["StartDate"].get<double>()) {
    return Invalid("The EndDate must be after the StartDate.");
  }

  std::lock_guard lock(mu_);
  if (!groups_.contains(group)) return NotFound(StrCat("Schedule group ", group, " does not exist."));
  std::string key = StrCat(group, "/", name);
  auto it = schedules_.find(key);
  if (create && it != schedules_.end()) return Conflict(StrCat("Schedule ", name, " already exists."));
  if (!create && it == schedules_.end()) return NotFound(StrCat("Schedule ", name, " does not exist."));
  double now = EpochSeconds(absl::Now());
  Json doc = {{"Name", name}, {"GroupName", group}, {"Arn", ScheduleArn(group, name)}, {"State", state},
              {"ScheduleExpression", body["ScheduleExpression"]}, {"FlexibleTimeWindow", window}, {"Target", target},
              {"ActionAfterCompletion", after}, {"CreationDate", create ? now : it->second.value("CreationDate", now)},
              {"LastModificationDate", now}};
  for (const char* k : {"ScheduleExpressionTimezone", "StartDate", "EndDate", "Description", "KmsKeyArn"}) {
    if (body.contains(k)) doc[k] = body[k];
  }
  // rate() counts from StartDate or from now; an unchanged expression keeps its last slot.
  doc["sluice:anchor"] = body.value("StartDate", now);
  if (!create && it->second.value("ScheduleExpression", "") == doc["ScheduleExpression"] &&
      it->second.contains("sluice:last_fired")) {
    doc["sluice:last_fired"] = it->second["sluice:last_fired"];
  }
  RETURN_IF_ERROR(Save("schedule", key, doc));
  schedules_[key] = doc;
  return Json{{"ScheduleArn", doc["Arn"]}};
}

absl::StatusOr<Json> Scheduler::Call(const std::string& method, const std::string& path, const HttpRequest& req,
                                     const Json& body) {
  // Last-resort guard: a member of the wrong JSON type is the caller's error; anything else
  // fails this one request, never the server.
  try {
    return Dispatch(method, path, req, body);
  } catch (const nlohmann::json::exception& e) {
    return Invalid(StrCat("Malformed input: ", e.what()));
  } catch (const std::exception& e) {
    spdlog::error("scheduler: {} {} failed: {}", method, path, e.what());
    return Error(absl::StatusCode::kInternal, "InternalServerException", StrCat("Internal error: ", e.what()));
  }
}

absl::StatusOr<Json> Scheduler::Dispatch(const std::string& method, const std::string& path, const HttpRequest& req,
                                         const Json& body) {
  std::vector<std::string> seg;
  for (auto s : Split(path, '/')) {
    if (!s.empty()) seg.push_back(UriDecode(s));
  }
  auto query = [&](const char* name, const std::string& fallback = "") {
    const std::string* v = req.Query(name);
    return v ? *v : fallback;
  };
  auto page = [&](std::vector<Json> items, const char* field) {
    size_t start = 0, max = 100;
    ParseNumber(query("NextToken", "0"), &start);
    ParseNumber(query("MaxResults", "100"), &max);
    max = std::clamp<size_t>(max, 1, 100);
    Json out = {{field, Json::array()}};
    for (size_t i = start; i < items.size() && i < start + max; ++i) out[field].push_back(std::move(items[i]));
    if (start + max < items.size()) out["NextToken"] = std::to_string(start + max);
    return out;
  };
  if (!seg.empty() && seg[0] == "schedules") {
    if (seg.size() == 1 && method == "GET") {
      std::lock_guard lock(mu_);
      std::string group = query("ScheduleGroup"), prefix = query("NamePrefix"), state = query("State");
      std::vector<Json> items;
      for (const auto& [key, s] : schedules_) {
        if (!group.empty() && s.value("GroupName", "") != group) continue;
        if (!s.value("Name", "").starts_with(prefix)) continue;
        if (!state.empty() && s.value("State", "") != state) continue;
        items.push_back({{"Arn", s["Arn"]}, {"Name", s["Name"]}, {"GroupName", s["GroupName"]}, {"State", s["State"]},
                         {"CreationDate", s["CreationDate"]}, {"LastModificationDate", s["LastModificationDate"]},
                         {"Target", {{"Arn", s["Target"].value("Arn", "")}}}});
      }
      return page(std::move(items), "Schedules");
    }
    if (seg.size() != 2) return NotFound(StrCat("No such resource: ", path));
    const std::string& name = seg[1];
    if (method == "POST") return Put(name, body, true);
    if (method == "PUT") return Put(name, body, false);
    std::string group = query("groupName", "default");
    std::lock_guard lock(mu_);
    auto it = schedules_.find(StrCat(group, "/", name));
    if (it == schedules_.end()) return NotFound(StrCat("Schedule ", name, " does not exist."));
    if (method == "GET") {
      Json out = it->second;
      for (const char* k : {"sluice:anchor", "sluice:last_fired"}) out.erase(k);
      return out;
    }
    if (method == "DELETE") {
      RETURN_IF_ERROR(Erase("schedule", it->first));
      schedules_.erase(it);
      return Json::object();
    }
  }
  if (!seg.empty() && seg[0] == "schedule-groups") {
    std::lock_guard lock(mu_);
    if (seg.size() == 1 && method == "GET") {
      std::vector<Json> items;
      for (const auto& [n, g] : groups_) {
        if (!n.starts_with(query("NamePrefix"))) continue;
        Json d = g;
        d.erase("Tags");
        items.push_back(d);
      }
      return page(std::move(items), "ScheduleGroups");
    }
    if (seg.size() != 2) return NotFound(StrCat("No such resource: ", path));
    const std::string& name = seg[1];
    auto it = groups_.find(name);
    if (method == "POST") {
      RETURN_IF_ERROR(CheckName("name", name));
      if (it != groups_.end()) return Conflict(StrCat("Schedule group ", name, " already exists."));
      double now = EpochSeconds(absl::Now());
      Json g = {{"Name", name}, {"Arn", GroupArn(name)}, {"State", "ACTIVE"}, {"CreationDate", now},
                {"LastModificationDate", now}, {"Tags", body.value("Tags", Json::array())}};
      RETURN_IF_ERROR(Save("group", name, g));
      groups_[name] = g;
      return Json{{"ScheduleGroupArn", g["Arn"]}};
    }
    if (it == groups_.end()) return NotFound(StrCat("Schedule group ", name, " does not exist."));
    if (method == "GET") {
      Json d = it->second;
      d.erase("Tags");
      return d;
    }
    if (method == "DELETE") {
      if (name == "default") return Invalid("The default schedule group cannot be deleted.");
      // Deleting a group deletes its schedules, as AWS does.
      for (auto s = schedules_.begin(); s != schedules_.end();) {
        if (s->second.value("GroupName", "") == name) {
          RETURN_IF_ERROR(Erase("schedule", s->first));
          s = schedules_.erase(s);
        } else {
          ++s;
        }
      }
      RETURN_IF_ERROR(Erase("group", name));
      groups_.erase(it);
      return Json::object();
    }
  }
  if (!seg.empty() && seg[0] == "tags" && seg.size() >= 2) {
    std::string arn = path.substr(path.find("/tags/") + 6);
    arn = UriDecode(arn);
    std::lock_guard lock(mu_);
    for (auto& [n, g] : groups_) {
      if (g.value("Arn", "") != arn) continue;
      Json tags = g.value("Tags", Json::array());
      if (method == "GET") return Json{{"Tags", tags}};
      std::map<std::string, std::string> m;
      for (const auto& t : tags) m[t.value("Key", "")] = t.value("Value", "");
      if (method == "POST") {
        for (const auto& t : body.value("Tags", Json::array())) m[t.value("Key", "")] = t.value("Value", "");
      } else {
        for (const auto& [k, v] : req.query) {
          if (k == "TagKeys") m.erase(v);
        }
      }
      Json next = Json::array();
      for (const auto& [k, v] : m) next.push_back({{"Key", k}, {"Value", v}});
      g["Tags"] = next;
      if (n != "default") RETURN_IF_ERROR(Save("group", n, g));
      return Json::object();
    }
    return NotFound(StrCat("Resource ", arn, " does not exist."));
  }
  return NotFound(StrCat("No such resource: ", method, " ", path));
}

void Scheduler::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    RunDue(absl::Now());
    lock.lock();
    cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_; });
  }
}

void Scheduler::RunDue(absl::Time now) {
  std::lock_guard serial(run_mu_);
  struct Due {
    std::string key;
    Json target;
    Json fired;  // the schedule document with this slot recorded
    bool remove;
  };
  std::vector<Due> due;
  {
    std::lock_guard lock(mu_);
    for (auto& [key, s] : schedules_) {
      // Last-resort guard: a schedule that cannot be evaluated is skipped (and logged), not a crash.
      try {
        if (s.value("State", "") != "ENABLED") continue;
        auto schedule = events::Schedule::Parse(s.value("ScheduleExpression", ""), s.value("ScheduleExpressionTimezone", ""));
        if (!schedule.ok()) continue;
        absl::Time anchor = FromSeconds(s.value("sluice:anchor", 0.0));
        absl::Time from = s.contains("sluice:last_fired") ? FromSeconds(s["sluice:last_fired"].get<double>())
                                                          : (schedule->is_rate() ? anchor : anchor - absl::Seconds(1));
        if (s.contains("StartDate") && !s.contains("sluice:last_fired")) {
          from = std::max(from, FromSeconds(s["StartDate"].get<double>()) - absl::Seconds(1));
        }
        auto next = schedule->Next(from, anchor);
        if (!next || *next > now) continue;
        // The latest due slot; missed ones are not caught up one by one.
        absl::Time slot = *next;
        for (int i = 0; i < 100000; ++i) {
          auto later = schedule->Next(slot, anchor);
          if (!later || *later > now) break;
          slot = *later;
        }
        if (s.contains("EndDate") && slot > FromSeconds(s["EndDate"].get<double>())) continue;
        Json fired = s;
        fired["sluice:last_fired"] = EpochSeconds(slot);
        bool last = schedule->is_at() || !schedule->Next(slot, anchor) ||
                    (s.contains("EndDate") && *schedule->Next(slot, anchor) > FromSeconds(s["EndDate"].get<double>()));
        bool remove = last && s.value("ActionAfterCompletion", "NONE") == "DELETE";
        due.push_back({key, s["Target"], std::move(fired), remove});
      } catch (const std::exception& e) {
        spdlog::error("scheduler: schedule {} cannot be evaluated: {}", key, e.what());
      }
    }
  }
  for (auto& d : due) {
    // The firing is queued durably in EventBridge's outbox (delivered at least once, with the
    // target's RetryPolicy and DeadLetterConfig) before the slot is recorded here: a crash in
    // between fires the slot again after the restart; a slot never fires zero times.
    std::string input = d.target.is_object() && d.target.contains("Input") && d.target["Input"].is_string()
                            ? d.target["Input"].get<std::string>()
                            : "{}";
    if (auto st = events_.Invoke(d.target, input); !st.ok()) {
      spdlog::error("scheduler: schedule {} could not fire (retried next tick): {}", d.key, std::string(st.message()));
      continue;
    }
    std::lock_guard lock(mu_);
    auto it = schedules_.find(d.key);
    if (it == schedules_.end()) continue;  // deleted meanwhile
    if (it->second.value("LastModificationDate", 0.0) != d.fired.value("LastModificationDate", 0.0)) {
      continue;  // updated meanwhile: the new definition stands
    }
    auto st = d.remove ? Erase("schedule", d.key) : Save("schedule", d.key, d.fired);
    if (!st.ok()) {
      spdlog::error("scheduler: schedule {}: the fired slot could not be recorded: {}", d.key, std::string(st.message()));
      continue;
    }
    if (d.remove) {
      schedules_.erase(it);
    } else {
      it->second = d.fired;
    }
  }
}

ServiceRoute MakeSchedulerService(Scheduler& scheduler) {
  ServiceRoute route;
  route.signing_name = "scheduler";
  route.protocol = AwsProtocol::kJson;
  route.handler = [&scheduler](HttpRequest& req, const SigV4Auth&) -> std::unique_ptr<Operation> {
    std::string request_id = req.request_id;
    const HttpRequest* request = &req;
    return std::make_unique<BufferedOperation>(
        [&scheduler, request, request_id](std::string text) {
          Json body = StripWhitespace(text).empty() ? Json::object() : ParseJson(text);
          absl::StatusOr<Json> out =
              body.is_object() ? scheduler.Call(request->method, request->path, *request, body)
                               : absl::StatusOr<Json>(Error(absl::StatusCode::kInvalidArgument, "ValidationException",
                                                            "The request body is not a JSON object."));
          HttpResponse r;
          if (!out.ok()) {
            std::string code = EventsErrorCode(out.status());
            int status = code == "ResourceNotFoundException" ? 404 : code == "ConflictException" ? 409
                         : code == "InternalException" || code == "InternalServerException" ? 500
                                                                                            : 400;
            r = RenderError(AwsProtocol::kJson, AwsError{status, code, std::string(out.status().message()), {}}, request_id);
            r.SetHeader("Content-Type", "application/json");
            return r;
          }
          r.SetHeader("Content-Type", "application/json");
          r.SetHeader("x-amzn-RequestId", request_id);
          r.body = out->dump();
          return r;
        },
        1 << 20, AwsProtocol::kJson, request_id);
  };
  return route;
}

}  // namespace sluice
