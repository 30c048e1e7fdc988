// Engine::Run: DDL and utility statements against the Glue catalog; queries to RunQuery.
#include <cstdlib>
#include <regex>
#include <set>

#include "athena/ddl.h"
#include "athena/engine.h"
#include "base/strings.h"
#include "http/message.h"
#include "io/checksum.h"

namespace sluice::athena {
namespace {

QueryResult Rows(std::vector<std::string> columns, std::vector<std::vector<std::string>> rows) {
  QueryResult r;
  r.columns = std::move(columns);
  r.types.assign(r.columns.size(), "VARCHAR");
  for (auto& row : rows) {
    std::vector<std::optional<std::string>> out;
    for (auto& v : row) out.emplace_back(std::move(v));
    r.rows.push_back(std::move(out));
  }
  return r;
}

Json ColumnsJson(const std::vector<Column>& cols) {
  Json a = Json::array();
  for (const auto& c : cols) {
    Json j = {{"Name", c.name}, {"Type", c.type}};
    if (!c.comment.empty()) j["Comment"] = c.comment;
    a.push_back(j);
  }
  return a;
}

Json PropsJson(const Properties& p) {
  Json o = Json::object();
  for (const auto& [k, v] : p) o[k] = v;
  return o;
}

// Glue's Table document for a CREATE EXTERNAL TABLE.
absl::StatusOr<Json> TableInput(const CreateTable& t) {
  for (const auto& c : t.columns) RETURN_IF_ERROR(HiveToDuckType(c.type).status());
  for (const auto& c : t.partition_keys) RETURN_IF_ERROR(HiveToDuckType(c.type).status());
  RETURN_IF_ERROR(ParseS3Location(t.location).status());
  std::string serde = t.serde, input = t.input_format, output = t.output_format, classification;
  if (t.stored_as == "PARQUET") {
    if (serde.empty()) serde = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
    input = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
    output = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
    classification = "parquet";
  } else if (t.stored_as == "JSON" || t.stored_as == "JSONFILE") {
    if (serde.empty()) serde = "org.openx.data.jsonserde.JsonSerDe";
    input = "org.apache.hadoop.mapred.TextInputFormat";
    output = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";
    classification = "json";
  } else if (t.stored_as.empty() || t.stored_as == "TEXTFILE") {
    if (serde.empty()) serde = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe";
    if (input.empty()) input = "org.apache.hadoop.mapred.TextInputFormat";
    if (output.empty()) output = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";
    classification = AsciiLower(serde).find("json") != std::string::npos ? "json" : "csv";
  } else if (t.stored_as == "ORC" || t.stored_as == "AVRO" || t.stored_as == "ION") {
    return absl::InvalidArgumentError(StrCat("STORED AS ", t.stored_as, " is not supported by Sluice; use PARQUET, JSON or TEXTFILE"));
  } else {
    return absl::InvalidArgumentError(StrCat("Unknown file format ", t.stored_as));
  }
  Json params = PropsJson(t.table_properties);
  params["EXTERNAL"] = "TRUE";
  if (!params.contains("classification")) params["classification"] = classification;
  if (!t.comment.empty()) params["comment"] = t.comment;
  return Json{{"Name", t.table.name},
              {"TableType", "EXTERNAL_TABLE"},
              {"Parameters", params},
              {"PartitionKeys", ColumnsJson(t.partition_keys)},
              {"StorageDescriptor",
               {{"Columns", ColumnsJson(t.columns)},
                {"Location", t.location},
                {"InputFormat", input},
                {"OutputFormat", output},
                {"SerdeInfo", {{"SerializationLibrary", serde}, {"Parameters", PropsJson(t.serde_properties)}}}}}};
}

std::string TableNotFound(const std::string& db, const std::string& name) {
  return StrCat("Table awsdatacatalog.", db, ".", name, " does not exist");
}

}  // namespace

absl::Status Engine::MsckRepair(const std::string& db, const Json& table, StatementOutput* out) {
  const Json& keys = table.value("PartitionKeys", Json::array());
  std::string location = table.value("StorageDescriptor", Json::object()).value("Location", "");
  ASSIGN_OR_RETURN(auto where, ParseS3Location(location));
  auto [bucket, prefix] = where;
  if (!prefix.empty() && prefix.back() != '/') prefix.push_back('/');
  std::vector<std::string> lines;
  // Walk k=v folders one partition key per level.
  std::vector<std::pair<std::string, std::vector<std::string>>> level = {{prefix, {}}};
  for (const auto& key : keys) {
    std::string kname = AsciiLower(key.value("Name", ""));
    std::vector<std::pair<std::string, std::vector<std::string>>> next;
    for (const auto& [p, values] : level) {
      ListRequest req;
      req.prefix = p;
      req.delimiter = "/";
      for (;;) {
        auto page = store_.List(bucket, req);
        if (!page.ok()) return page.status();
        for (const auto& cp : page->common_prefixes) {
          std::string seg = cp.substr(p.size(), cp.size() - p.size() - 1);
          auto eq = seg.find('=');
          if (eq == std::string::npos || AsciiLower(seg.substr(0, eq)) != kname) continue;
          auto v = values;
          v.push_back(UriDecode(seg.substr(eq + 1)));
          next.emplace_back(cp, std::move(v));
        }
        if (!page->truncated) break;
        req.after = page->last;
      }
    }
    level = std::move(next);
  }
  if (keys.empty()) level.clear();
  for (const auto& [p, values] : level) {
    Json input = {{"Values", values}, {"StorageDescriptor", table.value("StorageDescriptor", Json::object())}};
    input["StorageDescriptor"]["Location"] = StrCat("s3://", bucket, "/", p);
    bool existed = catalog_.GetPartition(db, table.value("Name", ""), values).ok();
    RETURN_IF_ERROR(catalog_.CreatePartition(db, table.value("Name", ""), input, /*if_not_exists=*/true));
    if (!existed) {
      std::vector<std::string> kv;
      for (size_t i = 0; i < keys.size(); ++i) kv.push_back(StrCat(AsciiLower(keys[i].value("Name", "")), "=", values[i]));
      lines.push_back(StrCat("Repair: Added partition to metastore ", table.value("Name", ""), ":", Join(kv, "/")));
    }
  }
  out->result = Rows({"result"}, {});
  for (auto& l : lines) out->result.rows.push_back({l});
  return absl::OkStatus();
}

// A SQL literal: 'text', a number, DATE/TIMESTAMP/TIME 'text', TRUE, FALSE or NULL. Values
// for ? placeholders must be literals, so no other SQL rides in with them.
bool IsLiteral(std::string_view v) {
  v = StripWhitespace(v);
  for (std::string_view kw : {"DATE ", "TIMESTAMP ", "TIME ", "INTERVAL "}) {
    if (v.size() > kw.size() && EqualsIgnoreCase(v.substr(0, kw.size()), kw)) {
      v = StripWhitespace(v.substr(kw.size()));
      break;
    }
  }
  if (EqualsIgnoreCase(v, "true") || EqualsIgnoreCase(v, "false") || EqualsIgnoreCase(v, "null")) return true;
  if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') {
    std::string_view inner = v.substr(1, v.size() - 2);
    for (size_t i = 0; i < inner.size(); ++i) {
      if (inner[i] == '\'') {
        if (i + 1 < inner.size() && inner[i + 1] == '\'') {
          ++i;
        } else {
          return false;
        }
      }
    }
    return true;
  }
  double d;
  std::string num(v);
  char* end = nullptr;
  d = std::strtod(num.c_str(), &end);
  (void)d;
  return !num.empty() && end && *end == '\0';
}

