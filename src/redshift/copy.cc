// COPY table [(columns)] FROM 's3://...' [options]: files read in place from the lake by
// DuckDB's readers. CSV and delimited text are read with the target's column types and
// DuckDB's reject tables, so each bad line becomes an stl_load_errors row (file, line,
// column, reason) and MAXERROR decides whether the good rows stay.
#include <map>

#include "base/strings.h"
#include "io/file.h"
#include "nlohmann/json.hpp"
#include "redshift/lake_io.h"
#include "redshift/session.h"
#include "s3/store.h"

namespace sluice::redshift {

namespace {

struct CopyOptions {
  std::string format = "TEXT";  // TEXT (delimited), CSV, JSON, PARQUET, ORC, AVRO
  std::string json_spec = "auto";
  std::string delimiter;
  std::string quote = "\"";
  int64_t ignore_header = 0;
  std::string compression;  // gzip, zstd, bzip2
  std::string dateformat, timeformat;
  std::optional<std::string> null_as;
  bool empty_as_null = false, blanks_as_null = false, fill_record = false, escape = false, remove_quotes = false;
  bool manifest = false;
  int64_t max_error = 0;
};

absl::Status Unsupported(const std::string& what) {
  return WarehouseError("0A000", StrCat(what, " is not supported by sluice's COPY"));
}

absl::StatusOr<CopyOptions> ParseOptions(TokenCursor& c) {
  CopyOptions o;
  while (!c.done()) {
    if (c.AcceptSymbol(",")) continue;
    if (c.Accept("IAM_ROLE") || c.Accept("CREDENTIALS") || c.Accept("ACCESS_KEY_ID") || c.Accept("SECRET_ACCESS_KEY") ||
        c.Accept("SESSION_TOKEN") || c.Accept("REGION") || c.Accept("MASTER_SYMMETRIC_KEY") ||
        c.Accept("ENCODING")) {
      c.Accept("AS");
      if (c.peek().Is("default")) {
        c.Next();
      } else {
        c.Next();  // the value: a string or a word (ENCODING UTF8)
      }
      continue;
    }
    bool format_kw = c.Accept("FORMAT");
    if (format_kw) c.Accept("AS");
    if (c.Accept("CSV")) {
      o.format = "CSV";
      if (c.Accept("QUOTE")) {
        c.Accept("AS");
        ASSIGN_OR_RETURN(o.quote, c.String("quote character"));
      }
    } else if (c.Accept("JSON")) {
      o.format = "JSON";
      c.Accept("AS");
      if (c.peek().kind == TokenKind::kString) { ASSIGN_OR_RETURN(o.json_spec, c.String("JSON option")); }
    } else if (c.Accept("PARQUET")) {
      o.format = "PARQUET";
    } else if (c.Accept("ORC") || c.Accept("AVRO")) {
      return Unsupported("FORMAT ORC/AVRO");
    } else if (c.Accept("FIXEDWIDTH") || c.Accept("SHAPEFILE")) {
      return Unsupported("FIXEDWIDTH/SHAPEFILE");
    } else if (format_kw) {
      return WarehouseError("42601", StrCat("syntax error at or near \"", std::string(c.peek().text), "\""));
    } else if (c.Accept("DELIMITER")) {
      c.Accept("AS");
      ASSIGN_OR_RETURN(o.delimiter, c.String("delimiter"));
    } else if (c.Accept("IGNOREHEADER")) {
      c.Accept("AS");
      ASSIGN_OR_RETURN(o.ignore_header, c.Integer("IGNOREHEADER"));
    } else if (c.Accept("GZIP")) {
      o.compression = "gzip";
    } else if (c.Accept("ZSTD")) {
      o.compression = "zstd";
    } else if (c.Accept("BZIP2")) {
      o.compression = "bzip2";
    } else if (c.Accept("LZOP")) {
      return Unsupported("LZOP");
    } else if (c.Accept("DATEFORMAT")) {
      c.Accept("AS");
      ASSIGN_OR_RETURN(o.dateformat, c.String("DATEFORMAT"));
    } else if (c.Accept("TIMEFORMAT")) {
      c.Accept("AS");
      ASSIGN_OR_RETURN(o.timeformat, c.String("TIMEFORMAT"));
    } else if (c.Accept("NULL")) {
      c.Accept("AS");
      ASSIGN_OR_RETURN(auto n, c.String("NULL AS string"));
      o.null_as = n;
    } else if (c.Accept("EMPTYASNULL")) {
      o.empty_as_null = true;
    } else if (c.Accept("BLANKSASNULL")) {
      o.blanks_as_null = true;
    } else if (c.Accept("FILLRECORD")) {
      o.fill_record = true;
    } else if (c.Accept("ESCAPE")) {
      o.escape = true;
    } else if (c.Accept("REMOVEQUOTES")) {
      o.remove_quotes = true;
    } else if (c.Accept("ACCEPTINVCHARS")) {
      c.Accept("AS");
      if (c.peek().kind == TokenKind::kString) c.Next();
    } else if (c.Accept("MAXERROR")) {
      c.Accept("AS");
      ASSIGN_OR_RETURN(o.max_error, c.Integer("MAXERROR"));
    } else if (c.Accept("MANIFEST")) {
      o.manifest = true;
    } else if (c.Accept("COMPUPDATE") || c.Accept("STATUPDATE")) {
      if (c.peek().Is("ON") || c.peek().Is("OFF") || c.peek().Is("TRUE") || c.peek().Is("FALSE") ||
          c.peek().Is("PRESET")) {
        c.Next();
      }
    } else if (c.Accept("TRUNCATECOLUMNS") || c.Accept("ACCEPTANYDATE") || c.Accept("IGNOREBLANKLINES") ||
               c.Accept("TRIMBLANKS") || c.Accept("ROUNDEC") || c.Accept("EXPLICIT_IDS") || c.Accept("NOLOAD") ||
               c.Accept("SERIALIZETOJSON")) {
      // Accepted; sluice behaves the same with or without them.
    } else if (c.Accept("TIMEFORMAT")) {
    } else {
      return WarehouseError("42601", StrCat("syntax error at or near \"", std::string(c.peek().text), "\""));
    }
  }
  return o;
}

// A target column: name and DuckDB type.
struct Column {
  std::string name, type;
};

std::string ErrCode(const std::string& message, const std::string& type) {
  if (message.find("Expected Number of Columns") != std::string::npos) {
    return message.find("Found: ") != std::string::npos ? "1214" : "1214";
  }
  if (type == "DATE") return "1205";
  if (type.starts_with("TIMESTAMP") || type == "TIME") return "1206";
  if (type == "INTEGER" || type == "BIGINT" || type == "SMALLINT" || type.starts_with("DECIMAL") ||
      type == "DOUBLE" || type == "FLOAT" || type == "HUGEINT") {
    return "1207";
  }
  if (message.find("unicode") != std::string::npos || message.find("UTF") != std::string::npos) return "1220";
  return "1200";
}

}  // namespace

absl::StatusOr<WarehouseResult> Session::Copy(const std::string& sql) {
  std::vector<Token> t = Lex(sql);
  TokenCursor c(t, 1);
  // Target: [schema.]table
  std::string schema, table;
  table = IdentValue(c.Next());
  if (c.AcceptSymbol(".")) {
    schema = table;
    table = IdentValue(c.Next());
  }
  std::vector<std::string> target_cols;
  if (c.AcceptSymbol("(")) {
    while (!c.done() && !c.AcceptSymbol(")")) {
      if (c.AcceptSymbol(",")) continue;
      target_cols.push_back(IdentValue(c.Next()));
    }
  }
  if (c.Accept("TO")) {
    return WarehouseError("0A000", "COPY ... TO is not supported: use UNLOAD");
  }
  if (!c.Accept("FROM")) return WarehouseError("42601", "syntax error in COPY: expected FROM");
  ASSIGN_OR_RETURN(std::string uri, c.String("S3 location"));
  ASSIGN_OR_RETURN(CopyOptions o, ParseOptions(c));
  if (o.compression == "bzip2") {
    return WarehouseError("0A000", "COPY with BZIP2: sluice's engine cannot read bzip2-compressed files; use GZIP or ZSTD");
  }

  // The table and its columns (temp tables first, as PostgreSQL resolves them).
  std::string where = schema.empty()
                          ? StrCat("(database_name = 'temp' OR (database_name = ", SqlQuote(database_),
                                   " AND schema_name = current_schema()))")
                          : StrCat("database_name = ", SqlQuote(database_), " AND schema_name = ", SqlQuote(schema));
  ASSIGN_OR_RETURN(QueryResult cols, Duck(StrCat("SELECT database_name, schema_name, column_name, data_type FROM duckdb_columns() "
                                                 "WHERE table_name = ", SqlQuote(table), " AND ", where,
                                                 " ORDER BY database_name = 'temp' DESC, column_index")));
  if (cols.rows.empty()) return WarehouseError("42P01", StrCat("relation \"", table, "\" does not exist"));
  std::string db_name = *cols.rows[0][0], schema_name = *cols.rows[0][1];
  std::string qualified = StrCat(SqlQuoteIdent(db_name), ".", SqlQuoteIdent(schema_name), ".", SqlQuoteIdent(table));
  std::vector<Column> all;
  for (const auto& r : cols.rows) {
    if (*r[0] == db_name && *r[1] == schema_name) all.push_back({*r[2], *r[3]});
  }
  std::vector<Column> load;
  if (target_cols.empty()) {
    load = all;
  } else {
    for (const auto& n : target_cols) {
      auto it = std::find_if(all.begin(), all.end(), [&](const Column& x) { return x.name == n; });
      if (it == all.end()) {
        return WarehouseError("42703", StrCat("column \"", n, "\" of relation \"", table, "\" does not exist"));
      }
      load.push_back(*it);
    }
  }

  // The files: keys beginning with the prefix, or a manifest's entries.
  ASSIGN_OR_RETURN(auto loc, SplitS3Uri(uri));
  std::vector<LakeObject> files;
  if (o.manifest) {
    ASSIGN_OR_RETURN(auto objs, ListPrefix(wh_.s3(), loc.first, loc.second));
    auto exact = std::find_if(objs.begin(), objs.end(), [&](const LakeObject& x) { return x.key == loc.second; });
    if (exact == objs.end()) return WarehouseError("XX000", StrCat("Manifest file ", uri, " does not exist"));
    auto text = ReadFile(exact->path);
    if (!text.ok()) return WarehouseError("XX000", StrCat("cannot read manifest ", uri));
    nlohmann::json m = nlohmann::json::parse(*text, nullptr, false);
    if (!m.is_object() || !m.contains("entries")) {
      return WarehouseError("XX000", StrCat("Invalid manifest ", uri, ": no \"entries\" array"));
    }
    for (const auto& e : m["entries"]) {
      std::string url = e.value("url", "");
      bool mandatory = e.value("mandatory", false);
      ASSIGN_OR_RETURN(auto el, SplitS3Uri(url));
      auto found = ListPrefix(wh_.s3(), el.first, el.second);
      bool hit = false;
      if (found.ok()) {
        for (const auto& f : *found) {
          if (f.key == el.second) {
            files.push_back(f);
            hit = true;
          }
        }
      }
      if (!hit && mandatory) return WarehouseError("XX000", StrCat("Manifest entry ", url, " is mandatory but does not exist"));
    }
  } else {
    ASSIGN_OR_RETURN(auto objs, ListPrefix(wh_.s3(), loc.first, loc.second));
    for (auto& f : objs) {
      std::string base = f.key.substr(f.key.rfind('/') == std::string::npos ? 0 : f.key.rfind('/') + 1);
      if (f.size == 0) continue;
      if (o.format == "PARQUET" && (base.starts_with("_") || base.starts_with("."))) continue;
      files.push_back(std::move(f));
    }
  }
  if (files.empty()) {
    return WarehouseError("XX000", StrCat("The specified S3 prefix '", loc.second, "' does not exist"));
  }
  std::vector<std::string> paths;
  for (const auto& f : files) paths.push_back(SqlQuote(f.path));
  std::string file_list = StrCat("[", Join(paths, ", "), "]");
  std::string insert_cols;
  {
    std::vector<std::string> names;
    for (const auto& col : load) names.push_back(SqlQuoteIdent(col.name));
    insert_cols = StrCat("(", Join(names, ", "), ")");
  }
  std::map<std::string, std::string> key_of_path;
  for (const auto& f : files) key_of_path[f.path] = StrCat("s3://", f.bucket, "/", f.key);

  int64_t query = NextQueryId();
  std::string reader;
  bool rejects = false;
  if (o.format == "CSV" || o.format == "TEXT") {
    std::vector<std::string> spec;
    for (const auto& col : load) spec.push_back(StrCat(SqlQuote(col.name), ": ", SqlQuote(col.type)));
    std::string delim = o.delimiter.empty() ? (o.format == "CSV" ? "," : "|") : o.delimiter;
    std::vector<std::string> nulls = {o.null_as.value_or(o.format == "CSV" ? "" : "\\N")};
    // Empty fields of non-string columns are always NULL in Redshift.
    if (nulls[0] != "") nulls.push_back("");
    std::vector<std::string> quoted_nulls;
    for (const auto& n : nulls) quoted_nulls.push_back(SqlQuote(n));
    reader = StrCat("read_csv(", file_list, ", columns = {", Join(spec, ", "), "}, header = false, skip = ",
                    o.ignore_header, ", delim = ", SqlQuote(delim), ", nullstr = [", Join(quoted_nulls, ", "), "]",
                    ", auto_detect = false, strict_mode = false, null_padding = ", o.fill_record ? "true" : "false",
                    ", parallel = false");
    if (o.format == "CSV") {
      StrAppend(&reader, ", quote = ", SqlQuote(o.quote), ", escape = ", SqlQuote(o.quote));
    } else {
      StrAppend(&reader, ", quote = ", SqlQuote(o.remove_quotes ? "\"" : "\x01"), ", escape = ",
                SqlQuote(o.escape ? "\\" : "\x01"));
    }
    if (!o.compression.empty()) StrAppend(&reader, ", compression = ", SqlQuote(o.compression));
    if (!o.dateformat.empty() && !EqualsIgnoreCase(o.dateformat, "auto")) {
      StrAppend(&reader, ", dateformat = ", SqlQuote(StrptimeFormat(o.dateformat)));
    }
    if (!o.timeformat.empty() && !EqualsIgnoreCase(o.timeformat, "auto") && !EqualsIgnoreCase(o.timeformat, "epochsecs") &&
        !EqualsIgnoreCase(o.timeformat, "epochmillisecs")) {
      StrAppend(&reader, ", timestampformat = ", SqlQuote(StrptimeFormat(o.timeformat)));
    }
    StrAppend(&reader, ", store_rejects = true, rejects_table = 'sluice_copy_rejects', rejects_scan = 'sluice_copy_scans')");
    rejects = true;
    (void)con_->Execute("DROP TABLE IF EXISTS temp.main.sluice_copy_rejects");
    (void)con_->Execute("DROP TABLE IF EXISTS temp.main.sluice_copy_scans");
  } else if (o.format == "PARQUET") {
    reader = StrCat("read_parquet(", file_list, ", hive_partitioning = false)");
  } else if (o.format == "JSON") {
    std::string format = "auto";
    if (EqualsIgnoreCase(o.json_spec, "auto") || EqualsIgnoreCase(o.json_spec, "auto ignorecase")) {
      std::vector<std::string> spec;
      for (const auto& col : load) spec.push_back(StrCat(SqlQuote(col.name), ": ", SqlQuote(col.type)));
      reader = StrCat("read_json(", file_list, ", columns = {", Join(spec, ", "), "}, format = 'auto'",
                      o.compression.empty() ? "" : StrCat(", compression = ", SqlQuote(o.compression)), ")");
    } else {
      // A JSONPaths file: {"jsonpaths": ["$.a", "$['b']['c']", ...]}, one per column.
      ASSIGN_OR_RETURN(auto jl, SplitS3Uri(o.json_spec));
      ASSIGN_OR_RETURN(auto objs, ListPrefix(wh_.s3(), jl.first, jl.second));
      auto exact = std::find_if(objs.begin(), objs.end(), [&](const LakeObject& x) { return x.key == jl.second; });
      if (exact == objs.end()) return WarehouseError("XX000", StrCat("JSONPaths file ", o.json_spec, " does not exist"));
      auto text = ReadFile(exact->path);
      nlohmann::json jp = nlohmann::json::parse(text.ok() ? *text : "", nullptr, false);
      if (!jp.is_object() || !jp.contains("jsonpaths") || !jp["jsonpaths"].is_array()) {
        return WarehouseError("XX000", StrCat("Invalid JSONPath format in ", o.json_spec));
      }
      if (jp["jsonpaths"].size() != load.size()) {
        return WarehouseError("XX000", StrCat("Number of jsonpaths and the number of columns should match. JSONPath size: ",
                                              jp["jsonpaths"].size(), ", Number of columns in table or column list: ",
                                              load.size()));
      }
      std::vector<std::string> exprs;
      for (size_t i = 0; i < load.size(); ++i) {
        std::string p = jp["jsonpaths"][i].is_string() ? jp["jsonpaths"][i].get<std::string>() : "$";
        exprs.push_back(StrCat("CAST(json_extract_string(json, ", SqlQuote(p), ") AS ", load[i].type, ")"));
      }
      reader = StrCat("(SELECT ", Join(exprs, ", "), " FROM read_json_objects(", file_list, ", format = 'auto'",
                      o.compression.empty() ? "" : StrCat(", compression = ", SqlQuote(o.compression)), "))");
    }
    (void)format;
  }

  bool own_txn = status_ == 'I';
  if (own_txn) RETURN_IF_ERROR(DuckExec("BEGIN TRANSACTION"));
  auto inserted = Duck(StrCat("INSERT INTO ", qualified, " ", insert_cols, " SELECT * FROM ", reader));
  if (!inserted.ok()) {
    if (own_txn) (void)con_->Execute("ROLLBACK");
    // One load error for the whole statement: the reader's own message.
    std::string reason(inserted.status().message());
    (void)con_->Execute(StrCat("INSERT INTO ", SqlQuoteIdent(database_), ".", kInternalSchema,
                               ".load_errors VALUES (100, 0, 0, CAST(timezone('UTC', current_timestamp) AS TIMESTAMP), ",
                               1, ", ", query, ", ", SqlQuote(uri), ", 0, '', '', '', 0, '', '', 1200, ",
                               SqlQuote(reason.substr(0, 512)), ")"));
    if (SqlStateOf(inserted.status()) == "57014") return inserted.status();
    return WarehouseError("XX000", StrCat("Load into table '", table, "' failed.  Check 'stl_load_errors' system table for details. (",
                                          reason, ")"));
  }
  int64_t count = 0;
  if (!inserted->rows.empty() && inserted->rows[0][0]) ParseNumber(*inserted->rows[0][0], &count);
  int64_t errors = 0;
  if (rejects) {
    std::map<std::string, std::string> type_of;
    for (const auto& col : load) type_of[col.name] = col.type;
    auto rej = Duck(
        "SELECT s.file_path, e.line, e.column_name, e.csv_line, e.error_message, e.column_idx, e.byte_position - "
        "e.line_byte_position FROM temp.main.sluice_copy_rejects e JOIN temp.main.sluice_copy_scans s "
        "ON s.scan_id = e.scan_id AND s.file_id = e.file_id ORDER BY s.file_path, e.line");
    if (rej.ok()) {
      errors = static_cast<int64_t>(rej->rows.size());
      std::string values;
      for (const auto& r : rej->rows) {
        std::string path = r[0].value_or(""), colname = r[2].value_or(""), msg = r[4].value_or("");
        std::string type = type_of.contains(colname) ? type_of[colname] : "";
        // The raw field value: what the message quotes ("Could not convert string "x" to ...").
        std::string raw;
        if (auto p = msg.find("string \""); p != std::string::npos) {
          auto q = msg.find("\" to", p + 8);
          if (q != std::string::npos) raw = msg.substr(p + 8, q - p - 8);
        }
        std::string reason = msg;
        if (auto p = msg.find(". "); p != std::string::npos && msg.starts_with("Error when converting")) {
          reason = msg.substr(p + 2);
        }
        if (msg.starts_with("Expected Number of Columns")) {
          reason = msg.find("Found: ") != std::string::npos && load.size() > 0 ? StrCat("Delimiter not found or extra column(s) found: ", msg) : msg;
        }
        StrAppend(&values, values.empty() ? "" : ", ", "(100, 0, 0, CAST(timezone('UTC', current_timestamp) AS TIMESTAMP), 1, ",
                  query, ", ", SqlQuote(key_of_path.contains(path) ? key_of_path[path] : path), ", ", r[1].value_or("0"),
                  ", ", SqlQuote(colname), ", ", SqlQuote(AsciiLower(type)), ", '', ", r[6].value_or("0"), ", ",
                  SqlQuote(r[3].value_or("").substr(0, 1024)), ", ", SqlQuote(raw.substr(0, 1024)), ", ",
                  ErrCode(msg, type), ", ", SqlQuote(reason.substr(0, 512)), ")");
      }
      if (errors > o.max_error) {
        if (own_txn) (void)con_->Execute("ROLLBACK");
      } else if (own_txn) {
        RETURN_IF_ERROR(DuckExec("COMMIT"));
      }
      if (!values.empty()) {
        (void)con_->Execute(StrCat("INSERT INTO ", SqlQuoteIdent(database_), ".", kInternalSchema, ".load_errors VALUES ",
                                   values));
      }
      if (errors > o.max_error) {
        if (!own_txn) status_ = 'E';
        return WarehouseError("XX000", StrCat("Load into table '", table,
                                              "' failed.  Check 'stl_load_errors' system table for details."));
      }
    } else if (own_txn) {
      RETURN_IF_ERROR(DuckExec("COMMIT"));
    }
  } else if (own_txn) {
    RETURN_IF_ERROR(DuckExec("COMMIT"));
  }
  WarehouseResult r;
  r.rows_affected = count;
  r.command_tag = StrCat("COPY ", count);
  if (errors > 0) {
    r.notices.push_back(StrCat("Load into table '", table, "' completed, ", count, " record(s) loaded successfully, ",
                               errors, " record(s) could not be loaded.  Check 'stl_load_errors' system table for details."));
  } else {
    r.notices.push_back(StrCat("Load into table '", table, "' completed, ", count, " record(s) loaded successfully."));
  }
  return r;
}

}  // namespace sluice::redshift
