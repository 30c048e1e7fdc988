// Glue ETL jobs: CreateJob ... BatchStopJobRun, GetJobBookmark, ResetJobBookmark.
#include "base/strings.h"
#include "glue/api.h"

namespace sluice {
namespace {

JsonReply JobError(const absl::Status& st) {
  if (absl::IsResourceExhausted(st)) {
    return JsonReply::Error(400, "ConcurrentRunsExceededException", std::string(st.message()));
  }
  if (absl::IsFailedPrecondition(st)) return JsonReply::Error(400, "InvalidInputException", std::string(st.message()));
  return FromStatus(st);
}

}  // namespace

JsonReply JobAction(Jobs& jobs, const std::string& action, const Json& in) {
  std::string name = JsonString(in, action == "CreateJob" ? "Name" : "JobName");
  if (action == "CreateJob") {
    if (name.empty()) return Missing("Name");
    if (!in.contains("Role")) return Missing("Role");
    if (!in.contains("Command")) return Missing("Command");
    auto st = jobs.Create(in);
    return st.ok() ? Ok({{"Name", name}}) : JobError(st);
  }
  if (action == "ListJobs" || action == "GetJobs") {
    auto all = jobs.List();
    if (!all.ok()) return JobError(all.status());
    if (action == "GetJobs") return Ok(Page(std::move(*all), in, "Jobs"));
    std::vector<Json> names;
    for (const auto& j : *all) names.push_back(j.value("Name", ""));
    return Ok(Page(std::move(names), in, "JobNames"));
  }
  if (name.empty()) return Missing("JobName");
  if (action == "GetJob") {
    auto job = jobs.Get(name);
    return job.ok() ? Ok({{"Job", *job}}) : JobError(job.status());
  }
  if (action == "UpdateJob") {
    if (!in.contains("JobUpdate")) return Missing("JobUpdate");
    auto st = jobs.Update(name, in["JobUpdate"]);
    return st.ok() ? Ok({{"JobName", name}}) : JobError(st);
  }
  if (action == "DeleteJob") {
    auto st = jobs.Delete(name);
    return st.ok() ? Ok({{"JobName", name}}) : JobError(st);
  }
  if (action == "StartJobRun") {
    auto id = jobs.StartRun(name, in);
    return id.ok() ? Ok({{"JobRunId", *id}}) : JobError(id.status());
  }
  if (action == "GetJobRun") {
    std::string run_id = JsonString(in, "RunId");
    if (run_id.empty()) return Missing("RunId");
    auto run = jobs.GetRun(name, run_id);
    return run.ok() ? Ok({{"JobRun", *run}}) : JobError(run.status());
  }
  if (action == "GetJobRuns") {
    auto runs = jobs.GetRuns(name);
    return runs.ok() ? Ok(Page(std::move(*runs), in, "JobRuns")) : JobError(runs.status());
  }
  if (action == "BatchStopJobRun") {
    if (!in.contains("JobRunIds") || !in["JobRunIds"].is_array()) return Missing("JobRunIds");
    Json ok = Json::array(), errors = Json::array();
    for (const auto& id : in["JobRunIds"]) {
      std::string run_id = id.is_string() ? id.get<std::string>() : "";
      auto st = jobs.StopRun(name, run_id);
      if (st.ok()) {
        ok.push_back({{"JobName", name}, {"JobRunId", run_id}});
      } else {
        JsonReply e = JobError(st);
        errors.push_back({{"JobName", name}, {"JobRunId", run_id},
                          {"ErrorDetail", {{"ErrorCode", e.error->code}, {"ErrorMessage", e.error->message}}}});
      }
    }
    return Ok({{"SuccessfulSubmissions", ok}, {"Errors", errors}});
  }
  if (action == "GetJobRunLogs") {
    // Sluice's own action (for `sluice logs`): a run's output or error stream.
    auto text = jobs.Logs(name, JsonString(in, "RunId"), in.value("Stream", "output"));
    return text.ok() ? Ok({{"Log", *text}}) : JobError(text.status());
  }
  if (action == "GetJobBookmark") {
    auto entry = jobs.GetBookmark(name);
    return entry.ok() ? Ok({{"JobBookmarkEntry", *entry}}) : JobError(entry.status());
  }
  if (action == "ResetJobBookmark") {
    auto entry = jobs.ResetBookmark(name, JsonString(in, "RunId"));
    return entry.ok() ? Ok({{"JobBookmarkEntry", *entry}}) : JobError(entry.status());
  }
  return JsonReply::Error(400, "InvalidAction", StrCat("Sluice does not implement Glue ", action, " yet."));
}

}  // namespace sluice
