// Spectrum: CREATE EXTERNAL SCHEMA maps a warehouse schema onto a Glue catalog database.
// The schema exists in the warehouse database; a statement naming schema.table (re)defines
// that view from the catalog table as the lake engine scans it (athena::Engine::TableScan:
// exactly the committed objects of its partitions), so it always reads what the catalog
// says now and joins with warehouse tables.
#include "athena/engine.h"
#include "base/strings.h"
#include "glue/catalog.h"
#include "redshift/lake_io.h"
#include "redshift/session.h"

namespace sluice::redshift {

absl::StatusOr<WarehouseResult> Session::ExternalSchema(const std::string& sql) {
  std::vector<Token> t = Lex(sql);
  std::string table = StrCat(SqlQuoteIdent(database_), ".", kInternalSchema, ".external_schemas");
  WarehouseResult r;
  if (t[0].Is("DROP")) {
    // DROP [EXTERNAL] SCHEMA [IF EXISTS] name [DROP EXTERNAL DATABASE] [CASCADE|RESTRICT]
    TokenCursor c(t, 1);
    bool external = c.Accept("EXTERNAL");
    c.Accept("SCHEMA");
    bool if_exists = false;
    if (c.Accept("IF")) {
      c.Accept("EXISTS");
      if_exists = true;
    }
    std::string name = IdentValue(c.Next());
    bool drop_db = false;
    while (!c.done()) {
      if (c.Accept("DROP") && c.Accept("EXTERNAL") && c.Accept("DATABASE")) {
        drop_db = true;
      } else {
        c.Next();
      }
    }
    ASSIGN_OR_RETURN(QueryResult q, Duck(StrCat("SELECT glue_database FROM ", table, " WHERE schema_name = ", SqlQuote(name))));
    if (q.rows.empty()) {
      if (!external) return absl::NotFoundError("not an external schema");
      if (if_exists) {
        r.command_tag = "DROP SCHEMA";
        return r;
      }
      return WarehouseError("3F000", StrCat("schema \"", name, "\" does not exist"));
    }
    std::lock_guard lock(wh_.external_mu());
    RETURN_IF_ERROR(DuckExec(StrCat("DROP SCHEMA IF EXISTS ", SqlQuoteIdent(database_), ".", SqlQuoteIdent(name), " CASCADE")));
    RETURN_IF_ERROR(DuckExec(StrCat("DELETE FROM ", table, " WHERE schema_name = ", SqlQuote(name))));
    if (drop_db && q.rows[0][0]) (void)wh_.catalog().DeleteDatabase(*q.rows[0][0]);
    r.command_tag = "DROP SCHEMA";
    return r;
  }
  // CREATE EXTERNAL SCHEMA [IF NOT EXISTS] name FROM DATA CATALOG DATABASE 'db' [IAM_ROLE '...']
  //   [REGION '...'] [CATALOG_ROLE '...'] [CREATE EXTERNAL DATABASE IF NOT EXISTS]
  TokenCursor c(t, 3);
  bool if_not_exists = false;
  if (c.Accept("IF")) {
    c.Accept("NOT");
    c.Accept("EXISTS");
    if_not_exists = true;
  }
  std::string name = IdentValue(c.Next());
  if (!c.Accept("FROM")) return WarehouseError("42601", "syntax error in CREATE EXTERNAL SCHEMA: expected FROM");
  if (c.Accept("DATA")) {
    c.Accept("CATALOG");
  } else if (!c.Accept("HIVE")) {
    return WarehouseError("0A000", StrCat("CREATE EXTERNAL SCHEMA FROM ", std::string(c.peek().text),
                                          " is not supported by sluice (only DATA CATALOG)"));
  }
  std::string glue_db, role;
  bool create_db = false;
  while (!c.done()) {
    if (c.Accept("DATABASE")) {
      ASSIGN_OR_RETURN(glue_db, c.String("database name"));
    } else if (c.Accept("IAM_ROLE")) {
      if (c.peek().Is("default")) {
        c.Next();
        role = "default";
      } else {
        ASSIGN_OR_RETURN(role, c.String("IAM role"));
      }
    } else if (c.Accept("CREATE")) {
      c.Accept("EXTERNAL");
      c.Accept("DATABASE");
      c.Accept("IF");
      c.Accept("NOT");
      c.Accept("EXISTS");
      create_db = true;
    } else {
      c.Next();  // REGION, CATALOG_ROLE, CATALOG_ID values
    }
  }
  glue_db = AsciiLower(glue_db);
  if (glue_db.empty()) return WarehouseError("42601", "CREATE EXTERNAL SCHEMA needs DATABASE 'name'");
  if (!wh_.catalog().GetDatabase(glue_db).ok()) {
    if (!create_db) {
      return WarehouseError("XX000", StrCat("External database \"", glue_db,
                                            "\" does not exist in the data catalog. Use CREATE EXTERNAL DATABASE IF NOT EXISTS."));
    }
    auto st = wh_.catalog().CreateDatabase({{"Name", glue_db}});
    if (!st.ok() && !absl::IsAlreadyExists(st)) return WarehouseError("XX000", std::string(st.message()));
  }
  ASSIGN_OR_RETURN(QueryResult q, Duck(StrCat("SELECT count(*) FROM ", table, " WHERE schema_name = ", SqlQuote(name))));
  bool exists = !q.rows.empty() && q.rows[0][0] != "0";
  ASSIGN_OR_RETURN(QueryResult s, Duck(StrCat("SELECT count(*) FROM duckdb_schemas() WHERE database_name = ",
                                              SqlQuote(database_), " AND schema_name = ", SqlQuote(name))));
  if (exists || (!s.rows.empty() && s.rows[0][0] != "0")) {
    if (if_not_exists) {
      r.command_tag = "CREATE SCHEMA";
      r.notices.push_back(StrCat("INFO:  Schema \"", name, "\" already exists"));
      return r;
    }
    return WarehouseError("42P06", StrCat("Schema \"", name, "\" already exists"));
  }
  RETURN_IF_ERROR(DuckExec(StrCat("CREATE SCHEMA ", SqlQuoteIdent(database_), ".", SqlQuoteIdent(name))));
  RETURN_IF_ERROR(DuckExec(StrCat("INSERT INTO ", table, " VALUES (", SqlQuote(name), ", ", SqlQuote(glue_db), ", ",
                                  SqlQuote(role), ", CAST(timezone('UTC', current_timestamp) AS TIMESTAMP))")));
  r.command_tag = "CREATE SCHEMA";
  return r;
}

absl::Status Session::RefreshExternal(const std::vector<Token>& t) {
  // Qualified names whose first part is not one of the warehouse's own schemas.
  std::vector<std::pair<std::string, std::string>> refs;
  bool wants_list = false;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].Is("svv_external_tables") || t[i].Is("svv_external_columns")) wants_list = true;
    if (i + 2 >= t.size() || !t[i + 1].IsSymbol(".")) continue;
    if (t[i].kind != TokenKind::kWord && t[i].kind != TokenKind::kQuotedIdent) continue;
    if (i > 0 && t[i - 1].IsSymbol(".")) continue;
    std::string schema = IdentValue(t[i]);
    if (schema == "public" || schema == "pg_catalog" || schema == "information_schema" || schema == kInternalSchema) {
      continue;
    }
    if (t[i + 2].kind != TokenKind::kWord && t[i + 2].kind != TokenKind::kQuotedIdent) continue;
    if (i + 3 < t.size() && t[i + 3].IsSymbol("(")) continue;  // schema.function(...)
    refs.emplace_back(schema, IdentValue(t[i + 2]));
  }
  if (refs.empty() && !wants_list) return absl::OkStatus();
  std::string table = StrCat(SqlQuoteIdent(database_), ".", kInternalSchema, ".external_schemas");
  auto q = con_->Query(StrCat("SELECT schema_name, glue_database FROM ", table));
  if (!q.ok()) return absl::OkStatus();
  std::map<std::string, std::string> schemas;
  for (const auto& row : q->rows) schemas[row[0].value_or("")] = row[1].value_or("");
  if (schemas.empty()) return absl::OkStatus();
  std::lock_guard lock(wh_.external_mu());
  auto define = [&](const std::string& schema, const Json& doc) -> absl::Status {
    std::string name = doc.value("Name", "");
    std::string view = StrCat(SqlQuoteIdent(database_), ".", SqlQuoteIdent(schema), ".", SqlQuoteIdent(name));
    if (doc.value("TableType", "") == "VIRTUAL_VIEW") return absl::OkStatus();
    uint64_t bytes = 0;
    auto scan = wh_.lake().TableScan(doc, nullptr, &bytes);
    if (!scan.ok()) {
      return WarehouseError("XX000", StrCat("Spectrum Scan Error: ", schema, ".", name, ": ", std::string(scan.status().message())));
    }
    return MapError(con_->Execute(StrCat("CREATE OR REPLACE VIEW ", view, " AS ", *scan)));
  };
  for (const auto& [schema, name] : refs) {
    auto it = schemas.find(schema);
    if (it == schemas.end()) continue;
    auto doc = wh_.catalog().GetTable(it->second, name);
    if (!doc.ok()) {
      (void)con_->Execute(StrCat("DROP VIEW IF EXISTS ", SqlQuoteIdent(database_), ".", SqlQuoteIdent(schema), ".",
                                 SqlQuoteIdent(name)));
      continue;
    }
    RETURN_IF_ERROR(define(schema, *doc));
  }
  if (wants_list) {
    std::string et = StrCat(SqlQuoteIdent(database_), ".", kInternalSchema, ".svv_external_tables");
    std::string ec = StrCat(SqlQuoteIdent(database_), ".", kInternalSchema, ".svv_external_columns");
    RETURN_IF_ERROR(MapError(con_->Execute(StrCat(
        "CREATE OR REPLACE TABLE ", et, "(schemaname VARCHAR, tablename VARCHAR, location VARCHAR, input_format VARCHAR, "
        "output_format VARCHAR, serialization_lib VARCHAR, serde_parameters VARCHAR, compressed INTEGER, parameters VARCHAR, "
        "tabletype VARCHAR)"))));
    RETURN_IF_ERROR(MapError(con_->Execute(StrCat(
        "CREATE OR REPLACE TABLE ", ec, "(schemaname VARCHAR, tablename VARCHAR, columnname VARCHAR, external_type VARCHAR, "
        "columnnum INTEGER, part_key INTEGER, is_nullable VARCHAR)"))));
    for (const auto& [schema, glue_db] : schemas) {
      auto tables = wh_.catalog().GetTables(glue_db);
      if (!tables.ok()) continue;
      for (const auto& doc : *tables) {
        const Json& sd = doc.value("StorageDescriptor", Json::object());
        const Json& serde = sd.value("SerdeInfo", Json::object());
        RETURN_IF_ERROR(MapError(con_->Execute(StrCat(
            "INSERT INTO ", et, " VALUES (", SqlQuote(schema), ", ", SqlQuote(doc.value("Name", "")), ", ",
            SqlQuote(sd.value("Location", "")), ", ", SqlQuote(sd.value("InputFormat", "")), ", ",
            SqlQuote(sd.value("OutputFormat", "")), ", ", SqlQuote(serde.value("SerializationLibrary", "")), ", ",
            SqlQuote(serde.value("Parameters", Json::object()).dump()), ", 0, ",
            SqlQuote(doc.value("Parameters", Json::object()).dump()), ", ", SqlQuote(doc.value("TableType", "EXTERNAL_TABLE")),
            ")"))));
        int n = 1;
        for (const auto* key : {"Columns", "PartitionKeys"}) {
          const Json& cols = std::string(key) == "Columns" ? sd.value("Columns", Json::array())
                                                           : doc.value("PartitionKeys", Json::array());
          int part = 0;
          for (const auto& col : cols) {
            RETURN_IF_ERROR(MapError(con_->Execute(StrCat(
                "INSERT INTO ", ec, " VALUES (", SqlQuote(schema), ", ", SqlQuote(doc.value("Name", "")), ", ",
                SqlQuote(col.value("Name", "")), ", ", SqlQuote(col.value("Type", "")), ", ", n++, ", ",
                std::string(key) == "Columns" ? 0 : ++part, ", 'true')"))));
          }
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace sluice::redshift
