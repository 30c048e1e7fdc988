#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/cord.h"
#include "base/status.h"

// The Redshift-style warehouse: persistent DuckDB databases (one file per Redshift
// database under <data>/redshift/, `dev` by default) attached to the process-wide
// engine, Redshift SQL translated to DuckDB, COPY/UNLOAD through the lake, stored
// procedures, Spectrum external schemas over the Glue catalog. Front ends: the Redshift
// Data API (redshift/data_api.h) and the PostgreSQL wire protocol (pgwire/), both through
// WarehouseSession.
namespace sluice {

class Database;
class ObjectStore;
class Catalog;
namespace athena {
class Engine;  // athena/engine.h: catalog table scans (Spectrum)
}

struct WarehouseOptions {
  std::string dir;                     // <data>/redshift
  std::string default_database = "dev";
};

// The outcome of one statement.
struct WarehouseResult {
  bool has_result_set = false;  // a row-returning statement (SELECT, SHOW, ...)
  std::vector<std::string> columns;
  std::vector<std::string> types;  // DuckDB type names: INTEGER, BIGINT, VARCHAR, DECIMAL(18,2), DATE, TIMESTAMP, BOOLEAN, DOUBLE, ...
  std::vector<std::vector<std::optional<std::string>>> rows;  // values as PostgreSQL text (NULL: nullopt)
  int64_t rows_affected = -1;  // INSERT/UPDATE/DELETE/COPY/UNLOAD/SELECT count; -1 when none
  std::string command_tag;     // PostgreSQL CommandComplete tag: "SELECT 3", "INSERT 0 5", "COPY 100", "CREATE TABLE", "CALL"
  std::vector<std::string> notices;  // RAISE INFO/NOTICE/WARNING messages, in order
};

// Errors carry a SQLSTATE (as a Status payload) so front ends can report it.
inline constexpr char kSqlStatePayload[] = "sluice/sqlstate";
inline absl::Status WarehouseError(std::string_view sqlstate, std::string message) {
  absl::Status st = absl::InvalidArgumentError(std::move(message));
  st.SetPayload(kSqlStatePayload, absl::Cord(std::string(sqlstate)));
  return st;
}
// "XX000" when the status has none.
inline std::string SqlStateOf(const absl::Status& status) {
  if (auto p = status.GetPayload(kSqlStatePayload)) return std::string(*p);
  return "XX000";
}

// One client session (a pgwire connection, a Data API statement). Used by one thread at a
// time, except Cancel().
class WarehouseSession {
 public:
  virtual ~WarehouseSession() = default;
  // Runs one or more ';'-separated statements (a simple query); one result per statement.
  // Stops at the first error; inside an explicit transaction the error aborts it (as
  // PostgreSQL: later statements fail with 25P02 until ROLLBACK).
  virtual absl::StatusOr<std::vector<WarehouseResult>> Execute(const std::string& sql) = 0;
  // One statement with $1.. parameters given as text (nullopt: NULL).
  virtual absl::StatusOr<WarehouseResult> ExecuteParams(const std::string& sql,
                                                        const std::vector<std::optional<std::string>>& params) = 0;
  // The columns and types one statement would return, without running it (empty
  // columns: it returns no rows).
  virtual absl::StatusOr<WarehouseResult> Describe(const std::string& sql) = 0;
  // Cancels the running statement; it fails with 57014. Thread-safe.
  virtual void Cancel() = 0;
  // 'I' idle, 'T' in a transaction, 'E' in a failed transaction (pgwire ReadyForQuery).
  virtual char TransactionStatus() const = 0;
  virtual const std::string& database() const = 0;
  virtual const std::string& user() const = 0;
};

class Warehouse {
 public:
  static absl::StatusOr<std::unique_ptr<Warehouse>> Open(const WarehouseOptions& options, Database& engine,
                                                         ObjectStore& s3, Catalog& catalog, athena::Engine& lake);
  virtual ~Warehouse() = default;
  // database "": the default. Unknown database: 3D000.
  virtual absl::StatusOr<std::unique_ptr<WarehouseSession>> Connect(const std::string& database,
                                                                    const std::string& user) = 0;
  virtual std::vector<std::string> Databases() = 0;
  virtual void Stop() = 0;
};

}  // namespace sluice