absl::StatusOr<StatementOutput> Engine::Run(const std::string& sql_in, const std::string& database, Connection& con,
                                            const std::vector<std::string>& params) {
  for (const auto& p : params) {
    if (!IsLiteral(p)) return absl::InvalidArgumentError(StrCat("Execution parameter is not a literal: ", p));
  }
  ASSIGN_OR_RETURN(std::string unbound, SingleStatement(sql_in));
  std::string sql = unbound;
  if (!params.empty()) {
    ASSIGN_OR_RETURN(sql, BindParameters(unbound, params));
  }
  ASSIGN_OR_RETURN(Statement st, ParseStatement(sql));
  std::string current = database.empty() ? "default" : AsciiLower(database);
  auto db_of = [&](const Name& n) { return n.db.empty() ? current : n.db; };
  StatementOutput out;
  out.statement_type = "DDL";
  switch (st.kind) {
    case Statement::Kind::kQuery: {
      std::string first = AsciiUpper(sql.substr(0, sql.find_first_of(" \t\n(")));
      // Athena runs queries, not engine commands: no COPY, ATTACH, SET, PRAGMA, INSTALL, ...
      static const std::set<std::string> kAllowed = {"SELECT", "WITH", "VALUES", "TABLE", "EXPLAIN", "DESCRIBE"};
      if (!kAllowed.contains(first)) {
        return absl::InvalidArgumentError(StrCat("line 1:1: mismatched input '", sql.substr(0, sql.find_first_of(" \t\n(")),
                                                 "'. Expecting: a query or an Athena DDL statement"));
      }
      ASSIGN_OR_RETURN(out, RunQuery(sql, current, con));
      out.statement_type = (first == "SELECT" || first == "WITH" || first == "VALUES" || first == "TABLE") ? "DML" : "UTILITY";
      return out;
    }
    case Statement::Kind::kCreateTableAs:
    case Statement::Kind::kInsertInto: {
      bool create = st.kind == Statement::Kind::kCreateTableAs;
      ASSIGN_OR_RETURN(out, RunWrite(st.write, create, current, con));
      out.statement_type = create ? "DDL" : "DML";
      return out;
    }
    case Statement::Kind::kPrepare: {
      {
        std::lock_guard lock(prepared_mu_);
        prepared_[st.write.table.name] = st.write.query;
      }
      out.statement_type = "UTILITY";
      out.has_result_set = false;
      return out;
    }
    case Statement::Kind::kDeallocate: {
      std::lock_guard lock(prepared_mu_);
      if (!prepared_.erase(st.write.table.name)) {
        return absl::NotFoundError(StrCat("Prepared statement not found: ", st.write.table.name));
      }
      out.statement_type = "UTILITY";
      out.has_result_set = false;
      return out;
    }
    case Statement::Kind::kExecute: {
      std::string text;
      {
        std::lock_guard lock(prepared_mu_);
        auto it = prepared_.find(st.write.table.name);
        if (it == prepared_.end()) return absl::NotFoundError(StrCat("Prepared statement not found: ", st.write.table.name));
        text = it->second;
      }
      return Run(text, current, con, st.write.using_values);
    }
    case Statement::Kind::kCreateView: {
      std::string db = db_of(st.write.table);
      auto existing = catalog_.GetTable(db, st.write.table.name);
      if (existing.ok() && (!st.write.or_replace || existing->value("TableType", "") != "VIRTUAL_VIEW")) {
        return absl::AlreadyExistsError(StrCat("View already exists: ", db, ".", st.write.table.name));
      }
      RETURN_IF_ERROR(PrepareViews(st.write.query, db, con, &out.data_scanned_bytes));
      RETURN_IF_ERROR(CheckQuery(TranslateFormats(st.write.query), con, db));
      auto described = con.Query("DESCRIBE " + TranslateFormats(st.write.query));
      if (!described.ok()) return AthenaError(described.status(), db);
      Json cols = Json::array(), presto_cols = Json::array();
      for (const auto& row : described->rows) {
        std::string type = DuckToHiveType(row[1].value_or("VARCHAR"));
        cols.push_back({{"Name", AsciiLower(row[0].value_or(""))}, {"Type", type}});
        presto_cols.push_back({{"name", AsciiLower(row[0].value_or(""))}, {"type", type == "string" ? "varchar" : type}});
      }
      Json presto = {{"originalSql", std::string(StripWhitespace(st.write.query))}, {"catalog", "awsdatacatalog"},
                     {"schema", db}, {"columns", presto_cols}};
      Json view = {{"Name", st.write.table.name}, {"TableType", "VIRTUAL_VIEW"},
                   {"ViewOriginalText", StrCat("/* Presto View: ", Base64Encode(presto.dump()), " */")},
                   {"ViewExpandedText", "/* Presto View */"},
                   {"Parameters", {{"presto_view", "true"}, {"comment", "Presto View"}}},
                   {"PartitionKeys", Json::array()},
                   {"StorageDescriptor", {{"Columns", cols}, {"SerdeInfo", Json::object()}}}};
      RETURN_IF_ERROR(existing.ok() ? catalog_.UpdateTable(db, view) : catalog_.CreateTable(db, view));
      out.has_result_set = false;
      out.result = Rows({}, {});
      return out;
    }
    case Statement::Kind::kCreateDatabase: {
      const auto& d = st.create_database;
      Json input = {{"Name", d.name}};
      if (!d.comment.empty()) input["Description"] = d.comment;
      if (!d.location.empty()) input["LocationUri"] = d.location;
      absl::Status s = catalog_.CreateDatabase(input);
      if (absl::IsAlreadyExists(s)) {
        if (!d.if_not_exists) return absl::AlreadyExistsError(StrCat("Database ", d.name, " already exists"));
      } else {
        RETURN_IF_ERROR(s);
      }
      out.has_result_set = false;
      out.result = Rows({}, {});
      return out;
    }
    case Statement::Kind::kCreateTable: {
      const auto& t = st.create_table;
      ASSIGN_OR_RETURN(Json input, TableInput(t));
      std::string db = db_of(t.table);
      absl::Status s = catalog_.CreateTable(db, input);
      if (absl::IsNotFound(s)) return absl::NotFoundError(StrCat("Database ", db, " does not exist"));
      if (absl::IsAlreadyExists(s)) {
        if (!t.if_not_exists) return absl::AlreadyExistsError(StrCat("Table ", db, ".", t.table.name, " already exists"));
      } else {
        RETURN_IF_ERROR(s);
      }
      out.has_result_set = false;
      out.result = Rows({}, {});
      return out;
    }
    case Statement::Kind::kMsckRepair: {
      std::string db = db_of(st.msck.table);
      auto table = catalog_.GetTable(db, st.msck.table.name);
      if (!table.ok()) return absl::NotFoundError(TableNotFound(db, st.msck.table.name));
      RETURN_IF_ERROR(MsckRepair(db, *table, &out));
      return out;
    }
    case Statement::Kind::kAddPartitions:
    case Statement::Kind::kDropPartitions: {
      bool add = st.kind == Statement::Kind::kAddPartitions;
      const Name& tn = add ? st.add_partitions.table : st.drop_partitions.table;
      std::string db = db_of(tn);
      auto table = catalog_.GetTable(db, tn.name);
      if (!table.ok()) return absl::NotFoundError(TableNotFound(db, tn.name));
      const Json& keys = (*table)["PartitionKeys"];
      const auto& specs = add ? st.add_partitions.partitions : st.drop_partitions.partitions;
      for (const auto& spec : specs) {
        Json values = Json::array();
        std::vector<std::string> path;
        for (const auto& k : keys) {
          std::string kname = AsciiLower(k.value("Name", ""));
          const std::string* v = nullptr;
          for (const auto& [sk, sv] : spec.values) {
            if (sk == kname) v = &sv;
          }
          if (!v) return absl::InvalidArgumentError(StrCat("Partition key ", kname, " is missing from the partition spec"));
          values.push_back(*v);
          path.push_back(StrCat(kname, "=", *v));
        }
        if (spec.values.size() != keys.size()) {
          return absl::InvalidArgumentError("The partition spec names columns that are not partition keys");
        }
        if (add) {
          std::string loc = spec.location;
          if (loc.empty()) {
            loc = (*table)["StorageDescriptor"].value("Location", "");
            if (!loc.empty() && loc.back() != '/') loc.push_back('/');
            loc += Join(path, "/") + "/";
          }
          RETURN_IF_ERROR(ParseS3Location(loc).status());
          Json input = {{"Values", values}, {"StorageDescriptor", (*table)["StorageDescriptor"]}};
          input["StorageDescriptor"]["Location"] = loc;
          absl::Status s = catalog_.CreatePartition(db, tn.name, input, st.add_partitions.if_not_exists);
          if (absl::IsAlreadyExists(s)) return absl::AlreadyExistsError("Partition already exists.");
          RETURN_IF_ERROR(s);
        } else {
          absl::Status s = catalog_.DeletePartition(db, tn.name, values);
          if (absl::IsNotFound(s) && st.drop_partitions.if_exists) continue;
          if (absl::IsNotFound(s)) return absl::NotFoundError(StrCat("Partition ", Join(path, "/"), " does not exist"));
          RETURN_IF_ERROR(s);
        }
      }
      out.has_result_set = false;
      out.result = Rows({}, {});
      return out;
    }
    case Statement::Kind::kShow: {
      const Show& s = st.show;
      auto like = [&](const std::string& name) {
        if (s.pattern.empty()) return true;
        // Hive patterns: '*' any, '|' alternatives.
        std::string re;
        for (char c : s.pattern) {
          if (c == '*') re += ".*";
          else if (c == '|') re += "|";
          else if (std::string("\\^$.+?()[]{}").find(c) != std::string::npos) re += StrCat("\\", c);
          else re.push_back(c);
        }
        return std::regex_match(name, std::regex(re, std::regex::icase));
      };
      out.statement_type = "UTILITY";
      if (s.what == Show::What::kDatabases) {
        ASSIGN_OR_RETURN(auto dbs, catalog_.GetDatabases());
        out.result = Rows({"database_name"}, {});
        for (const auto& d : dbs) {
          if (like(d.value("Name", ""))) out.result.rows.push_back({d.value("Name", "")});
        }
      } else if (s.what == Show::What::kTables || s.what == Show::What::kViews) {
        std::string db = s.target.db.empty() ? current : s.target.db;
        auto tables = catalog_.GetTables(db);
        if (!tables.ok()) return absl::NotFoundError(StrCat("Schema '", db, "' does not exist"));
        bool views = s.what == Show::What::kViews;
        out.result = Rows({views ? "views" : "tab_name"}, {});
        for (const auto& t : *tables) {
          if (views && t.value("TableType", "") != "VIRTUAL_VIEW") continue;
          if (like(t.value("Name", ""))) out.result.rows.push_back({t.value("Name", "")});
        }
      } else {
        std::string db = db_of(s.target);
        auto table = catalog_.GetTable(db, s.target.name);
        if (!table.ok()) return absl::NotFoundError(TableNotFound(db, s.target.name));
        const Json& keys = (*table)["PartitionKeys"];
        if (s.what == Show::What::kPartitions) {
          if (keys.empty()) return absl::InvalidArgumentError(StrCat("Table ", s.target.name, " is not partitioned"));
          ASSIGN_OR_RETURN(auto parts, catalog_.GetPartitions(db, s.target.name));
          out.result = Rows({"partition"}, {});
          for (const auto& p : parts) {
            std::vector<std::string> kv;
            for (size_t i = 0; i < keys.size(); ++i) {
              kv.push_back(StrCat(keys[i].value("Name", ""), "=", p["Values"][i].get<std::string>()));
            }
            out.result.rows.push_back({Join(kv, "/")});
          }
        } else if (s.what == Show::What::kColumns) {
          out.result = Rows({"field"}, {});
          for (const auto& c : (*table)["StorageDescriptor"].value("Columns", Json::array())) out.result.rows.push_back({c.value("Name", "")});
          for (const auto& c : keys) out.result.rows.push_back({c.value("Name", "")});
        } else {
          const Json& sd = (*table)["StorageDescriptor"];
          std::vector<std::string> cols, pks;
          for (const auto& c : sd.value("Columns", Json::array())) cols.push_back(StrCat("  `", c.value("Name", ""), "` ", c.value("Type", "")));
          for (const auto& c : keys) pks.push_back(StrCat("  `", c.value("Name", ""), "` ", c.value("Type", "")));
          std::string ddl = StrCat("CREATE EXTERNAL TABLE `", db, "`.`", s.target.name, "`(\n", Join(cols, ",\n"), ")\n");
          if (!pks.empty()) ddl += StrCat("PARTITIONED BY ( \n", Join(pks, ",\n"), ")\n");
          ddl += StrCat("ROW FORMAT SERDE \n  '", sd["SerdeInfo"].value("SerializationLibrary", ""), "' \n");
          ddl += StrCat("STORED AS INPUTFORMAT \n  '", sd.value("InputFormat", ""), "' \nOUTPUTFORMAT \n  '",
                        sd.value("OutputFormat", ""), "'\nLOCATION\n  '", sd.value("Location", ""), "'");
          std::vector<std::string> props;
          Json table_params = (*table).value("Parameters", Json::object());
          for (const auto& [k, v] : table_params.items()) {
            if (v.is_string()) props.push_back(StrCat("  '", k, "'='", v.get<std::string>(), "'"));
          }
          if (!props.empty()) ddl += StrCat("\nTBLPROPERTIES (\n", Join(props, ", \n"), ")");
          out.result = Rows({"createtab_stmt"}, {});
          for (auto line : Split(ddl, '\n')) out.result.rows.push_back({std::string(line)});
        }
      }
      return out;
    }
    case Statement::Kind::kDescribe: {
      std::string db = db_of(st.describe.table);
      auto table = catalog_.GetTable(db, st.describe.table.name);
      if (!table.ok()) return absl::NotFoundError(TableNotFound(db, st.describe.table.name));
      out.statement_type = "UTILITY";
      out.result = Rows({"col_name", "data_type", "comment"}, {});
      for (const auto& c : (*table)["StorageDescriptor"].value("Columns", Json::array())) {
        out.result.rows.push_back({c.value("Name", ""), c.value("Type", ""), c.value("Comment", "")});
      }
      const Json& keys = (*table)["PartitionKeys"];
      for (const auto& c : keys) out.result.rows.push_back({c.value("Name", ""), c.value("Type", ""), c.value("Comment", "")});
      if (!keys.empty()) {
        out.result.rows.push_back({"", std::nullopt, std::nullopt});
        out.result.rows.push_back({"# Partition Information", std::nullopt, std::nullopt});
        out.result.rows.push_back({"# col_name", "data_type", "comment"});
        for (const auto& c : keys) out.result.rows.push_back({c.value("Name", ""), c.value("Type", ""), c.value("Comment", "")});
      }
      return out;
    }
    case Statement::Kind::kDrop: {
      const Drop& d = st.drop;
      absl::Status s;
      if (d.database) {
        auto tables = catalog_.GetTables(d.target.name);
        if (tables.ok() && !tables->empty() && !d.cascade) {
          return absl::FailedPreconditionError(StrCat("Database ", d.target.name, " is not empty. One or more tables exist."));
        }
        s = catalog_.DeleteDatabase(d.target.name);
        if (absl::IsNotFound(s) && !d.if_exists) return absl::NotFoundError(StrCat("Database does not exist: ", d.target.name));
      } else {
        std::string db = db_of(d.target);
        if (auto t = catalog_.GetTable(db, d.target.name); t.ok()) {
          bool is_view = t->value("TableType", "") == "VIRTUAL_VIEW";
          if (is_view != d.view) {
            return absl::InvalidArgumentError(StrCat(db, ".", d.target.name, " is ", is_view ? "a view; use DROP VIEW" : "a table; use DROP TABLE"));
          }
        }
        s = catalog_.DeleteTable(db, d.target.name);
        if (absl::IsNotFound(s) && !d.if_exists) return absl::NotFoundError(TableNotFound(db, d.target.name));
        if (s.ok()) {
          std::lock_guard lock(view_mu_);
          (void)con.Execute(StrCat("DROP VIEW IF EXISTS awsdatacatalog.", QuoteIdent(db), ".", QuoteIdent(d.target.name)));
        }
      }
      if (!s.ok() && !absl::IsNotFound(s)) return s;
      out.has_result_set = false;
      out.result = Rows({}, {});
      return out;
    }
  }
  return absl::InternalError("unhandled statement");
}

}  // namespace sluice::athena
