// Glue Data Quality: rulesets, evaluation runs, results.
#include "base/strings.h"
#include "glue/api.h"

namespace sluice {

JsonReply DataQualityAction(DataQuality& dq, const std::string& action, const Json& in) {
  if (action == "CreateDataQualityRuleset") {
    if (JsonString(in, "Name").empty()) return Missing("Name");
    if (!in.contains("Ruleset")) return Missing("Ruleset");
    auto st = dq.CreateRuleset(in);
    return st.ok() ? Ok({{"Name", in["Name"]}}) : FromStatus(st);
  }
  if (action == "GetDataQualityRuleset") {
    auto r = dq.GetRuleset(JsonString(in, "Name"));
    return r.ok() ? Ok(*r) : FromStatus(r.status());
  }
  if (action == "ListDataQualityRulesets") {
    auto all = dq.ListRulesets(in.value("Filter", Json::object()));
    return all.ok() ? Ok(Page(std::move(*all), in, "Rulesets")) : FromStatus(all.status());
  }
  if (action == "UpdateDataQualityRuleset") {
    if (JsonString(in, "Name").empty()) return Missing("Name");
    auto r = dq.UpdateRuleset(in);
    return r.ok() ? Ok(*r) : FromStatus(r.status());
  }
  if (action == "DeleteDataQualityRuleset") {
    auto st = dq.DeleteRuleset(JsonString(in, "Name"));
    return st.ok() ? Ok() : FromStatus(st);
  }
  if (action == "StartDataQualityRulesetEvaluationRun") {
    if (!in.contains("DataSource")) return Missing("DataSource");
    if (!in.contains("Role")) return Missing("Role");
    if (!in.contains("RulesetNames")) return Missing("RulesetNames");
    auto id = dq.StartRun(in);
    return id.ok() ? Ok({{"RunId", *id}}) : FromStatus(id.status());
  }
  if (action == "GetDataQualityRulesetEvaluationRun") {
    auto r = dq.GetRun(JsonString(in, "RunId"));
    return r.ok() ? Ok(*r) : FromStatus(r.status());
  }
  if (action == "GetDataQualityResult") {
    auto r = dq.GetResult(JsonString(in, "ResultId"));
    return r.ok() ? Ok(*r) : FromStatus(r.status());
  }
  if (action == "ListDataQualityResults") {
    auto all = dq.ListResults(in.value("Filter", Json::object()));
    return all.ok() ? Ok(Page(std::move(*all), in, "Results")) : FromStatus(all.status());
  }
  return JsonReply::Error(400, "InvalidAction", StrCat("Sluice does not implement Glue ", action, " yet."));
}

}  // namespace sluice
