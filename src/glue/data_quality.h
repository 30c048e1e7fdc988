#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "athena/engine.h"
#include "glue/catalog.h"
#include "glue/dqdl.h"
#include "sql/sql.h"

// Glue Data Quality: DQDL rulesets, evaluation runs over catalog tables, and results.
// Rulesets, runs and results are catalog documents (kinds "dq_ruleset", "dq_run",
// "dq_result"). An evaluation run reads the table through Athena's engine (the same scan
// Athena queries use) and evaluates each ruleset with dq::Evaluate on its own thread.
// Jobs record results of their EVALUATE DATA QUALITY statements through Record().
// Thread-safe. Errors: NotFound, AlreadyExists, InvalidArgument (bad DQDL: line and column).
namespace sluice {

class DataQuality {
 public:
  // All references must outlive the object.
  DataQuality(Catalog& catalog, athena::Engine& engine, Database& db) : catalog_(catalog), engine_(engine), db_(db) {}
  ~DataQuality();
  // Runs again the evaluation runs that were active when the previous process stopped.
  absl::Status Init();
  void Stop();

  absl::Status CreateRuleset(const Json& input);
  absl::StatusOr<Json> GetRuleset(const std::string& name);
  // DataQualityRulesetListDetails, filtered by ListDataQualityRulesets' Filter.
  absl::StatusOr<std::vector<Json>> ListRulesets(const Json& filter);
  absl::StatusOr<Json> UpdateRuleset(const Json& input);
  absl::Status DeleteRuleset(const std::string& name);

  // StartDataQualityRulesetEvaluationRun; returns the run id.
  absl::StatusOr<std::string> StartRun(const Json& input);
  absl::StatusOr<Json> GetRun(const std::string& run_id);
  absl::StatusOr<Json> GetResult(const std::string& result_id);
  // DataQualityResultDescription, newest first, filtered by ListDataQualityResults' Filter.
  absl::StatusOr<std::vector<Json>> ListResults(const Json& filter);

  // Evaluates `rules` on `relation` (see dq::Evaluate) and stores the result; `fields` are
  // merged into the stored DataQualityResult (RulesetName, JobName, JobRunId,
  // EvaluationContext, DataSource, RulesetEvaluationRunId). Returns the stored result.
  absl::StatusOr<Json> Record(const dq::Ruleset& rules, const std::string& relation, Connection& con, Json fields);

 private:
  // Starts the evaluation thread of a stored run.
  absl::Status Launch(const std::string& id, const Json& run);
  void Evaluate(std::string run_id, Json run);  // the run's thread: EvaluateRun, no exception escapes
  void EvaluateRun(const std::string& run_id, Json& run);

  Catalog& catalog_;
  athena::Engine& engine_;
  Database& db_;
  std::mutex mu_;
  std::condition_variable idle_;
  bool stopping_ = false;
  int running_ = 0;  // evaluation runs in flight (detached threads; Stop waits for them)
};

}  // namespace sluice
