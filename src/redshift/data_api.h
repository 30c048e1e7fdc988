#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/json_api.h"
#include "http/router.h"
#include "nlohmann/json.hpp"
#include "redshift/warehouse.h"

// The Redshift Data API (awsJson1_1, X-Amz-Target RedshiftData.<Action>, signing name
// redshift-data) over the warehouse: statements are queued and run asynchronously on a small
// pool of worker threads, each in its own WarehouseSession (Warehouse::Connect(database,
// user)), or in a kept session (SessionKeepAliveSeconds / SessionId). Finished statements and
// their result rows stay in memory, bounded (the last `max_statements`, at most `retention`
// old, at most `max_result_bytes` of result text in all), as AWS keeps results for 24 hours;
// statements do not survive a restart.
//
// Thread-safety: every public method may be called from any thread. Stop() cancels running
// statements, aborts queued ones and joins the workers; Handle() afterwards fails with
// InternalServerException. The Warehouse must outlive the service.
namespace sluice {

struct RedshiftDataOptions {
  int threads = 4;                       // statements that run at once
  size_t max_active = 500;               // SUBMITTED/PICKED/STARTED statements (AWS's quota)
  size_t max_statements = 1000;          // finished statements kept
  absl::Duration retention = absl::Hours(24);
  size_t max_result_bytes = 1ull << 30;  // result text kept in all; the oldest results go first
  size_t max_statement_result_bytes = 512ull << 20;  // one statement's result (AWS: 500 MB)
  // GetStatementResult pages: at most `page_rows` rows and about `page_bytes` of values
  // (AWS pages at 100 MB of response; a row-count page keeps replies small).
  size_t page_rows = 5000;
  size_t page_bytes = 16ull << 20;
  size_t max_sessions = 500;  // kept sessions
  std::string region = "us-east-1";
  std::string account = "000000000000";
  std::string default_database = "dev";  // used when a request names none (see README)
  std::string default_user = "awsuser";
  // WithEvent: receives the "Redshift Data Statement Status Change" event (source,
  // detail-type, detail, resources); the composition root publishes it on the default bus.
  std::function<void(nlohmann::json event)> publish_event;
};

class RedshiftDataService {
 public:
  RedshiftDataService(Warehouse& warehouse, RedshiftDataOptions options = {});
  ~RedshiftDataService();
  RedshiftDataService(const RedshiftDataService&) = delete;
  RedshiftDataService& operator=(const RedshiftDataService&) = delete;

  // One API action ("ExecuteStatement", ...) with its JSON input; AWS errors as JsonReply errors.
  JsonReply Handle(const std::string& action, const nlohmann::json& input);
  void Stop();

  struct Statement;  // data_api.cc
  struct KeptSession;

 private:
  JsonReply ExecuteStatement(const nlohmann::json& in, bool batch);
  JsonReply DescribeStatement(const nlohmann::json& in);
  JsonReply GetStatementResult(const nlohmann::json& in, bool csv);
  JsonReply ListStatements(const nlohmann::json& in);
  JsonReply CancelStatement(const nlohmann::json& in);
  JsonReply CancelLocked(const nlohmann::json& in);
  JsonReply ListDatabases(const nlohmann::json& in);
  JsonReply ListSchemas(const nlohmann::json& in);
  JsonReply ListTables(const nlohmann::json& in);
  JsonReply DescribeTable(const nlohmann::json& in);
  // A metadata query on a fresh session of the request's database.
  absl::StatusOr<WarehouseResult> Metadata(const nlohmann::json& in, const std::string& sql,
                                           const std::vector<std::optional<std::string>>& params);

  void Loop();
  void Run(const std::shared_ptr<Statement>& st);
  void Finish(const std::shared_ptr<Statement>& st);
  void Evict();  // REQUIRES: mu_ held
  // Publishes the WithEvent events Finish() queued; called without mu_ held, so that an
  // event's consumers may call back into the service.
  void PublishPending();

  Warehouse& warehouse_;
  RedshiftDataOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Statement>> statements_;  // by id
  std::deque<std::shared_ptr<Statement>> order_;                  // oldest first
  std::map<std::string, std::string> client_tokens_;              // ClientToken -> id
  std::deque<std::shared_ptr<Statement>> queue_;
  std::map<std::string, std::shared_ptr<KeptSession>> sessions_;  // by SessionId
  std::vector<nlohmann::json> pending_events_;
  size_t active_ = 0;
  size_t result_bytes_ = 0;
  int64_t next_query_id_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// The HTTP route (signing name redshift-data, target prefix RedshiftData).
ServiceRoute MakeRedshiftDataService(RedshiftDataService& service);

namespace redshift {
// Rewrites :name parameters (outside quotes, comments and :: casts) to $1.. and returns the
// values in order; InvalidArgument when the SQL names a parameter that `params` lacks.
absl::StatusOr<std::pair<std::string, std::vector<std::optional<std::string>>>> BindNamedParameters(
    const std::string& sql, const std::map<std::string, std::string>& params);
// Redshift's type name (int4, varchar, numeric, ...) for a DuckDB type name.
std::string RedshiftTypeName(const std::string& duckdb_type);
// A Data API Field ({"longValue": 1}, {"isNull": true}, ...) for a value of a DuckDB type.
nlohmann::json RedshiftField(const std::string& duckdb_type, const std::optional<std::string>& value);
// The ColumnMetadata of a result column.
nlohmann::json RedshiftColumnMetadata(const std::string& name, const std::string& duckdb_type);
// SQL LIKE with % and _ (the Data API's SchemaPattern/TablePattern), case-sensitive.
bool LikeMatch(std::string_view pattern, std::string_view text);
}  // namespace redshift

}  // namespace sluice
