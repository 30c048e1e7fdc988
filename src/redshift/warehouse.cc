#include "redshift/warehouse.h"

#include <algorithm>
#include <filesystem>
#include <regex>

#include "base/strings.h"
#include "io/file.h"
#include "redshift/session.h"
#include "redshift/translate.h"

namespace sluice {

using redshift::WarehouseImpl;

absl::StatusOr<std::unique_ptr<Warehouse>> Warehouse::Open(const WarehouseOptions& options, Database& engine,
                                                           ObjectStore& s3, Catalog& catalog, athena::Engine& lake) {
  auto wh = std::make_unique<WarehouseImpl>(options, engine, s3, catalog, lake);
  RETURN_IF_ERROR(wh->Init());
  return std::unique_ptr<Warehouse>(std::move(wh));
}

namespace redshift {

namespace {

// Redshift functions DuckDB lacks or names differently, defined once in kFunctionSchema
// (every session has it on its search path). Ones that take a date part as a bare word
// are rewritten by translate.cc instead.
constexpr const char* kMacros[] = {
    "getdate() AS CAST(timezone('UTC', current_timestamp) AS TIMESTAMP)",
    "nvl2(a, b, c) AS CASE WHEN a IS NOT NULL THEN b ELSE c END",
    "convert_timezone(tgt, ts) AS timezone(tgt, timezone('UTC', CAST(ts AS TIMESTAMP)))",
    "convert_timezone(src, tgt, ts) AS timezone(tgt, timezone(src, CAST(ts AS TIMESTAMP)))",
    "charindex(needle, haystack) AS strpos(haystack, needle)",
    "len(s) AS length(CAST(s AS VARCHAR))",
    "btrim(s) AS trim(s)",
    "months_between(a, b) AS date_diff('month', CAST(b AS DATE), CAST(a AS DATE))",
    "sysdate() AS CAST(timezone('UTC', current_timestamp) AS TIMESTAMP)",
    "pg_get_userbyid(id) AS 'rdsdb'",
    "has_table_privilege(a, b) AS true",
    "has_schema_privilege(a, b) AS true",
    "obj_description(a, b) AS CAST(NULL AS VARCHAR)",
    "col_description(a, b) AS CAST(NULL AS VARCHAR)",
    "pg_get_constraintdef(a) AS CAST(NULL AS VARCHAR), (a, pretty) AS CAST(NULL AS VARCHAR)",
    "pg_get_indexdef(a) AS CAST(NULL AS VARCHAR), (a, col, pretty) AS CAST(NULL AS VARCHAR)",
    "pg_encoding_to_char(a) AS 'UTF8'",
    // psql's \d: PostgreSQL's type names (DuckDB's format_type says int4, varchar, ...).
    "format_type(t, m) AS CASE system.pg_catalog.format_type(t, m) WHEN 'int2' THEN 'smallint' "
    "WHEN 'int4' THEN 'integer' WHEN 'int8' THEN 'bigint' WHEN 'float4' THEN 'real' "
    "WHEN 'float8' THEN 'double precision' WHEN 'bool' THEN 'boolean' WHEN 'varchar' THEN 'character varying' "
    "WHEN 'timestamp' THEN 'timestamp without time zone' WHEN 'timestamptz' THEN 'timestamp with time zone' "
    "WHEN 'time' THEN 'time without time zone' WHEN 'timetz' THEN 'time with time zone' "
    "ELSE system.pg_catalog.format_type(t, m) END",
    // sluice's own tables in pg_internal (on the search path) stay out of \dt and \d.
    "pg_table_is_visible(o) AS system.pg_catalog.pg_table_is_visible(o) AND o NOT IN (SELECT c.oid FROM "
    "pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'pg_internal')",
    "pg_get_expr(e, r) AS system.pg_catalog.pg_get_expr(e, r), (e, r, pretty) AS system.pg_catalog.pg_get_expr(e, r)",
    "is_valid_json(s) AS json_valid(s)",
    "json_extract_path_text(j, k) AS json_extract_string(j, '$.' || k)",
    "json_extract_path_text(j, k1, k2) AS json_extract_string(j, '$.' || k1 || '.' || k2)",
    "json_extract_array_element_text(j, i) AS json_extract_string(j, '$[' || i || ']')",
    "strtol(s, base) AS CASE WHEN base = 16 THEN CAST(('0x' || s) AS BIGINT) ELSE CAST(s AS BIGINT) END",
};

bool IsRowStatement(const std::vector<Token>& t) {
  if (t.empty()) return false;
  for (const char* w : {"SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN", "DESCRIBE", "PRAGMA", "FROM", "SUMMARIZE"}) {
    if (t[0].Is(w)) return true;
  }
  return t[0].IsSymbol("(");
}

bool HasWord(const std::vector<Token>& t, std::string_view w) {
  return std::any_of(t.begin(), t.end(), [&](const Token& x) { return x.Is(w); });
}

// The CommandComplete tag of a statement that returns no rows.
std::string CommandTag(const std::vector<Token>& t) {
  if (t.empty()) return "";
  std::string first = AsciiUpper(t[0].text);
  if (first == "CREATE" || first == "DROP" || first == "ALTER") {
    size_t i = 1;
    auto skip = [&](std::string_view w) {
      if (i < t.size() && t[i].Is(w)) ++i;
    };
    skip("OR");
    skip("REPLACE");
    skip("LOCAL");
    skip("TEMP");
    skip("TEMPORARY");
    skip("UNIQUE");
    skip("EXTERNAL");
    std::string what = i < t.size() ? AsciiUpper(t[i].text) : "";
    if (what == "MATERIALIZED" && i + 1 < t.size()) what = "MATERIALIZED " + AsciiUpper(t[i + 1].text);
    if (what.starts_with("#")) what = "TABLE";
    return StrCat(first, " ", what);
  }
  if (first == "TRUNCATE") return "TRUNCATE TABLE";
  if (first == "START") return "BEGIN";
  if (first == "END") return "COMMIT";
  if (first == "ABORT") return "ROLLBACK";
  return first;
}

}  // namespace

std::optional<std::string> PgText(const std::string& type, std::optional<std::string> v) {
  if (v && type == "BOOLEAN") return *v == "true" ? "t" : "f";
  return v;
}

absl::Status MapError(const absl::Status& st) {
  if (st.ok() || st.GetPayload(kSqlStatePayload)) return st;
  std::string msg(st.message());
  // First line only: DuckDB adds "LINE 1: ..." context and suggestions.
  std::string first = msg.substr(0, msg.find('\n'));
  std::smatch m;
  auto re = [&](const char* pattern) { return std::regex_search(first, m, std::regex(pattern)); };
  if (re(R"re(Table with name ([^ !]+) does not exist)re") || re(R"re(Table with name "(.*)" does not exist)re")) {
    return WarehouseError("42P01", StrCat("relation \"", AsciiLower(m[1].str()), "\" does not exist"));
  }
  if (re(R"re(View with name ([^ !]+) does not exist)re")) {
    return WarehouseError("42P01", StrCat("relation \"", AsciiLower(m[1].str()), "\" does not exist"));
  }
  if (re(R"re((?:Table|View) with name "?([^ !"]+)"? already exists)re")) {
    return WarehouseError("42P07", StrCat("relation \"", m[1].str(), "\" already exists"));
  }
  if (re(R"re(Schema with name "?([^ !"]+)"? does not exist)re")) {
    return WarehouseError("3F000", StrCat("schema \"", m[1].str(), "\" does not exist"));
  }
  if (re(R"re(Schema with name "?([^ !"]+)"? already exists)re")) {
    return WarehouseError("42P06", StrCat("schema \"", m[1].str(), "\" already exists"));
  }
  if (re(R"re(Referenced column "?([^ !"]+)"? not found)re") || re(R"re(Column with name ([^ !]+) does not exist)re") ||
      re(R"re(does not have a column named "([^"]+)")re")) {
    return WarehouseError("42703", StrCat("column \"", m[1].str(), "\" does not exist"));
  }
  if (re(R"re((?:Scalar|Aggregate|Table) Function with name ([^ !]+) does not exist)re")) {
    return WarehouseError("42883", StrCat("function ", m[1].str(), " does not exist"));
  }
  if (re(R"re(No function matches the given name and argument types '([^(]+)\((.*)\)')re")) {
    return WarehouseError("42883", StrCat("function ", m[1].str(), "(", AsciiLower(m[2].str()), ") does not exist"));
  }
  if (re(R"re(^Parser Error: (.*))re")) {
    std::string rest = m[1].str();
    return WarehouseError("42601", rest);
  }
  if (re(R"re(^Constraint Error: Duplicate key "(.*)" violates (primary key|unique) constraint)re")) {
    return WarehouseError("23505", StrCat("duplicate key value violates unique constraint: ", m[1].str()));
  }
  if (re(R"re(NOT NULL constraint failed: ([^ .]+)\.(\S+))re")) {
    return WarehouseError("23502", StrCat("null value in column \"", m[2].str(), "\" violates not-null constraint"));
  }
  if (re(R"re(^Constraint Error: (.*))re")) return WarehouseError("23000", m[1].str());
  if (re(R"re(^Conversion Error: Could not convert string '(.*)' to (\w+))re")) {
    return WarehouseError("22P02", StrCat("invalid input syntax for type ", AsciiLower(m[2].str()), ": \"", m[1].str(), "\""));
  }
  if (re(R"re(^Conversion Error: (.*))re")) return WarehouseError("22P02", m[1].str());
  if (re(R"re(^Out of Range Error: (.*))re")) return WarehouseError("22003", m[1].str());
  if (re(R"re(division by zero|Division by zero)re")) return WarehouseError("22012", "division by zero");
  if (re(R"re(^Invalid Input Error: (.*))re")) return WarehouseError("22023", m[1].str());
  if (re(R"re(^(INTERRUPT|Interrupt) Error)re") || first.find("Interrupted") != std::string::npos) {
    return WarehouseError("57014", "canceling statement due to user request");
  }
  if (re(R"re(Current transaction is aborted)re")) {
    return WarehouseError("25P02", "current transaction is aborted, commands ignored until end of transaction block");
  }
  if (re(R"re(^TransactionContext Error: (.*))re")) return WarehouseError("25000", m[1].str());
  if (re(R"re(^Binder Error: (.*))re")) return WarehouseError("42601", m[1].str());
  if (re(R"re(^Catalog Error: (.*))re")) return WarehouseError("42704", m[1].str());
  if (re(R"re(^Permission Error: (.*))re")) return WarehouseError("42501", m[1].str());
  if (re(R"re(^Not implemented Error: (.*))re")) return WarehouseError("0A000", m[1].str());
  return WarehouseError("XX000", first);
}

// ---- WarehouseImpl ----

absl::Status WarehouseImpl::Init() {
  RETURN_IF_ERROR(MakeDirs(options_.dir));
  ASSIGN_OR_RETURN(auto con, engine_.Connect());
  RETURN_IF_ERROR(con->Execute(StrCat("CREATE SCHEMA IF NOT EXISTS ", kFunctionSchema)));
  for (const char* m : kMacros) {
    RETURN_IF_ERROR(con->Execute(StrCat("CREATE OR REPLACE MACRO ", kFunctionSchema, ".", m)));
  }
  RETURN_IF_ERROR(con->Execute(StrCat("CREATE OR REPLACE MACRO ", kFunctionSchema, ".version() AS ", SqlQuote(kVersion))));
  std::set<std::string> names = {options_.default_database};
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(options_.dir, ec)) {
    std::string f = e.path().filename().string();
    if (f.ends_with(".duckdb")) names.insert(f.substr(0, f.size() - 7));
  }
  for (const auto& n : names) RETURN_IF_ERROR(AttachDatabase(*con, n));
  return absl::OkStatus();
}

absl::Status WarehouseImpl::AttachDatabase(Connection& con, const std::string& name) {
  std::string path = StrCat(options_.dir, "/", name, ".duckdb");
  std::string db = SqlQuoteIdent(name);
  auto st = con.Execute(StrCat("ATTACH IF NOT EXISTS ", SqlQuote(path), " AS ", db));
  if (!st.ok()) {
    return absl::FailedPreconditionError(StrCat("cannot attach warehouse database ", path, ": ", std::string(st.message()),
                                                " (open the warehouse before the lake engine restricts file access)"));
  }
  std::string in = StrCat(db, ".", kInternalSchema, ".");
  const std::string stmts[] = {
      StrCat("CREATE SCHEMA IF NOT EXISTS ", db, ".public"),
      StrCat("CREATE SCHEMA IF NOT EXISTS ", db, ".", kInternalSchema),
      StrCat("CREATE TABLE IF NOT EXISTS ", in,
             "table_design(schema_name VARCHAR, table_name VARCHAR, diststyle VARCHAR, distkey VARCHAR, "
             "sortkey_style VARCHAR, sortkey VARCHAR, PRIMARY KEY (schema_name, table_name))"),
      StrCat("CREATE TABLE IF NOT EXISTS ", in,
             "load_errors(userid INTEGER, slice INTEGER, tbl INTEGER, starttime TIMESTAMP, session INTEGER, "
             "query INTEGER, filename VARCHAR, line_number BIGINT, colname VARCHAR, type VARCHAR, col_length VARCHAR, "
             "position INTEGER, raw_line VARCHAR, raw_field_value VARCHAR, err_code INTEGER, err_reason VARCHAR)"),
      StrCat("CREATE TABLE IF NOT EXISTS ", in,
             "procedures(schema_name VARCHAR, name VARCHAR, arg_names VARCHAR, arg_types VARCHAR, nonatomic BOOLEAN, "
             "body VARCHAR, definition VARCHAR, PRIMARY KEY (schema_name, name))"),
      StrCat("CREATE TABLE IF NOT EXISTS ", in,
             "external_schemas(schema_name VARCHAR PRIMARY KEY, glue_database VARCHAR, iam_role VARCHAR, created TIMESTAMP)"),
      StrCat("CREATE TABLE IF NOT EXISTS ", in,
             "column_types(schema_name VARCHAR, table_name VARCHAR, column_name VARCHAR, type_text VARCHAR, "
             "PRIMARY KEY (schema_name, table_name, column_name))"),
      // PostgreSQL catalog tables psql's \d and \l read that DuckDB lacks or has without
      // these columns; translate.cc points pg_catalog.<name> here.
      StrCat("CREATE OR REPLACE VIEW ", in,
             "pg_inherits AS SELECT CAST(0 AS BIGINT) AS inhrelid, CAST(0 AS BIGINT) AS inhparent, 0 AS inhseqno, "
             "false AS inhdetachpending WHERE false"),
      StrCat("CREATE OR REPLACE VIEW ", in,
             "pg_collation AS SELECT CAST(0 AS BIGINT) AS oid, 'default' AS collname, CAST(0 AS BIGINT) AS collnamespace, "
             "CAST(0 AS BIGINT) AS collowner, 'd' AS collprovider, true AS collisdeterministic, -1 AS collencoding, "
             "'C' AS collcollate, 'C' AS collctype WHERE false"),
      StrCat("CREATE OR REPLACE VIEW ", in,
             "pg_database AS SELECT d.oid, d.datname, CAST(1 AS BIGINT) AS datdba, 6 AS encoding, 'c' AS datlocprovider, "
             "false AS datistemplate, true AS datallowconn, -1 AS datconnlimit, 'C' AS datcollate, 'C' AS datctype, "
             "CAST(NULL AS VARCHAR) AS daticulocale, CAST(NULL AS VARCHAR[]) AS datacl, CAST(0 AS BIGINT) AS dattablespace "
             "FROM system.pg_catalog.pg_database d JOIN duckdb_databases() w ON w.database_name = d.datname "
             "WHERE w.path LIKE ", SqlQuote(StrCat(options_.dir, "/%.duckdb"))),
      StrCat("CREATE OR REPLACE VIEW ", in, "stl_load_errors AS SELECT * FROM ", in, "load_errors"),
      StrCat("CREATE OR REPLACE VIEW ", in,
             "svv_table_info AS SELECT t.table_catalog AS database, t.table_schema AS schema, "
             "t.table_name AS \"table\", coalesce(d.diststyle, 'AUTO(EVEN)') AS diststyle, "
             "CASE WHEN d.sortkey_style = 'INTERLEAVED' THEN 'INTERLEAVED' ELSE split_part(d.sortkey, ',', 1) END AS sortkey1, "
             "d.distkey AS distkey, d.sortkey AS sortkeys, s.estimated_size AS tbl_rows, s.estimated_size AS estimated_visible_rows "
             "FROM information_schema.tables t LEFT JOIN ", in,
             "table_design d ON d.schema_name = t.table_schema AND d.table_name = t.table_name "
             "LEFT JOIN duckdb_tables() s ON s.database_name = t.table_catalog AND s.schema_name = t.table_schema "
             "AND s.table_name = t.table_name WHERE t.table_type = 'BASE TABLE' AND t.table_catalog = ", SqlQuote(name),
             " AND t.table_schema <> ", SqlQuote(kInternalSchema)),
      StrCat("CREATE OR REPLACE VIEW ", in,
             "svv_external_schemas AS SELECT 1 AS esoid, 0 AS eskind, schema_name AS schemaname, 100 AS esowner, "
             "glue_database AS databasename, '{\"IAM_ROLE\":\"' || coalesce(iam_role, '') || '\"}' AS esoptions FROM ",
             in, "external_schemas"),
      StrCat("CREATE OR REPLACE VIEW ", in,
             "pg_user AS SELECT 'rdsdb' AS usename, 1 AS usesysid, true AS usecreatedb, true AS usesuper"),
  };
  for (const auto& s : stmts) RETURN_IF_ERROR(con.Execute(s));
  std::lock_guard lock(mu_);
  databases_.insert(name);
  return absl::OkStatus();
}

absl::Status WarehouseImpl::CreateDatabase(Connection& con, const std::string& name) {
  {
    std::lock_guard lock(mu_);
    if (databases_.contains(name)) return WarehouseError("42P04", StrCat("database \"", name, "\" already exists"));
  }
  return AttachDatabase(con, name);
}

absl::Status WarehouseImpl::DropDatabase(Connection& con, const std::string& name, const std::string& current) {
  {
    std::lock_guard lock(mu_);
    if (!databases_.contains(name)) return WarehouseError("3D000", StrCat("database \"", name, "\" does not exist"));
  }
  if (name == current) return WarehouseError("55006", "cannot drop the currently open database");
  if (name == options_.default_database) {
    return WarehouseError("55006", StrCat("cannot drop the default database \"", name, "\""));
  }
  auto st = con.Execute(StrCat("DETACH ", SqlQuoteIdent(name)));
  if (!st.ok()) return WarehouseError("55006", StrCat("database \"", name, "\" is being accessed by other users"));
  {
    std::lock_guard lock(mu_);
    databases_.erase(name);
  }
  std::string path = StrCat(options_.dir, "/", name, ".duckdb");
  std::error_code ec;
  std::filesystem::remove(path, ec);
  std::filesystem::remove(path + ".wal", ec);
  return absl::OkStatus();
}

std::vector<std::string> WarehouseImpl::Databases() {
  std::lock_guard lock(mu_);
  return {databases_.begin(), databases_.end()};
}

absl::StatusOr<std::unique_ptr<WarehouseSession>> WarehouseImpl::Connect(const std::string& database,
                                                                         const std::string& user) {
  std::string db = database.empty() ? options_.default_database : database;
  {
    std::lock_guard lock(mu_);
    if (!databases_.contains(db)) return WarehouseError("3D000", StrCat("database \"", db, "\" does not exist"));
  }
  ASSIGN_OR_RETURN(auto con, engine_.Connect());
  auto s = std::make_unique<Session>(*this, std::move(con), db, user.empty() ? "awsuser" : user);
  RETURN_IF_ERROR(s->Init());
  return std::unique_ptr<WarehouseSession>(std::move(s));
}

// ---- Session ----

Session::Session(WarehouseImpl& wh, std::unique_ptr<Connection> con, std::string database, std::string user)
    : wh_(wh), con_(std::move(con)), database_(std::move(database)), user_(std::move(user)) {}

absl::Status Session::Init() {
  std::string db = SqlQuoteIdent(database_);
  RETURN_IF_ERROR(con_->Execute(StrCat("USE ", db, ".public")));
  return con_->Execute(StrCat("SET search_path = ", SqlQuote(StrCat(db, ".public,", db, ".", kInternalSchema, ",",
                                                                     kFunctionSchema))));
}

int64_t Session::NextQueryId() { return wh_.NextQueryId(); }

std::string Session::Qualified(const std::string& name) const { return name; }

void Session::Cancel() {
  cancelled_.store(true);
  con_->Interrupt();
}

absl::Status Session::CheckCancelled() const {
  if (cancelled_.load()) return WarehouseError("57014", "canceling statement due to user request");
  return absl::OkStatus();
}

absl::StatusOr<QueryResult> Session::Duck(const std::string& sql) {
  auto r = con_->Query(sql);
  if (!r.ok()) {
    if (cancelled_.load()) return WarehouseError("57014", "canceling statement due to user request");
    return MapError(r.status());
  }
  return r;
}

absl::Status Session::DuckExec(const std::string& sql) { return Duck(sql).status(); }

namespace {

// A refusal of sql/guard.h as a PostgreSQL error.
absl::Status GuardError(const absl::Status& st) {
  if (absl::IsPermissionDenied(st)) return WarehouseError("42501", std::string(st.message()));
  if (absl::IsUnimplemented(st)) return WarehouseError("0A000", std::string(st.message()));
  return MapError(st);
}

}  // namespace

absl::StatusOr<QueryResult> Session::DuckChecked(const std::string& sql) {
  auto r = con_->QueryChecked(sql, WarehousePolicy(wh_.Databases()));
  if (!r.ok()) {
    if (cancelled_.load()) return WarehouseError("57014", "canceling statement due to user request");
    return GuardError(r.status());
  }
  return r;
}

absl::Status Session::CheckClientSql(const std::string& sql) {
  return GuardError(con_->CheckStatement(sql, WarehousePolicy(wh_.Databases())));
}

absl::StatusOr<std::vector<WarehouseResult>> Session::Execute(const std::string& sql) {
  std::vector<WarehouseResult> out;
  std::vector<std::string> stmts = SplitStatements(sql);
  if (stmts.empty()) {
    WarehouseResult empty;  // an empty query: EmptyQueryResponse
    out.push_back(std::move(empty));
    return out;
  }
  for (const auto& s : stmts) {
    ASSIGN_OR_RETURN(WarehouseResult r, RunStatement(s));
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<WarehouseResult> Session::RunStatement(const std::string& sql) {
  cancelled_.store(false);
  std::vector<Token> t = Lex(sql);
  WarehouseResult r;
  if (t.empty()) return r;
  bool begin = t[0].Is("BEGIN") || (t[0].Is("START") && t.size() > 1 && t[1].Is("TRANSACTION"));
  bool commit = t[0].Is("COMMIT") || t[0].Is("END");
  bool rollback = t[0].Is("ROLLBACK") || t[0].Is("ABORT");
  if (begin) {
    if (status_ == 'I') {
      RETURN_IF_ERROR(DuckExec("BEGIN TRANSACTION"));
      status_ = 'T';
    }
    r.command_tag = "BEGIN";
    return r;
  }
  if (commit || rollback) {
    if (status_ == 'T' && commit) {
      auto st = DuckExec("COMMIT");
      status_ = 'I';
      if (!st.ok()) {
        (void)con_->Execute("ROLLBACK");
        return st;
      }
      r.command_tag = "COMMIT";
    } else {
      if (status_ != 'I') (void)con_->Execute("ROLLBACK");
      r.command_tag = status_ == 'I' && commit ? "COMMIT" : "ROLLBACK";
      status_ = 'I';
    }
    return r;
  }
  if (status_ == 'E') {
    return WarehouseError("25P02", "current transaction is aborted, commands ignored until end of transaction block");
  }
  auto result = Dispatch(sql);
  if (!result.ok() && status_ == 'T') status_ = 'E';
  return result;
}

absl::StatusOr<WarehouseResult> Session::CreateOrDropDatabase(const std::vector<Token>& t) {
  bool create = t[0].Is("CREATE");
  WarehouseResult r;
  r.command_tag = create ? "CREATE DATABASE" : "DROP DATABASE";
  if (in_transaction()) {
    return WarehouseError("25001", StrCat(r.command_tag, " cannot run inside a transaction block"));
  }
  std::string name = IdentValue(t[2]);
  // Redshift's rules: 1-127 bytes, a letter or underscore first, then letters, digits,
  // underscores or dollar signs.
  static const std::regex kName("[a-z_][a-z0-9_$]{0,126}");
  if (!std::regex_match(name, kName)) {
    return WarehouseError("42602", StrCat("invalid database name \"", name, "\""));
  }
  ASSIGN_OR_RETURN(auto con, wh_.engine().Connect());
  RETURN_IF_ERROR(create ? wh_.CreateDatabase(*con, name) : wh_.DropDatabase(*con, name, database()));
  return r;
}

absl::StatusOr<WarehouseResult> Session::Dispatch(const std::string& sql) {
  std::vector<Token> t = Lex(sql);
  WarehouseResult r;
  if (t.empty()) return r;
  if (t[0].Is("COPY")) return Copy(sql);
  if (t[0].Is("UNLOAD")) return Unload(sql);
  if (t[0].Is("CALL")) return Call(sql);
  if (t[0].Is("SET") || t[0].Is("RESET")) return Set(t);
  if (t[0].Is("SHOW") && t.size() >= 2 && !t[1].Is("TABLES") && !t[1].Is("ALL")) return Show(t);
  size_t i = 1;
  if (t[0].Is("CREATE") && i + 1 < t.size() && t[i].Is("OR") && t[i + 1].Is("REPLACE")) i += 2;
  if (t[0].Is("CREATE") && i < t.size() && t[i].Is("PROCEDURE")) return CreateProcedure(sql);
  if (t[0].Is("DROP") && t.size() > 1 && t[1].Is("PROCEDURE")) return DropProcedure(sql);
  if ((t[0].Is("CREATE") || t[0].Is("DROP")) && t.size() > 2 && t[1].Is("DATABASE")) return CreateOrDropDatabase(t);
  if ((t[0].Is("CREATE") || t[0].Is("DROP")) && t.size() > 2 && t[1].Is("EXTERNAL") && t[2].Is("SCHEMA")) {
    return ExternalSchema(sql);
  }
  if (t[0].Is("DROP") && t.size() > 1 && t[1].Is("SCHEMA")) {
    auto ext = ExternalSchema(sql);
    // A plain NotFound (no SQLSTATE) means: not an external schema.
    if (ext.ok() || ext.status().GetPayload(kSqlStatePayload)) return ext;
  }
  // Statements Redshift accepts that mean nothing here.
  for (const char* w : {"ANALYZE", "VACUUM", "GRANT", "REVOKE", "LOCK", "DISCARD"}) {
    if (t[0].Is(w)) {
      r.command_tag = AsciiUpper(w);
      return r;
    }
  }
  if ((t[0].Is("CREATE") || t[0].Is("ALTER") || t[0].Is("DROP")) && t.size() > 1 &&
      (t[1].Is("USER") || t[1].Is("GROUP") || t[1].Is("ROLE") || t[1].Is("DATASHARE"))) {
    r.command_tag = CommandTag(t);
    return r;
  }
  if ((t[0].Is("CREATE") || t[0].Is("DROP")) && t.size() > 1 && t[1].Is("DATABASE")) {
    return WarehouseError("42601", "syntax error at end of input: CREATE/DROP DATABASE needs a database name");
  }
  RETURN_IF_ERROR(RefreshExternal(t));
  return RunTranslated(sql, t);
}

absl::StatusOr<WarehouseResult> Session::RunTranslated(const std::string& sql, const std::vector<Token>& t) {
  TranslateContext ctx{database_, user_};
  ASSIGN_OR_RETURN(Translation tr, Translate(sql, ctx));
  {
    // The text first: the translation's own statements (sequences) run before it.
    ASSIGN_OR_RETURN(auto attached, con_->AttachedCatalogs());
    RETURN_IF_ERROR(GuardError(CheckSqlText(tr.sql, WarehousePolicy(wh_.Databases()), attached)));
  }
  for (const auto& b : tr.before) RETURN_IF_ERROR(DuckExec(b));
  ASSIGN_OR_RETURN(QueryResult q, DuckChecked(tr.sql));
  WarehouseResult r;
  bool rows = IsRowStatement(t) || HasWord(t, "RETURNING");
  bool is_dml = t[0].Is("INSERT") || t[0].Is("UPDATE") || t[0].Is("DELETE") || t[0].Is("MERGE");
  bool ctas = t[0].Is("CREATE") && HasWord(t, "AS") && HasWord(t, "SELECT") && HasWord(t, "TABLE") && !HasWord(t, "VIEW");
  bool select_into = t[0].Is("SELECT") && HasWord(t, "INTO");
  if (rows && !(is_dml && q.columns.size() == 1 && q.columns[0] == "Count" && !HasWord(t, "RETURNING"))) {
    r.has_result_set = true;
    r.columns = q.columns;
    r.types = q.types;
    for (auto& row : q.rows) {
      for (size_t c = 0; c < row.size(); ++c) row[c] = PgText(q.types[c], std::move(row[c]));
    }
    r.rows = std::move(q.rows);
    r.rows_affected = static_cast<int64_t>(r.rows.size());
    std::string verb = is_dml ? AsciiUpper(t[0].text) : "SELECT";
    if (verb == "INSERT") verb = "INSERT 0";
    r.command_tag = StrCat(verb, " ", r.rows_affected);
    (void)select_into;
    return r;
  }
  int64_t count = 0;
  if (q.columns.size() == 1 && q.columns[0] == "Count" && !q.rows.empty() && q.rows[0][0]) {
    ParseNumber(*q.rows[0][0], &count);
  }
  if (is_dml) {
    r.rows_affected = count;
    std::string verb = AsciiUpper(t[0].text);
    r.command_tag = verb == "INSERT" ? StrCat("INSERT 0 ", count) : StrCat(verb, " ", count);
  } else if (ctas) {
    r.rows_affected = count;
    r.command_tag = StrCat("SELECT ", count);
  } else {
    r.command_tag = CommandTag(t);
  }
  if (tr.design) {
    const TableDesign& d = *tr.design;
    if (!d.temp) {
      std::string schema = d.schema.empty() ? "public" : d.schema;
      std::string sortkey = Join(d.sortkey, ",");
      RETURN_IF_ERROR(DuckExec(StrCat(
          "INSERT OR REPLACE INTO ", SqlQuoteIdent(database_), ".", kInternalSchema, ".table_design VALUES (",
          SqlQuote(schema), ", ", SqlQuote(d.table), ", ", SqlQuote(d.diststyle), ", ",
          d.distkey.empty() ? "NULL" : SqlQuote(d.distkey), ", ",
          d.sortkey_style.empty() ? "NULL" : SqlQuote(d.sortkey_style), ", ", sortkey.empty() ? "NULL" : SqlQuote(sortkey),
          ")")));
      std::string types = StrCat(SqlQuoteIdent(database_), ".", kInternalSchema, ".column_types");
      RETURN_IF_ERROR(DuckExec(StrCat("DELETE FROM ", types, " WHERE schema_name = ", SqlQuote(schema),
                                      " AND table_name = ", SqlQuote(d.table))));
      for (const auto& [column, type] : d.column_types) {
        RETURN_IF_ERROR(DuckExec(StrCat("INSERT OR REPLACE INTO ", types, " VALUES (", SqlQuote(schema), ", ",
                                        SqlQuote(d.table), ", ", SqlQuote(column), ", ", SqlQuote(type), ")")));
      }
    }
  }
  return r;
}

absl::StatusOr<WarehouseResult> Session::Set(const std::vector<Token>& t) {
  WarehouseResult r;
  r.command_tag = t[0].Is("RESET") ? "RESET" : "SET";
  // SET [SESSION|LOCAL] name {TO|=} value[, ...]
  size_t i = 1;
  if (i < t.size() && (t[i].Is("SESSION") || t[i].Is("LOCAL"))) ++i;
  if (i < t.size() && t[i].Is("search_path") && t[0].Is("SET")) {
    i += 2;
    std::vector<std::string> schemas;
    for (; i < t.size(); ++i) {
      if (t[i].IsSymbol(",")) continue;
      std::string s = t[i].kind == TokenKind::kString ? StringValue(t[i]) : IdentValue(t[i]);
      for (auto piece : Split(s, ',', true)) {
        std::string name(StripWhitespace(piece));
        if (name.empty() || name == "$user" || name == "\"$user\"") continue;
        schemas.push_back(StrCat(SqlQuoteIdent(database_), ".", SqlQuoteIdent(name)));
      }
    }
    if (schemas.empty()) schemas.push_back(StrCat(SqlQuoteIdent(database_), ".public"));
    RETURN_IF_ERROR(DuckExec(StrCat("USE ", schemas[0])));
    schemas.push_back(StrCat(SqlQuoteIdent(database_), ".", kInternalSchema));
    schemas.push_back(kFunctionSchema);
    RETURN_IF_ERROR(DuckExec(StrCat("SET search_path = ", SqlQuote(Join(schemas, ",")))));
  }
  // Other settings (datestyle, query_group, statement_timeout, ...) are accepted and ignored.
  return r;
}

absl::StatusOr<WarehouseResult> Session::Show(const std::vector<Token>& t) {
  WarehouseResult r;
  std::string name = AsciiLower(t[1].text);
  std::string value;
  if (name == "search_path") {
    ASSIGN_OR_RETURN(QueryResult q, Duck("SELECT current_setting('search_path')"));
    std::vector<std::string> shown = {"$user"};
    if (!q.rows.empty() && q.rows[0][0]) {
      for (auto piece : Split(*q.rows[0][0], ',', true)) {
        std::string s(piece);
        if (s.find(kInternalSchema) != std::string::npos || s.starts_with("memory.")) continue;
        auto dot = s.find('.');
        std::string schema = dot == std::string::npos ? s : s.substr(dot + 1);
        if (schema.size() >= 2 && schema.front() == '"') schema = schema.substr(1, schema.size() - 2);
        shown.push_back(schema);
      }
    }
    value = Join(shown, ", ");
  } else if (name == "datestyle") {
    value = "ISO, MDY";
  } else if (name == "timezone") {
    value = "UTC";
  } else if (name == "server_version") {
    value = "8.0.2";
  } else if (name == "client_encoding" || name == "server_encoding") {
    value = "UNICODE";
  } else if (name == "statement_timeout") {
    value = "0";
  } else if (name == "transaction_isolation") {
    value = "serializable";
  } else {
    return WarehouseError("42704", StrCat("unrecognized configuration parameter \"", name, "\""));
  }
  r.has_result_set = true;
  r.columns = {name};
  r.types = {"VARCHAR"};
  r.rows = {{value}};
  r.rows_affected = 1;
  r.command_tag = "SHOW";
  return r;
}

// $n outside quotes replaced by the parameter as a SQL literal (PostgreSQL's "unknown"
// typed parameters: DuckDB casts a string literal to whatever the context needs).
absl::StatusOr<WarehouseResult> Session::ExecuteParams(const std::string& sql,
                                                       const std::vector<std::optional<std::string>>& params) {
  std::string out;
  size_t last = 0;
  for (const Token& t : Lex(sql)) {
    if (t.kind != TokenKind::kParam) continue;
    int n = 0;
    ParseNumber(t.text.substr(1), &n);
    if (n < 1 || n > static_cast<int>(params.size())) {
      return WarehouseError("08P01", StrCat("bind message supplies ", params.size(), " parameters, but the statement needs $", n));
    }
    out.append(sql, last, t.offset - last);
    out += params[n - 1] ? SqlQuote(*params[n - 1]) : std::string("NULL");
    last = t.offset + t.text.size();
  }
  out.append(sql, last);
  auto stmts = SplitStatements(out);
  if (stmts.size() > 1) return WarehouseError("42601", "cannot insert multiple commands into a prepared statement");
  if (stmts.empty()) return WarehouseResult{};
  return RunStatement(stmts[0]);
}

absl::StatusOr<WarehouseResult> Session::Describe(const std::string& sql) {
  WarehouseResult r;
  std::vector<Token> t = Lex(sql);
  if (!IsRowStatement(t) || (t[0].Is("SHOW") && t.size() > 1)) {
    if (!t.empty() && t[0].Is("SHOW") && t.size() > 1) {
      r.columns = {AsciiLower(t[1].text)};
      r.types = {"VARCHAR"};
    }
    return r;
  }
  // Parameters become NULLs: only the shape matters.
  std::string text;
  size_t last = 0;
  for (const Token& tok : t) {
    if (tok.kind != TokenKind::kParam) continue;
    text.append(sql, last, tok.offset - last);
    text += "NULL";
    last = tok.offset + tok.text.size();
  }
  text.append(sql, last);
  TranslateContext ctx{database_, user_};
  ASSIGN_OR_RETURN(Translation tr, Translate(text, ctx));
  RETURN_IF_ERROR(RefreshExternal(t));
  RETURN_IF_ERROR(CheckClientSql(tr.sql));
  ASSIGN_OR_RETURN(QueryResult q, Duck(StrCat("DESCRIBE ", tr.sql)));
  for (const auto& row : q.rows) {
    r.columns.push_back(row.size() > 0 && row[0] ? *row[0] : "");
    r.types.push_back(row.size() > 1 && row[1] ? *row[1] : "VARCHAR");
  }
  r.has_result_set = true;
  return r;
}

}  // namespace redshift
}  // namespace sluice
