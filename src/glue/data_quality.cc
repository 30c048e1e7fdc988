#include "glue/data_quality.h"

#include <algorithm>
#include <random>

#include "base/ids.h"
#include "base/strings.h"
#include "base/time.h"

namespace sluice {
namespace {

// Glue's Timestamp filters arrive as epoch seconds.
bool Within(const Json& doc, const char* field, const Json& filter, const char* after, const char* before) {
  double t = doc.value(field, 0.0);
  if (filter.contains(after) && filter[after].is_number() && t <= filter[after].get<double>()) return false;
  if (filter.contains(before) && filter[before].is_number() && t >= filter[before].get<double>()) return false;
  return true;
}

absl::Status ValidateName(const std::string& name) {
  if (name.empty() || name.size() > 255) {
    return absl::InvalidArgumentError("Name must be between 1 and 255 characters long");
  }
  return absl::OkStatus();
}

}  // namespace

DataQuality::~DataQuality() { Stop(); }

void DataQuality::Stop() {
  std::unique_lock lock(mu_);
  stopping_ = true;
  idle_.wait(lock, [&] { return running_ == 0; });
}

absl::Status DataQuality::CreateRuleset(const Json& input) {
  std::string name = input.value("Name", "");
  RETURN_IF_ERROR(ValidateName(name));
  std::string text = input.value("Ruleset", "");
  if (text.size() > 65536) return absl::InvalidArgumentError("Ruleset must be at most 65536 characters long");
  auto parsed = dq::Parse(text);
  if (!parsed.ok()) return absl::InvalidArgumentError(StrCat("Invalid DQDL ruleset: ", parsed.status().message()));
  double now = EpochSeconds(absl::Now());
  Json doc = {{"Name", name}, {"Ruleset", text}, {"CreatedOn", now}, {"LastModifiedOn", now},
              {"RuleCount", parsed->rules.size()}};
  if (input.contains("Description")) doc["Description"] = input["Description"];
  if (input.contains("TargetTable")) doc["TargetTable"] = input["TargetTable"];
  if (input.contains("Tags")) doc["Tags"] = input["Tags"];
  auto st = catalog_.PutDocument("dq_ruleset", name, doc, /*create=*/true);
  if (absl::IsAlreadyExists(st)) return absl::AlreadyExistsError(StrCat("Ruleset ", name, " already exists"));
  return st;
}

absl::StatusOr<Json> DataQuality::GetRuleset(const std::string& name) {
  auto doc = catalog_.GetDocument("dq_ruleset", name);
  if (absl::IsNotFound(doc.status())) return absl::NotFoundError(StrCat("Cannot find Data Quality Ruleset in account: ", name));
  RETURN_IF_ERROR(doc.status());
  doc->erase("RuleCount");
  doc->erase("Tags");
  return doc;
}

absl::StatusOr<std::vector<Json>> DataQuality::ListRulesets(const Json& filter) {
  ASSIGN_OR_RETURN(auto all, catalog_.ListDocuments("dq_ruleset"));
  std::vector<Json> out;
  for (auto& d : all) {
    if (filter.is_object()) {
      if (filter.contains("Name") && filter["Name"] != d.value("Name", "")) continue;
      if (filter.contains("Description") && d.value("Description", "").find(filter.value("Description", "")) == std::string::npos) continue;
      if (filter.contains("TargetTable") && filter["TargetTable"] != d.value("TargetTable", Json())) continue;
      if (!Within(d, "CreatedOn", filter, "CreatedAfter", "CreatedBefore")) continue;
      if (!Within(d, "LastModifiedOn", filter, "LastModifiedAfter", "LastModifiedBefore")) continue;
    }
    d.erase("Ruleset");
    d.erase("Tags");
    out.push_back(std::move(d));
  }
  return out;
}

absl::StatusOr<Json> DataQuality::UpdateRuleset(const Json& input) {
  std::string name = input.value("Name", "");
  ASSIGN_OR_RETURN(Json doc, GetRuleset(name));
  if (auto stored = catalog_.GetDocument("dq_ruleset", name); stored.ok()) doc = *stored;
  if (input.contains("Ruleset")) {
    std::string text = input.value("Ruleset", "");
    auto parsed = dq::Parse(text);
    if (!parsed.ok()) return absl::InvalidArgumentError(StrCat("Invalid DQDL ruleset: ", parsed.status().message()));
    doc["Ruleset"] = text;
    doc["RuleCount"] = parsed->rules.size();
  }
  if (input.contains("Description")) doc["Description"] = input["Description"];
  doc["LastModifiedOn"] = EpochSeconds(absl::Now());
  std::string new_name = input.value("UpdatedName", "");
  if (!new_name.empty() && new_name != name) {
    RETURN_IF_ERROR(ValidateName(new_name));
    doc["Name"] = new_name;
    auto st = catalog_.PutDocument("dq_ruleset", new_name, doc, /*create=*/true);
    if (absl::IsAlreadyExists(st)) return absl::AlreadyExistsError(StrCat("Ruleset ", new_name, " already exists"));
    RETURN_IF_ERROR(st);
    RETURN_IF_ERROR(catalog_.DeleteDocument("dq_ruleset", name));
  } else {
    RETURN_IF_ERROR(catalog_.PutDocument("dq_ruleset", name, doc, /*create=*/false));
  }
  Json out = {{"Name", doc["Name"]}, {"Ruleset", doc["Ruleset"]}};
  if (doc.contains("Description")) out["Description"] = doc["Description"];
  return out;
}

absl::Status DataQuality::DeleteRuleset(const std::string& name) {
  auto st = catalog_.DeleteDocument("dq_ruleset", name);
  if (absl::IsNotFound(st)) return absl::NotFoundError(StrCat("Cannot find Data Quality Ruleset in account: ", name));
  return st;
}

absl::StatusOr<std::string> DataQuality::StartRun(const Json& input) {
  const Json& table = input.value("DataSource", Json::object()).value("GlueTable", Json::object());
  std::string db = AsciiLower(table.value("DatabaseName", "")), name = AsciiLower(table.value("TableName", ""));
  if (db.empty() || name.empty()) return absl::InvalidArgumentError("DataSource.GlueTable needs DatabaseName and TableName");
  RETURN_IF_ERROR(catalog_.GetTable(db, name).status());
  const Json& names = input.value("RulesetNames", Json::array());
  if (!names.is_array() || names.empty() || names.size() > 10) {
    return absl::InvalidArgumentError("RulesetNames must name between 1 and 10 rulesets");
  }
  for (const auto& n : names) {
    if (!n.is_string()) return absl::InvalidArgumentError("RulesetNames must be strings");
    RETURN_IF_ERROR(GetRuleset(n.get<std::string>()).status());
  }
  std::string id = "dqrun-" + RandomHex(40);
  Json source = input["DataSource"];
  source["GlueTable"]["DatabaseName"] = db;  // Glue keeps catalog names lower-case
  source["GlueTable"]["TableName"] = name;
  Json run = {{"RunId", id}, {"DataSource", source}, {"Role", input.value("Role", "")},
              {"Status", "STARTING"}, {"StartedOn", EpochSeconds(absl::Now())}, {"LastModifiedOn", EpochSeconds(absl::Now())}, {"RulesetNames", names},
              {"ResultIds", Json::array()}, {"ExecutionTime", 0}};
  for (const char* k : {"NumberOfWorkers", "Timeout", "AdditionalRunOptions"}) {
    if (input.contains(k)) run[k] = input[k];
  }
  RETURN_IF_ERROR(catalog_.PutDocument("dq_run", id, run, /*create=*/true));
  RETURN_IF_ERROR(Launch(id, run));
  return id;
}

absl::Status DataQuality::Init() {
  // Evaluations the previous process did not finish run again (an evaluation only reads).
  ASSIGN_OR_RETURN(auto runs, catalog_.ListDocuments("dq_run"));
  for (auto& run : runs) {
    try {
      std::string status = run.value("Status", "");
      std::string id = run.value("RunId", "");
      if ((status != "STARTING" && status != "RUNNING") || id.empty()) continue;
      run["ResultIds"] = Json::array();
      RETURN_IF_ERROR(Launch(id, run));
    } catch (const std::exception&) {
      continue;  // a record of the wrong shape: nothing to resume
    }
  }
  return absl::OkStatus();
}

absl::Status DataQuality::Launch(const std::string& id, const Json& run) {
  std::lock_guard lock(mu_);
  if (stopping_) return absl::UnavailableError("the server is stopping");
  ++running_;
  std::thread([this, id, run] {
    Evaluate(id, run);
    std::lock_guard done(mu_);
    if (--running_ == 0) idle_.notify_all();
  }).detach();
  return absl::OkStatus();
}

void DataQuality::Evaluate(std::string run_id, Json run) {
  try {
    EvaluateRun(run_id, run);
  } catch (const std::exception& e) {
    // No exception leaves the run's thread: the run fails.
    try {
      run["Status"] = "FAILED";
      run["ErrorString"] = StrCat("Internal error in the evaluation: ", e.what());
      run["CompletedOn"] = run["LastModifiedOn"] = EpochSeconds(absl::Now());
      (void)catalog_.PutDocument("dq_run", run_id, run, false);
    } catch (const std::exception&) {
    }
  }
}

void DataQuality::EvaluateRun(const std::string& run_id, Json& run) {
  absl::Time started = absl::Now();
  run["Status"] = "RUNNING";
  (void)catalog_.PutDocument("dq_run", run_id, run, false);
  const Json& source = run["DataSource"]["GlueTable"];
  std::string db = AsciiLower(source.value("DatabaseName", "")), name = AsciiLower(source.value("TableName", ""));
  absl::Status st = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(Json table, catalog_.GetTable(db, name));
    table["DatabaseName"] = db;
    uint64_t bytes = 0;
    ASSIGN_OR_RETURN(std::string scan, engine_.TableScan(table, nullptr, &bytes));
    ASSIGN_OR_RETURN(auto con, db_.Connect());
    for (const auto& n : run["RulesetNames"]) {
      ASSIGN_OR_RETURN(Json ruleset, GetRuleset(n.get<std::string>()));
      ASSIGN_OR_RETURN(dq::Ruleset rules, dq::Parse(ruleset.value("Ruleset", "")));
      ASSIGN_OR_RETURN(Json result, Record(rules, StrCat("(", scan, ")"), *con,
                                           {{"RulesetName", n}, {"DataSource", run["DataSource"]},
                                            {"RulesetEvaluationRunId", run_id}}));
      run["ResultIds"].push_back(result["ResultId"]);
    }
    return absl::OkStatus();
  }();
  run["Status"] = st.ok() ? "SUCCEEDED" : "FAILED";
  if (!st.ok()) run["ErrorString"] = std::string(st.message());
  run["CompletedOn"] = run["LastModifiedOn"] = EpochSeconds(absl::Now());
  run["ExecutionTime"] = absl::ToInt64Seconds(absl::Now() - started);
  (void)catalog_.PutDocument("dq_run", run_id, run, false);
}

