#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "athena/engine.h"
#include "http/router.h"
#include "io/sqlite.h"

// The Athena service: query executions run on a pool of query threads, results kept in
// memory for GetQueryResults and written to the output location as <id>.csv and
// <id>.csv.metadata. The history survives restarts (<state_dir>/executions.db; rows are read
// back from the result files). Thread-safe. Stop() cancels running queries and joins the threads.
namespace sluice {

struct QueryExecution {
  std::string id, query, database, workgroup, output_location;
  std::vector<std::string> parameters;  // ExecutionParameters
  std::string state = "QUEUED";  // QUEUED RUNNING SUCCEEDED FAILED CANCELLED
  std::string state_change_reason, error_category, error_type, statement_type = "DML";
  absl::Time submitted, completed;
  int64_t engine_ms = 0, total_ms = 0, queue_ms = 0;
  uint64_t scanned = 0;
  int64_t update_count = 0;
  bool has_result_set = true;
  QueryResult result;
  Connection* running = nullptr;  // set while the query runs, for StopQueryExecution
  bool rows_loaded = true;        // false after a restart until GetQueryResults reads the CSV
};

class AthenaService {
 public:
  // All must outlive the service. `threads` queries run at once.
  // `state_dir` holds the query history (executions.db) and the engine's scratch folder.
  AthenaService(Catalog& catalog, ObjectStore& store, Database& db, std::string state_dir, int threads = 4);
  ~AthenaService();
  absl::Status Init();
  void Stop();
  // The engine, shared with Glue jobs and Data Quality (same views, same sandbox).
  athena::Engine& engine() { return engine_; }

  // Returns the new execution's id.
  absl::StatusOr<std::string> Start(const std::string& query, const std::string& database,
                                    const std::string& output_location, const std::string& workgroup,
                                    std::vector<std::string> parameters = {});
  std::optional<QueryExecution> Get(const std::string& id);  // without result rows
  // Rows [offset, offset+max) and the total count; NotFound / FailedPrecondition.
  absl::StatusOr<std::pair<QueryResult, size_t>> Results(const std::string& id, size_t offset, size_t max,
                                                         QueryExecution* info);
  std::vector<std::string> List(const std::string& workgroup);
  absl::Status Cancel(const std::string& id);

 private:
  void Loop();
  absl::Status Persist(const QueryExecution& q);
  // Reads a SUCCEEDED execution's rows back from its result files (after a restart).
  absl::Status LoadRows(QueryExecution& q);
  // Writes <id>.csv and <id>.csv.metadata; `q` is read for its id and output location only.
  absl::Status WriteResults(const QueryExecution& q, const QueryResult& result);

  Catalog& catalog_;
  ObjectStore& store_;
  Database& db_;
  std::string state_dir_;
  athena::Engine engine_;
  std::unique_ptr<SqliteGroupWriter> history_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<QueryExecution>> executions_;
  std::vector<std::string> order_;  // ids, oldest first
  std::deque<std::shared_ptr<QueryExecution>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  int thread_count_;
};

ServiceRoute MakeAthenaService(AthenaService& athena);

}  // namespace sluice
