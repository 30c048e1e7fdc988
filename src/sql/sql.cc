#include "sql/sql.h"

#include <duckdb.h>

#include <cctype>

#include "base/strings.h"

namespace sluice {

// The host paths error text must not show; shared (read-only once queries run) by the
// database and its connections, so a connection never points into a freed database.
using Aliases = std::shared_ptr<std::vector<PathAlias>>;

struct Database::Impl {
  duckdb_database db = nullptr;
  Aliases aliases = std::make_shared<std::vector<PathAlias>>();
  ~Impl() {
    if (db) duckdb_close(&db);
  }
};

struct Connection::Impl {
  duckdb_connection con = nullptr;
  Aliases aliases;
  bool profiling = false;  // the profiler is on (QueryProfiled turned it on)
  ~Impl() {
    if (con) duckdb_disconnect(&con);
  }
};

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::~Database() = default;
Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() = default;

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const DatabaseOptions& options) {
  duckdb_config config = nullptr;
  if (duckdb_create_config(&config) != DuckDBSuccess) return absl::InternalError("duckdb: cannot create config");
  if (!options.memory_limit.empty()) duckdb_set_config(config, "memory_limit", options.memory_limit.c_str());
  if (options.threads > 0) duckdb_set_config(config, "threads", std::to_string(options.threads).c_str());
  auto impl = std::make_unique<Impl>();
  char* error = nullptr;
  duckdb_state st = duckdb_open_ext(options.path.c_str(), &impl->db, config, &error);
  duckdb_destroy_config(&config);
  if (st != DuckDBSuccess) {
    std::string msg = error ? error : "unknown error";
    duckdb_free(error);
    return absl::InternalError(StrCat("duckdb: cannot open ", options.path, ": ", msg));
  }
  return std::unique_ptr<Database>(new Database(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Connection>> Database::Connect() {
  auto impl = std::make_unique<Connection::Impl>();
  impl->aliases = impl_->aliases;
  if (duckdb_connect(impl_->db, &impl->con) != DuckDBSuccess) return absl::InternalError("duckdb: cannot connect");
  return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

void Database::AddPathAlias(std::string path, std::string alias) {
  impl_->aliases->push_back({std::move(path), std::move(alias)});
}

namespace {

// Turns a duckdb_result (success or failure) into a QueryResult or a Status; destroys it.
// Error text has the host paths of `aliases` replaced.
absl::StatusOr<QueryResult> Materialize(duckdb_state state, duckdb_result& r, const Aliases& aliases = nullptr) {
  if (state != DuckDBSuccess) {
    const char* e = duckdb_result_error(&r);
    std::string msg = e ? e : "unknown error";
    duckdb_destroy_result(&r);
    return absl::InvalidArgumentError(aliases ? ScrubPaths(std::move(msg), *aliases) : msg);
  }
  QueryResult out;
  idx_t cols = duckdb_column_count(&r);
  for (idx_t c = 0; c < cols; ++c) {
    out.columns.emplace_back(duckdb_column_name(&r, c));
    duckdb_logical_type t = duckdb_column_logical_type(&r, c);
    char* name = duckdb_logical_type_get_alias(t);
    if (!name) {
      // Map the id to DuckDB's SQL type name through a tiny query-free table.
      static const std::pair<duckdb_type, const char*> kNames[] = {
          {DUCKDB_TYPE_BOOLEAN, "BOOLEAN"}, {DUCKDB_TYPE_TINYINT, "TINYINT"}, {DUCKDB_TYPE_SMALLINT, "SMALLINT"},
          {DUCKDB_TYPE_INTEGER, "INTEGER"}, {DUCKDB_TYPE_BIGINT, "BIGINT"}, {DUCKDB_TYPE_HUGEINT, "HUGEINT"},
          {DUCKDB_TYPE_FLOAT, "FLOAT"}, {DUCKDB_TYPE_DOUBLE, "DOUBLE"}, {DUCKDB_TYPE_VARCHAR, "VARCHAR"},
          {DUCKDB_TYPE_DATE, "DATE"}, {DUCKDB_TYPE_TIMESTAMP, "TIMESTAMP"}, {DUCKDB_TYPE_DECIMAL, "DECIMAL"},
          {DUCKDB_TYPE_BLOB, "BLOB"}, {DUCKDB_TYPE_LIST, "LIST"}, {DUCKDB_TYPE_STRUCT, "STRUCT"},
          {DUCKDB_TYPE_TIMESTAMP_TZ, "TIMESTAMP WITH TIME ZONE"}, {DUCKDB_TYPE_UBIGINT, "UBIGINT"}};
      const char* n = "UNKNOWN";
      for (const auto& [id, text] : kNames) {
        if (id == duckdb_get_type_id(t)) n = text;
      }
      if (duckdb_get_type_id(t) == DUCKDB_TYPE_DECIMAL) {
        out.types.push_back(StrCat("DECIMAL(", static_cast<int>(duckdb_decimal_width(t)), ",",
                                   static_cast<int>(duckdb_decimal_scale(t)), ")"));
      } else {
        out.types.emplace_back(n);
      }
    } else {
      out.types.emplace_back(name);
      duckdb_free(name);
    }
    duckdb_destroy_logical_type(&t);
  }
  idx_t rows = duckdb_row_count(&r);
  out.rows.reserve(rows);
  for (idx_t i = 0; i < rows; ++i) {
    std::vector<std::optional<std::string>> row;
    row.reserve(cols);
    for (idx_t c = 0; c < cols; ++c) {
      if (duckdb_value_is_null(&r, c, i)) {
        row.emplace_back(std::nullopt);
      } else {
        char* v = duckdb_value_varchar(&r, c, i);
        row.emplace_back(v ? std::string(v) : std::string());
        duckdb_free(v);
      }
    }
    out.rows.push_back(std::move(row));
  }
  duckdb_destroy_result(&r);
  return out;
}

}  // namespace

absl::StatusOr<QueryResult> Connection::Query(const std::string& sql) {
  duckdb_result r;
  duckdb_state state = duckdb_query(impl_->con, sql.c_str(), &r);
  return Materialize(state, r, impl_->aliases);
}

namespace {

// Whether `text` starts with a key of DuckDB's extra info ("File Filters: "): a word
// character, then word characters or spaces, then ": ".
bool StartsWithKey(std::string_view text, size_t* key_end) {
  if (text.empty() || !(std::isalpha(static_cast<unsigned char>(text[0])) || text[0] == '_')) return false;
  for (size_t i = 1; i + 1 < text.size(); ++i) {
    char c = text[i];
    if (c == ':' && text[i + 1] == ' ') {
      *key_end = i;
      return true;
    }
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ' ')) return false;
  }
  return false;
}

// DuckDB (1.4) renders an operator's extra info as "\"k1: v1, k2: v2\"": split it at each
// ", " that a key follows. A value holding ", word: " would be cut short; readers treat
// values they cannot parse as unknown.
std::map<std::string, std::string> ParseExtraInfo(std::string_view text) {
  std::map<std::string, std::string> out;
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') text = text.substr(1, text.size() - 2);
  size_t key_end = 0;
  while (!text.empty() && StartsWithKey(text, &key_end)) {
    std::string key(text.substr(0, key_end));
    text.remove_prefix(key_end + 2);
    size_t end = 0, k = 0;
    for (end = text.find(", "); end != std::string_view::npos; end = text.find(", ", end + 1)) {
      if (StartsWithKey(text.substr(end + 2), &k)) break;
    }
    out[key] = std::string(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 2);
  }
  return out;
}

std::string ProfileValue(duckdb_profiling_info node, const char* key) {
  duckdb_value v = duckdb_profiling_info_get_value(node, key);
  if (!v) return "";
  char* text = duckdb_get_varchar(v);
  std::string out = text ? text : "";
  duckdb_free(text);
  duckdb_destroy_value(&v);
  return out;
}

void CollectOperators(duckdb_profiling_info node, int depth, std::vector<OperatorProfile>* out) {
  idx_t n = duckdb_profiling_info_get_child_count(node);
  for (idx_t i = 0; i < n; ++i) {
    duckdb_profiling_info child = duckdb_profiling_info_get_child(node, i);
    if (!child) continue;
    OperatorProfile op;
    op.name = std::string(StripWhitespace(ProfileValue(child, "OPERATOR_NAME")));
    op.type = ProfileValue(child, "OPERATOR_TYPE");
    op.depth = depth;
    op.info = ParseExtraInfo(ProfileValue(child, "EXTRA_INFO"));
    out->push_back(std::move(op));
    CollectOperators(child, depth + 1, out);
  }
}

// Turns DuckDB's profiler on for `con` once (*on remembers it): operator names, types and
// EXTRA_INFO, kept in memory for duckdb_get_profiling_info. The settings go first: enabling
// the profiler takes the metrics as they are then.
absl::Status EnableProfiling(duckdb_connection con, bool* on) {
  if (*on) return absl::OkStatus();
  for (const char* sql : {"SET custom_profiling_settings = '{\"OPERATOR_NAME\": \"true\", "
                          "\"OPERATOR_TYPE\": \"true\", \"EXTRA_INFO\": \"true\"}'",
                          "PRAGMA enable_profiling = 'no_output'"}) {
    duckdb_result r;
    bool ok = duckdb_query(con, sql, &r) == DuckDBSuccess;
    std::string error = ok ? "" : (duckdb_result_error(&r) ? duckdb_result_error(&r) : "unknown error");
    duckdb_destroy_result(&r);
    if (!ok) return absl::InternalError(StrCat("enabling the profiler: ", error));
  }
  *on = true;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<QueryResult> Connection::QueryProfiled(const std::string& sql, std::vector<OperatorProfile>* operators) {
  operators->clear();
  RETURN_IF_ERROR(EnableProfiling(impl_->con, &impl_->profiling));
  duckdb_result r;
  duckdb_state state = duckdb_query(impl_->con, sql.c_str(), &r);
  auto result = Materialize(state, r, impl_->aliases);
  if (!result.ok()) return result;
  // The profile belongs to the connection and lives until its next query.
  if (duckdb_profiling_info root = duckdb_get_profiling_info(impl_->con)) CollectOperators(root, 0, operators);
  return result;
}

absl::StatusOr<std::set<std::string>> Connection::AttachedCatalogs() {
  ASSIGN_OR_RETURN(QueryResult q, Query("SELECT lower(database_name) FROM duckdb_databases()"));
  std::set<std::string> out;
  for (const auto& row : q.rows) {
    if (!row.empty() && row[0]) out.insert(*row[0]);
  }
  return out;
}

namespace {

// The one statement of `sql`, checked (sql/guard.h) and prepared into *out (which the
// caller destroys when this returns OK).
absl::Status PrepareChecked(duckdb_connection con, const Aliases& aliases, const std::string& sql,
                            const SqlPolicy& policy, const std::set<std::string>& attached,
                            duckdb_prepared_statement* out) {
  RETURN_IF_ERROR(CheckSqlText(sql, policy, attached));
  duckdb_extracted_statements extracted = nullptr;
  idx_t n = duckdb_extract_statements(con, sql.c_str(), &extracted);
  if (n != 1) {
    const char* e = n == 0 ? duckdb_extract_statements_error(extracted) : nullptr;
    std::string msg = e ? ScrubPaths(e, *aliases) : "";
    duckdb_destroy_extracted(&extracted);
    if (n > 1) return TooManyStatements(policy, static_cast<int>(n));
    return absl::InvalidArgumentError(msg.empty() ? "Parser Error: empty statement" : msg);
  }
  duckdb_state st = duckdb_prepare_extracted_statement(con, extracted, 0, out);
  duckdb_destroy_extracted(&extracted);
  if (st != DuckDBSuccess) {
    const char* e = duckdb_prepare_error(*out);
    std::string msg = ScrubPaths(e ? e : "cannot prepare the statement", *aliases);
    duckdb_destroy_prepare(out);
    return absl::InvalidArgumentError(msg);
  }
  absl::Status type = CheckStatementType(static_cast<int>(duckdb_prepared_statement_type(*out)), policy, sql);
  if (!type.ok()) duckdb_destroy_prepare(out);
  return type;
}

}  // namespace

absl::Status Connection::CheckStatement(const std::string& sql, const SqlPolicy& policy) {
  ASSIGN_OR_RETURN(auto attached, AttachedCatalogs());
  duckdb_prepared_statement stmt = nullptr;
  RETURN_IF_ERROR(PrepareChecked(impl_->con, impl_->aliases, sql, policy, attached, &stmt));
  duckdb_destroy_prepare(&stmt);
  return absl::OkStatus();
}

absl::StatusOr<QueryResult> Connection::QueryChecked(const std::string& sql, const SqlPolicy& policy,
                                                     std::vector<OperatorProfile>* operators) {
  if (operators) {
    operators->clear();
    RETURN_IF_ERROR(EnableProfiling(impl_->con, &impl_->profiling));
  }
  ASSIGN_OR_RETURN(auto attached, AttachedCatalogs());
  duckdb_prepared_statement stmt = nullptr;
  RETURN_IF_ERROR(PrepareChecked(impl_->con, impl_->aliases, sql, policy, attached, &stmt));
  duckdb_result r;
  duckdb_state state = duckdb_execute_prepared(stmt, &r);
  duckdb_destroy_prepare(&stmt);
  auto result = Materialize(state, r, impl_->aliases);
  if (!result.ok() || !operators) return result;
  if (duckdb_profiling_info root = duckdb_get_profiling_info(impl_->con)) CollectOperators(root, 0, operators);
  return result;
}

struct PreparedStatement::Impl {
  duckdb_prepared_statement stmt = nullptr;
  ~Impl() { duckdb_destroy_prepare(&stmt); }
};
PreparedStatement::PreparedStatement(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PreparedStatement::~PreparedStatement() = default;

absl::StatusOr<std::unique_ptr<PreparedStatement>> Connection::Prepare(const std::string& sql) {
  auto impl = std::make_unique<PreparedStatement::Impl>();
  if (duckdb_prepare(impl_->con, sql.c_str(), &impl->stmt) != DuckDBSuccess) {
    const char* e = duckdb_prepare_error(impl->stmt);
    return absl::InvalidArgumentError(e ? e : "cannot prepare the statement");
  }
  return std::unique_ptr<PreparedStatement>(new PreparedStatement(std::move(impl)));
}

absl::StatusOr<QueryResult> PreparedStatement::Execute(const std::vector<SqlValue>& params) {
  duckdb_clear_bindings(impl_->stmt);
  if (params.size() != duckdb_nparams(impl_->stmt)) {
    return absl::InvalidArgumentError(StrCat("the statement takes ", duckdb_nparams(impl_->stmt), " parameters, not ",
                                             params.size()));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    idx_t at = i + 1;
    const SqlValue& v = params[i];
    duckdb_state st = v.kind == SqlValue::Kind::kNull   ? duckdb_bind_null(impl_->stmt, at)
                      : v.kind == SqlValue::Kind::kInt  ? duckdb_bind_int64(impl_->stmt, at, v.i)
                      : v.kind == SqlValue::Kind::kDouble ? duckdb_bind_double(impl_->stmt, at, v.d)
                                                          : duckdb_bind_varchar_length(impl_->stmt, at, v.text.data(), v.text.size());
    if (st != DuckDBSuccess) return absl::InvalidArgumentError(StrCat("cannot bind parameter ", at));
  }
  duckdb_result r;
  duckdb_state state = duckdb_execute_prepared(impl_->stmt, &r);
  return Materialize(state, r);
}

struct Appender::Impl {
  duckdb_appender appender = nullptr;
  ~Impl() { duckdb_appender_destroy(&appender); }
};
Appender::Appender(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Appender::~Appender() = default;

absl::StatusOr<std::unique_ptr<Appender>> Connection::CreateAppender(const std::string& schema, const std::string& table) {
  auto impl = std::make_unique<Appender::Impl>();
  if (duckdb_appender_create(impl_->con, schema.empty() ? nullptr : schema.c_str(), table.c_str(), &impl->appender) !=
      DuckDBSuccess) {
    const char* e = impl->appender ? duckdb_appender_error(impl->appender) : nullptr;
    return absl::InvalidArgumentError(StrCat("cannot append to ", table, ": ", e ? e : "unknown error"));
  }
  return std::unique_ptr<Appender>(new Appender(std::move(impl)));
}

absl::Status Appender::AppendRow(const std::vector<SqlValue>& row) {
  // A partial row would poison the appender (and lose every row not yet flushed).
  idx_t columns = duckdb_appender_column_count(impl_->appender);
  if (row.size() != columns) {
    return absl::InvalidArgumentError(StrCat("the row has ", row.size(), " values; the table has ", columns, " columns"));
  }
  for (const SqlValue& v : row) {
    duckdb_state st = v.kind == SqlValue::Kind::kNull     ? duckdb_append_null(impl_->appender)
                      : v.kind == SqlValue::Kind::kInt    ? duckdb_append_int64(impl_->appender, v.i)
                      : v.kind == SqlValue::Kind::kDouble ? duckdb_append_double(impl_->appender, v.d)
                                                          : duckdb_append_varchar_length(impl_->appender, v.text.data(), v.text.size());
    if (st != DuckDBSuccess) {
      const char* e = duckdb_appender_error(impl_->appender);
      return absl::InvalidArgumentError(e ? e : "append failed");
    }
  }
  if (duckdb_appender_end_row(impl_->appender) != DuckDBSuccess) {
    const char* e = duckdb_appender_error(impl_->appender);
    return absl::InvalidArgumentError(e ? e : "the row does not match the table");
  }
  return absl::OkStatus();
}

absl::Status Appender::Flush() {
  if (duckdb_appender_flush(impl_->appender) != DuckDBSuccess) {
    const char* e = duckdb_appender_error(impl_->appender);
    return absl::InvalidArgumentError(e ? e : "flush failed");
  }
  return absl::OkStatus();
}

absl::Status Connection::Execute(const std::string& sql) { return Query(sql).status(); }

void Connection::Interrupt() { duckdb_interrupt(impl_->con); }

namespace {

std::string Quoted(std::string_view text, char quote) {
  std::string out(1, quote);
  for (char c : text) {
    if (c == quote) out.push_back(quote);
    out.push_back(c);
  }
  out.push_back(quote);
  return out;
}

}  // namespace

std::string SqlQuote(std::string_view text) { return Quoted(text, '\''); }
std::string SqlQuoteIdent(std::string_view name) { return Quoted(name, '"'); }

}  // namespace sluice