absl::StatusOr<Json> DataQuality::GetRun(const std::string& run_id) {
  auto doc = catalog_.GetDocument("dq_run", run_id);
  if (absl::IsNotFound(doc.status())) return absl::NotFoundError(StrCat("Cannot find Data Quality run: ", run_id));
  return doc;
}

absl::StatusOr<Json> DataQuality::GetResult(const std::string& result_id) {
  auto doc = catalog_.GetDocument("dq_result", result_id);
  if (absl::IsNotFound(doc.status())) return absl::NotFoundError(StrCat("Cannot find Data Quality result: ", result_id));
  return doc;
}

absl::StatusOr<std::vector<Json>> DataQuality::ListResults(const Json& filter) {
  ASSIGN_OR_RETURN(auto all, catalog_.ListDocuments("dq_result"));
  std::sort(all.begin(), all.end(), [](const Json& a, const Json& b) {
    return a.value("StartedOn", 0.0) > b.value("StartedOn", 0.0);
  });
  std::vector<Json> out;
  for (const auto& d : all) {
    if (filter.is_object()) {
      if (filter.contains("JobName") && filter["JobName"] != d.value("JobName", "")) continue;
      if (filter.contains("JobRunId") && filter["JobRunId"] != d.value("JobRunId", "")) continue;
      if (filter.contains("DataSource") && filter["DataSource"] != d.value("DataSource", Json())) continue;
      if (!Within(d, "StartedOn", filter, "StartedAfter", "StartedBefore")) continue;
    }
    Json desc = {{"ResultId", d["ResultId"]}, {"StartedOn", d["StartedOn"]}};
    for (const char* k : {"DataSource", "JobName", "JobRunId"}) {
      if (d.contains(k)) desc[k] = d[k];
    }
    out.push_back(std::move(desc));
  }
  return out;
}

absl::StatusOr<Json> DataQuality::Record(const dq::Ruleset& rules, const std::string& relation, Connection& con,
                                         Json fields) {
  double started = EpochSeconds(absl::Now());
  ASSIGN_OR_RETURN(dq::Evaluation eval, dq::Evaluate(rules, relation, con));
  Json result = std::move(fields);
  result["ResultId"] = "dqresult-" + RandomHex(40);
  result["Score"] = eval.score;
  result["StartedOn"] = started;
  result["CompletedOn"] = EpochSeconds(absl::Now());
  result["RuleResults"] = Json::array();
  for (const auto& r : eval.rules) {
    Json rr = {{"Name", r.name}, {"Description", r.description}, {"Result", r.result},
               {"EvaluatedMetrics", Json::object()}};
    if (!r.evaluation_message.empty()) rr["EvaluationMessage"] = r.evaluation_message;
    for (const auto& [k, v] : r.evaluated_metrics) rr["EvaluatedMetrics"][k] = v;
    result["RuleResults"].push_back(std::move(rr));
  }
  RETURN_IF_ERROR(catalog_.PutDocument("dq_result", result["ResultId"].get<std::string>(), result, /*create=*/true));
  return result;
}

}  // namespace sluice
