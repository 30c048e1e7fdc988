#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

// What each front end of the shared engine may run: the one allow-list of statements,
// functions and catalogs (Athena, the Redshift-style warehouse over pgwire and the Data
// API, Glue SQL jobs). Every front end shares one DuckDB database; a statement from one of
// them must neither change another's state (ATTACH/DETACH/USE, SET/RESET/PRAGMA, macros and
// schemas in another's catalog) nor reach the host (files, settings, environment).
//
// Two levels, both used by Connection::QueryChecked (sql/sql.h):
// - CheckSqlText: the text, tokenized as DuckDB does (strings, quoted identifiers, nested
//   comments, dollar quotes): one statement, its first word, no denied function called,
//   no table that is a file path, no catalog the front end does not own.
// - DuckDB's own parser: duckdb_extract_statements (exactly one statement) and the
//   prepared statement's type against the front end's allowed types.
//
// Errors: PermissionDenied for a denied function, catalog or file path; Unimplemented for a
// statement kind the front end does not run; InvalidArgument for more than one statement.
// The messages are worded for the front end (Athena's or PostgreSQL's style); a caller
// maps the code to its protocol (Athena: InvalidRequestException or a FAILED query;
// warehouse: SQLSTATE 42501 / 0A000 / 42601).
namespace sluice {

enum class SqlFrontEnd { kAthena, kWarehouse, kGlueJob };

struct SqlPolicy {
  SqlFrontEnd front_end = SqlFrontEnd::kAthena;
  // Catalogs (DuckDB databases) the statement may name besides `temp`, lower case. Any
  // other attached catalog named as the first part of a qualified name is refused.
  std::vector<std::string> catalogs;
  // Athena DDL and utility statements are parsed by athena/ddl.h, not DuckDB: the text
  // check then allows their first words too.
  bool allow_front_end_ddl = false;
  // Check the functions the text calls (off for text sluice generated from checked text).
  bool check_functions = true;
  // Check that no table is a file path (off for text sluice rewrote to read lake files).
  bool check_paths = true;
};

// Athena's queries: SELECT/WITH/VALUES/TABLE/EXPLAIN/DESCRIBE over awsdatacatalog.
SqlPolicy AthenaPolicy();
// The warehouse: Redshift's SQL over its databases `databases` (and temp tables).
SqlPolicy WarehousePolicy(std::vector<std::string> databases);
// A Glue SQL job: queries, DDL/DML and COPY in its own catalog `job_catalog`.
SqlPolicy GlueJobPolicy(std::string job_catalog);

// The text-level check. `attached`: the catalogs DuckDB has attached (lower case); those
// not in policy.catalogs may not be named. Pure: no engine needed.
absl::Status CheckSqlText(std::string_view sql, const SqlPolicy& policy, const std::set<std::string>& attached);

// The number of statements in `sql` by the same tokenizer (comments and empty statements
// do not count).
int CountSqlStatements(std::string_view sql);

// The error for `n` > 1 statements where the front end runs one.
absl::Status TooManyStatements(const SqlPolicy& policy, int n);

// Whether DuckDB's statement type `type` (duckdb_statement_type's value) is one the front
// end runs; *name is the statement's kind for messages ("ATTACH", "SET", ...).
absl::Status CheckStatementType(int type, const SqlPolicy& policy, std::string_view sql);

// `text` with every occurrence of the host paths in `paths` (e.g. the data directory)
// replaced by their aliases: error text sent to clients must not reveal where data lives.
struct PathAlias {
  std::string path;   // absolute host path prefix
  std::string alias;  // what clients see instead ("s3://", "<data>/")
};
std::string ScrubPaths(std::string text, const std::vector<PathAlias>& aliases);

}  // namespace sluice
