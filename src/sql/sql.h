#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "sql/guard.h"

// The engine boundary: the only module that includes duckdb.h. One Database per process
// (Athena, Glue jobs, the warehouse and the lake share it); Connections are cheap and
// used by one thread at a time; Interrupt() may be called from any thread to cancel the
// running query. DuckDB's errors come back as Status, never as exceptions.
namespace sluice {

struct DatabaseOptions {
  std::string path = ":memory:";  // or a file for a persistent database
  std::string memory_limit;       // e.g. "4GB"; empty: DuckDB's default (80% of RAM)
  int threads = 0;                // 0: DuckDB's default (all cores)
};

// A fully materialized result: column names, DuckDB type names, and values as text
// (nullopt for NULL).
struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::string> types;
  std::vector<std::vector<std::optional<std::string>>> rows;
};

// One operator of the physical plan of a profiled query, as DuckDB's profiler reports it.
struct OperatorProfile {
  std::string name;   // DuckDB's operator name: "READ_PARQUET", "HASH_JOIN", "PROJECTION", ...
  std::string type;   // DuckDB's operator type: "TABLE_SCAN", "HASH_JOIN", ...
  int depth = 0;      // 0 for the children of the query's root
  // DuckDB's extra information: "Function" -> "READ_PARQUET", "Projections" -> "a\nb",
  // "File Filters" -> "(p = 2)", "Scanning Files" -> "1/3", "Total Files Read" -> "1", ...
  // (multi-part values are joined by '\n'). Free text: its keys and values may change with
  // DuckDB versions, so readers must treat anything unexpected as unknown.
  std::map<std::string, std::string> info;
};

class Connection;
class PreparedStatement;
class Appender;

class Database {
 public:
  static absl::StatusOr<std::unique_ptr<Database>> Open(const DatabaseOptions& options);
  ~Database();
  absl::StatusOr<std::unique_ptr<Connection>> Connect();
  // Host paths that error text from any connection must not show (sql/guard.h ScrubPaths):
  // each becomes its alias. REQUIRES: before connections run queries (at start-up).
  void AddPathAlias(std::string path, std::string alias);

 private:
  struct Impl;
  explicit Database(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Connection {
 public:
  ~Connection();
  absl::StatusOr<QueryResult> Query(const std::string& sql);
  absl::Status Execute(const std::string& sql);
  // Query() that also returns the operators of the plan DuckDB ran, in pre-order, in
  // *operators. Enables DuckDB's profiler on this connection (for this and later queries:
  // it stays on, its cost is a few microseconds). *operators is empty when DuckDB kept no
  // profile (e.g. a count(*) answered from Parquet metadata alone).
  absl::StatusOr<QueryResult> QueryProfiled(const std::string& sql, std::vector<OperatorProfile>* operators);
  // A statement from a client of a front end: checked against `policy` (sql/guard.h: the
  // text, then DuckDB's parser: exactly one statement of an allowed type) and run as
  // prepared, so what ran is what was checked. With `operators`, as QueryProfiled.
  absl::StatusOr<QueryResult> QueryChecked(const std::string& sql, const SqlPolicy& policy,
                                           std::vector<OperatorProfile>* operators = nullptr);
  // The same checks without running the statement (for client SQL sluice wraps, e.g.
  // COPY (<query>) TO ...).
  absl::Status CheckStatement(const std::string& sql, const SqlPolicy& policy);
  // The catalogs (DuckDB databases) attached now, lower case.
  absl::StatusOr<std::set<std::string>> AttachedCatalogs();
  // Cancels the query running on this connection (thread-safe).
  void Interrupt();
  // One statement with $1/? parameters, bound and run any number of times.
  absl::StatusOr<std::unique_ptr<PreparedStatement>> Prepare(const std::string& sql);
  // Fast row appends into an existing table ("" schema: the default).
  absl::StatusOr<std::unique_ptr<Appender>> CreateAppender(const std::string& schema, const std::string& table);

 private:
  friend class Database;
  struct Impl;
  explicit Connection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A value for a parameter or an appended column.
struct SqlValue {
  enum class Kind { kNull, kInt, kDouble, kText } kind = Kind::kNull;
  int64_t i = 0;
  double d = 0;
  std::string text;
  static SqlValue Null() { return {}; }
  static SqlValue Int(int64_t v) { return {Kind::kInt, v, 0, {}}; }
  static SqlValue Double(double v) { return {Kind::kDouble, 0, v, {}}; }
  static SqlValue Text(std::string v) { return {Kind::kText, 0, 0, std::move(v)}; }
};

// Created by Connection::Prepare; used on the connection's thread; must not outlive it.
class PreparedStatement {
 public:
  ~PreparedStatement();
  // Binds `params` to $1.. in order and runs the statement.
  absl::StatusOr<QueryResult> Execute(const std::vector<SqlValue>& params);

 private:
  friend class Connection;
  struct Impl;
  explicit PreparedStatement(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Created by Connection::CreateAppender; rows become visible at Flush() or destruction.
class Appender {
 public:
  ~Appender();
  absl::Status AppendRow(const std::vector<SqlValue>& row);
  absl::Status Flush();

 private:
  friend class Connection;
  struct Impl;
  explicit Appender(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// 'text' as a SQL string literal, quotes doubled.
std::string SqlQuote(std::string_view text);
// "name" as a SQL identifier, double quotes doubled.
std::string SqlQuoteIdent(std::string_view name);

}  // namespace sluice
