#include "sql/sql.h"

#include <duckdb.h>

#include "base/strings.h"

namespace sluice {

struct Database::Impl {
  duckdb_database db = nullptr;
  ~Impl() {
    if (db) duckdb_close(&db);
  }
};

struct Connection::Impl {
  duckdb_connection con = nullptr;
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
  if (duckdb_connect(impl_->db, &impl->con) != DuckDBSuccess) return absl::InternalError("duckdb: cannot connect");
  return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

absl::StatusOr<QueryResult> Connection::Query(const std::string& sql) {
  duckdb_result r;
  if (duckdb_query(impl_->con, sql.c_str(), &r) != DuckDBSuccess) {
    const char* e = duckdb_result_error(&r);
    std::string msg = e ? e : "unknown error";
    duckdb_destroy_result(&r);
    return absl::InvalidArgumentError(msg);
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

absl::Status Connection::Execute(const std::string& sql) { return Query(sql).status(); }

void Connection::Interrupt() { duckdb_interrupt(impl_->con); }

std::string SqlQuote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

}  // namespace sluice
