#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "redshift/lexer.h"
#include "redshift/warehouse.h"
#include "sql/sql.h"

// Private to the module: the Warehouse and WarehouseSession implementations, shared by
// warehouse.cc (statements, transactions, errors), copy.cc, unload.cc, procedure.cc and
// spectrum.cc.
namespace sluice::redshift {

inline constexpr char kFunctionSchema[] = "memory.sluice_redshift";  // Redshift functions as macros
inline constexpr char kInternalSchema[] = "pg_internal";              // per database: sluice's own tables
inline constexpr char kVersion[] =
    "PostgreSQL 8.0.2 on i686-pc-linux-gnu, compiled by GCC gcc (GCC) 3.4.2 20041017 (Red Hat 3.4.2-6.fc3), "
    "Redshift 1.0.80000";

class WarehouseImpl;

class Session : public WarehouseSession {
 public:
  Session(WarehouseImpl& wh, std::unique_ptr<Connection> con, std::string database, std::string user);
  absl::Status Init();

  absl::StatusOr<std::vector<WarehouseResult>> Execute(const std::string& sql) override;
  absl::StatusOr<WarehouseResult> ExecuteParams(const std::string& sql,
                                                const std::vector<std::optional<std::string>>& params) override;
  absl::StatusOr<WarehouseResult> Describe(const std::string& sql) override;
  void Cancel() override;
  char TransactionStatus() const override { return status_; }
  const std::string& database() const override { return database_; }
  const std::string& user() const override { return user_; }

  // One statement, with the session's transaction rules (25P02 in a failed block).
  absl::StatusOr<WarehouseResult> RunStatement(const std::string& sql);
  // One Redshift statement without the transaction bookkeeping (procedures use it).
  absl::StatusOr<WarehouseResult> Dispatch(const std::string& sql);
  // DuckDB SQL on the session's connection; errors mapped to SQLSTATEs.
  absl::StatusOr<QueryResult> Duck(const std::string& sql);
  absl::Status DuckExec(const std::string& sql);
  // A client's statement (translated): checked against the warehouse's policy
  // (sql/guard.h) and run; refusals become 42501 / 0A000 / 42601.
  absl::StatusOr<QueryResult> DuckChecked(const std::string& sql);
  // The same check without running it (for client SQL sluice wraps: UNLOAD, DESCRIBE).
  absl::Status CheckClientSql(const std::string& sql);
  bool cancelled() const { return cancelled_.load(); }
  // Fails with 57014 when Cancel() was called during the current statement.
  absl::Status CheckCancelled() const;
  bool in_transaction() const { return status_ != 'I'; }
  WarehouseImpl& warehouse() { return wh_; }
  Connection& connection() { return *con_; }
  std::string Qualified(const std::string& schema_table) const;
  int64_t NextQueryId();

 private:
  absl::StatusOr<WarehouseResult> RunTranslated(const std::string& sql, const std::vector<Token>& tokens);
  absl::StatusOr<WarehouseResult> Set(const std::vector<Token>& tokens);
  absl::StatusOr<WarehouseResult> Show(const std::vector<Token>& tokens);
  absl::StatusOr<WarehouseResult> Copy(const std::string& sql);
  absl::StatusOr<WarehouseResult> Unload(const std::string& sql);
  absl::StatusOr<WarehouseResult> CreateProcedure(const std::string& sql);
  absl::StatusOr<WarehouseResult> DropProcedure(const std::string& sql);
  absl::StatusOr<WarehouseResult> Call(const std::string& sql);
  absl::StatusOr<WarehouseResult> ExternalSchema(const std::string& sql);
  absl::StatusOr<WarehouseResult> CreateOrDropDatabase(const std::vector<Token>& tokens);
  absl::Status RefreshExternal(const std::vector<Token>& tokens);

  WarehouseImpl& wh_;
  std::unique_ptr<Connection> con_;
  std::string database_, user_;
  char status_ = 'I';
  std::atomic<bool> cancelled_{false};
  int call_depth_ = 0;
  friend class ProcedureRunner;
};

class WarehouseImpl : public Warehouse {
 public:
  WarehouseImpl(const WarehouseOptions& options, Database& engine, ObjectStore& s3, Catalog& catalog,
                athena::Engine& lake)
      : options_(options), engine_(engine), s3_(s3), catalog_(catalog), lake_(lake) {}
  absl::Status Init();
  absl::StatusOr<std::unique_ptr<WarehouseSession>> Connect(const std::string& database,
                                                            const std::string& user) override;
  std::vector<std::string> Databases() override;
  void Stop() override {}

  ObjectStore& s3() { return s3_; }
  Catalog& catalog() { return catalog_; }
  athena::Engine& lake() { return lake_; }
  Database& engine() { return engine_; }
  int64_t NextQueryId() { return ++query_id_; }
  int64_t NextSessionId() { return ++session_id_; }
  std::mutex& external_mu() { return external_mu_; }
  // CREATE DATABASE / DROP DATABASE: a database is the file <dir>/<name>.duckdb.
  absl::Status CreateDatabase(Connection& con, const std::string& name);
  absl::Status DropDatabase(Connection& con, const std::string& name, const std::string& current);

 private:
  absl::Status AttachDatabase(Connection& con, const std::string& name);

  WarehouseOptions options_;
  Database& engine_;
  ObjectStore& s3_;
  Catalog& catalog_;
  athena::Engine& lake_;
  std::mutex mu_;
  std::set<std::string> databases_;
  std::atomic<int64_t> query_id_{0};
  std::atomic<int64_t> session_id_{1073741824};
  std::mutex external_mu_;  // serializes Spectrum view refreshes
};

// DuckDB's error text -> a Status with a PostgreSQL SQLSTATE and Redshift's wording.
absl::Status MapError(const absl::Status& st);
// The PostgreSQL text of a DuckDB value of `type` (booleans become t/f).
std::optional<std::string> PgText(const std::string& type, std::optional<std::string> v);

}  // namespace sluice::redshift
