// COPY table [(columns)] FROM 's3://...' [options]: files read in place from the lake by
// DuckDB's readers. CSV and delimited text are read with the target's column types and
// DuckDB's reject tables, so each bad line becomes an stl_load_errors row (file, line,
// column, reason) and MAXERROR decides whether the good rows stay.
#include <algorithm>
#include <cstdio>
#include <map>

#include "base/json.h"
#include "base/json.h"
#include "athena/engine.h"
#include "base/ids.h"
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
  bool manifest = false, truncate_columns = false;
  std::optional<char> accept_inv_chars;  // ACCEPTINVCHARS: the replacement character
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
      o.accept_inv_chars = '?';
      if (c.peek().kind == TokenKind::kString) {
        ASSIGN_OR_RETURN(std::string r, c.String("ACCEPTINVCHARS replacement character"));
        if (r.size() != 1 || r[0] == 0 || static_cast<unsigned char>(r[0]) > 127) {
          return WarehouseError("XX000", "ACCEPTINVCHARS replacement character must be a single ASCII character");
        }
        o.accept_inv_chars = r[0];
      }
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
    } else if (c.Accept("TRUNCATECOLUMNS")) {
      o.truncate_columns = true;
    } else if (c.Accept("ACCEPTANYDATE") || c.Accept("IGNOREBLANKLINES") ||
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

// A target column: name, DuckDB type, and the declared length of a CHAR/VARCHAR column
// (pg_internal.column_types; 0: unknown, not enforced).
struct Column {
  std::string name, type;
  int64_t length = 0;
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

// The length of the valid UTF-8 sequence at `p` (n bytes available), 0 if it is invalid,
// -1 if it may be valid but continues past the end.
int Utf8SequenceLength(const unsigned char* p, size_t n) {
  unsigned char b = p[0];
  if (b < 0x80) return 1;
  int len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int i = 1; i < len; ++i) {
    if (static_cast<size_t>(i) >= n) return -1;
    unsigned char lower = i == 1 ? lo : 0x80, upper = i == 1 ? hi : 0xBF;
    if (p[i] < lower || p[i] > upper) return 0;
  }
  return len;
}

// Copies `in` to `out` with each byte of an invalid UTF-8 sequence replaced by `rep` (so a
// bad three-byte character becomes three of them, as Redshift does). The number of bytes
// replaced; `out` is not left behind when none were.
absl::StatusOr<int64_t> ReplaceInvalidUtf8(const std::string& in, const std::string& out, char rep) {
  std::FILE* f = std::fopen(in.c_str(), "rb");
  if (f == nullptr) return WarehouseError("XX000", StrCat("cannot read ", in));
  std::FILE* g = std::fopen(out.c_str(), "wb");
  if (g == nullptr) {
    std::fclose(f);
    return WarehouseError("XX000", StrCat("cannot write ", out));
  }
  int64_t replaced = 0;
  std::string buf;
  std::vector<char> chunk(1 << 20);
  bool eof = false, write_ok = true;
  while (!eof) {
    size_t got = std::fread(chunk.data(), 1, chunk.size(), f);
    if (got < chunk.size()) eof = true;
    buf.append(chunk.data(), got);
    auto* p = reinterpret_cast<unsigned char*>(buf.data());
    size_t i = 0;
    while (i < buf.size()) {
      int len = Utf8SequenceLength(p + i, buf.size() - i);
      if (len < 0 && !eof) break;  // finish it with the next chunk
      if (len <= 0) {
        p[i] = static_cast<unsigned char>(rep);
        ++replaced;
        len = 1;
      }
      i += len;
    }
    write_ok = write_ok && std::fwrite(buf.data(), 1, i, g) == i;
    buf.erase(0, i);
  }
  std::fclose(f);
  write_ok = std::fclose(g) == 0 && write_ok;
  if (!write_ok) return WarehouseError("XX000", StrCat("cannot write ", out));
  if (replaced == 0) std::remove(out.c_str());
  return replaced;
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
  {
    auto declared = Duck(StrCat("SELECT column_name, type_text FROM ", SqlQuoteIdent(database_), ".", kInternalSchema,
                                ".column_types WHERE table_name = ", SqlQuote(table), " AND schema_name = ",
                                SqlQuote(db_name == "temp" ? "public" : schema_name)));
    if (declared.ok()) {
      for (const auto& r : declared->rows) {
        std::string text = r[1].value_or("");
        auto open = text.find('(');
        int64_t n = 0;
        if (open == std::string::npos || !ParseNumber(text.substr(open + 1, text.find(')') - open - 1), &n)) continue;
        for (auto& col : all) {
          if (col.name == r[0].value_or("") && col.type == "VARCHAR") col.length = n;
        }
      }
    }
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
    nlohmann::json m = ParseJson(*text);
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
  std::map<std::string, std::string> key_of_path;
  for (const auto& f : files) key_of_path[f.path] = StrCat("s3://", f.bucket, "/", f.key);
  // ACCEPTINVCHARS (CSV/text, uncompressed): a file with invalid UTF-8 is read from a copy
  // in the lake engine's scratch dir with those bytes replaced. Without it such rows fail
  // (err_code 1220).
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      if (!dir.empty()) athena::RemoveTree(dir);
    }
  } cleanup;
  if (o.accept_inv_chars && (o.format == "CSV" || o.format == "TEXT") && o.compression.empty()) {
    cleanup.dir = StrCat(wh_.lake().scratch_dir(), "/redshift-copy-", RandomHex(16));
    RETURN_IF_ERROR(MakeDirs(cleanup.dir));
    for (size_t i = 0; i < files.size(); ++i) {
      std::string fixed = StrCat(cleanup.dir, "/", i);
      ASSIGN_OR_RETURN(int64_t replaced, ReplaceInvalidUtf8(files[i].path, fixed, *o.accept_inv_chars));
      if (replaced > 0) {
        key_of_path[fixed] = key_of_path[files[i].path];
        files[i].path = fixed;
      }
    }
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

  int64_t query = NextQueryId();
  std::string reader;
  bool rejects = false;
  // CSV/text: NULL AS (default: CSV '', text \N) is NULL. An empty CHAR/VARCHAR field is an
  // empty string unless EMPTYASNULL; DuckDB has one NULL string list for all columns, so
  // with a non-empty NULL AS and non-character columns (whose empty fields must be NULL)
  // empty character fields are NULL too. BLANKSASNULL: whitespace-only fields are NULL.
  // Values longer than the declared length are cut by TRUNCATECOLUMNS (bytes, at a UTF-8
  // character boundary), or fail their row with err_code 1204 (`length_check`, via a
  // staging table).
  std::string projection = "*";
  std::string length_check;
  std::vector<std::string> not_null_cols;
  bool empty_is_null = true;
  if (o.format == "CSV" || o.format == "TEXT") {
    std::vector<std::string> exprs;
    std::string marker = o.null_as.value_or(o.format == "CSV" ? "" : "\\N");
    bool all_char = std::all_of(load.begin(), load.end(), [](const Column& x) { return x.type == "VARCHAR"; });
    empty_is_null = !marker.empty() && !all_char;
    for (const auto& col : load) {
      std::string q = SqlQuoteIdent(col.name);
      if (col.type != "VARCHAR") {
        exprs.push_back(q);
        continue;
      }
      if (marker.empty() && !o.empty_as_null) not_null_cols.push_back(SqlQuote(col.name));
      std::string e = q;
      if (col.length > 0 && o.truncate_columns) {
        std::string n = std::to_string(col.length);
        // The longest prefix of at most n bytes that ends on a character boundary.
        e = StrCat("CASE WHEN strlen(", q, ") <= ", n, " THEN ", q, " ELSE left(", q, ", CAST(list_count(list_filter(",
                   "list_transform(range(1, length(", q, ") + 1), k -> strlen(left(", q,
                   ", CAST(k AS BIGINT)))), b -> b <= ", n, ")) AS BIGINT)) END");
      }
      if (o.empty_as_null) e = StrCat("NULLIF(", e, ", '')");
      if (o.blanks_as_null) e = StrCat("CASE WHEN regexp_full_match(", e, ", '\\s+') THEN NULL ELSE ", e, " END");
      exprs.push_back(StrCat(e, " AS ", q));
    }
    projection = Join(exprs, ", ");
    std::vector<std::string> conds;
    for (const auto& col : load) {
      if (col.type == "VARCHAR" && col.length > 0 && !o.truncate_columns) {
        conds.push_back(StrCat("strlen(", SqlQuoteIdent(col.name), ") > ", col.length));
      }
    }
    length_check = Join(conds, " OR ");
  }
  if (o.format == "CSV" || o.format == "TEXT") {
    std::vector<std::string> spec;
    for (const auto& col : load) spec.push_back(StrCat(SqlQuote(col.name), ": ", SqlQuote(col.type)));
    std::string delim = o.delimiter.empty() ? (o.format == "CSV" ? "," : "|") : o.delimiter;
    std::vector<std::string> nulls = {o.null_as.value_or(o.format == "CSV" ? "" : "\\N")};
    // Empty fields of non-character columns are always NULL in Redshift.
    if (nulls[0] != "" && empty_is_null) nulls.push_back("");
    std::vector<std::string> quoted_nulls;
    for (const auto& n : nulls) quoted_nulls.push_back(SqlQuote(n));
    reader = StrCat("read_csv(", file_list, ", columns = {", Join(spec, ", "), "}, header = false, skip = ",
                    o.ignore_header, ", delim = ", SqlQuote(delim), ", nullstr = [", Join(quoted_nulls, ", "), "]",
                    ", auto_detect = false, strict_mode = false, null_padding = ", o.fill_record ? "true" : "false",
                    ", parallel = false");
    if (!not_null_cols.empty()) StrAppend(&reader, ", force_not_null = [", Join(not_null_cols, ", "), "]");
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
      nlohmann::json jp = ParseJson(text.ok() ? *text : "");
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
  absl::StatusOr<QueryResult> inserted;
  if (length_check.empty()) {
    inserted = Duck(StrCat("INSERT INTO ", qualified, " ", insert_cols, " SELECT ", projection, " FROM ", reader));
  } else {
    (void)con_->Execute("DROP TABLE IF EXISTS temp.main.sluice_copy_stage");
    inserted = Duck(StrCat("CREATE TEMP TABLE sluice_copy_stage AS SELECT *, row_number() OVER (PARTITION BY sluice_file "
                           "ORDER BY sluice_seq) AS sluice_row FROM (SELECT ", projection,
                           ", filename AS sluice_file, row_number() OVER () AS sluice_seq FROM ", reader, ")"));
    if (inserted.ok()) {
      std::vector<std::string> names;
      for (const auto& col : load) names.push_back(SqlQuoteIdent(col.name));
      inserted = Duck(StrCat("INSERT INTO ", qualified, " ", insert_cols, " SELECT ", Join(names, ", "),
                             " FROM temp.main.sluice_copy_stage WHERE NOT coalesce(", length_check, ", false)"));
    }
  }
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
      if (!length_check.empty()) {
        // Values longer than the declared length: the first such column of each row. The
        // line is the row's number in its file, moved past the header and rejected lines.
        std::string which = "CASE", value = "CASE", len = "CASE";
        for (const auto& col : load) {
          if (col.type != "VARCHAR" || col.length == 0) continue;
          std::string w = StrCat(" WHEN strlen(", SqlQuoteIdent(col.name), ") > ", col.length, " THEN ");
          StrAppend(&which, w, SqlQuote(col.name));
          StrAppend(&value, w, SqlQuoteIdent(col.name));
          StrAppend(&len, w, col.length);
        }
        auto bad = Duck(StrCat("SELECT sluice_file, sluice_row, ", which, " END, ", value, " END, ", len,
                               " END FROM temp.main.sluice_copy_stage WHERE ", length_check,
                               " ORDER BY sluice_file, sluice_row"));
        if (bad.ok()) {
          for (const auto& r : bad->rows) {
            std::string path = r[0].value_or("");
            int64_t line = 0;
            ParseNumber(r[1].value_or("0"), &line);
            line += o.ignore_header;
            for (const auto& e : rej->rows) {
              int64_t l = 0;
              if (e[0].value_or("") == path && ParseNumber(e[1].value_or("0"), &l) && l <= line) ++line;
            }
            std::string raw = r[3].value_or("");
            StrAppend(&values, values.empty() ? "" : ", ",
                      "(100, 0, 0, CAST(timezone('UTC', current_timestamp) AS TIMESTAMP), 1, ", query, ", ",
                      SqlQuote(key_of_path.contains(path) ? key_of_path[path] : path), ", ", line, ", ",
                      SqlQuote(r[2].value_or("")), ", 'varchar', ", SqlQuote(r[4].value_or("")), ", 0, '', ",
                      SqlQuote(raw.substr(0, 1024)), ", 1204, 'String length exceeds DDL length')");
            ++errors;
          }
        }
        (void)con_->Execute("DROP TABLE IF EXISTS temp.main.sluice_copy_stage");
      }
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
        if (ErrCode(msg, type) == "1220") reason = "String contains invalid or unsupported UTF-8 codepoints.";
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
