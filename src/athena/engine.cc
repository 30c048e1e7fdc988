#include "athena/engine.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#include "athena/ddl.h"
#include "base/json.h"
#include "base/strings.h"
#include "io/checksum.h"
#include "io/file.h"

namespace sluice::athena {
namespace {

constexpr const char* kParquetSerde = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
constexpr const char* kJsonSerde = "org.openx.data.jsonserde.JsonSerDe";
constexpr const char* kLazySerde = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe";

enum class Format { kParquet, kJson, kCsv, kUnsupported };

std::string Prop(const Json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key) || !obj[key].is_string()) return "";
  return obj[key].get<std::string>();
}

Format TableFormat(const Json& t) {
  const Json& sd = t.value("StorageDescriptor", Json::object());
  std::string serde = AsciiLower(Prop(sd.value("SerdeInfo", Json::object()), "SerializationLibrary"));
  std::string input = AsciiLower(Prop(sd, "InputFormat"));
  std::string cls = AsciiLower(Prop(t.value("Parameters", Json::object()), "classification"));
  if (serde.find("parquet") != std::string::npos || input.find("parquet") != std::string::npos || cls == "parquet") {
    return Format::kParquet;
  }
  if (serde.find("json") != std::string::npos || cls == "json") return Format::kJson;
  if (serde.find("csv") != std::string::npos || serde.find("lazysimple") != std::string::npos ||
      input.find("textinputformat") != std::string::npos || cls == "csv") {
    return Format::kCsv;
  }
  return Format::kUnsupported;
}

std::string Lit(const std::string& v) { return SqlQuote(v); }

// date_parse/date_format take MySQL-style formats (%i minutes, %s seconds, %T time, ...)
// where DuckDB's strptime/strftime take C-style ones, and DuckDB needs the format to be a
// constant: so the format literal of each call is translated in the query text.
}  // namespace

static std::string TranslateFormat(const std::string& fmt) {
  std::string out;
  for (size_t f = 0; f < fmt.size(); ++f) {
    if (fmt[f] != '%' || f + 1 == fmt.size()) {
      out += fmt[f];
      continue;
    }
    char c = fmt[++f];
    switch (c) {
      case 'i': out += "%M"; break;
      case 's': out += "%S"; break;
      case 'T': out += "%H:%M:%S"; break;
      case 'h': out += "%I"; break;
      case 'e': out += "%-d"; break;
      case 'c': out += "%-m"; break;
      case 'k': out += "%-H"; break;
      case 'l': out += "%-I"; break;
      case 'r': out += "%I:%M:%S %p"; break;
      case 'v': out += "%V"; break;
      case 'W': out += "%A"; break;
      case 'M': out += "%B"; break;
      default: out += '%'; out += c;
    }
  }
  return out;
}

std::string TranslateFormats(const std::string& sql) {
  std::string lower = AsciiLower(sql);
  std::vector<std::pair<size_t, size_t>> literals;  // [begin, end) of format literal contents
  for (const char* fn : {"date_parse", "date_format"}) {
    for (size_t at = lower.find(fn); at != std::string::npos; at = lower.find(fn, at + 1)) {
      size_t open = sql.find_first_not_of(" \t\n", at + std::strlen(fn));
      if (open == std::string::npos || sql[open] != '(') continue;
      int depth = 0;
      char quote = 0;
      size_t k = open;
      for (; k < sql.size(); ++k) {
        char c = sql[k];
        if (quote) {
          if (c == quote) quote = 0;
        } else if (c == '\'' || c == '"') {
          quote = c;
        } else if (c == '(') {
          ++depth;
        } else if (c == ')' && --depth == 0) {
          break;
        } else if (c == ',' && depth == 1) {
          break;
        }
      }
      if (k >= sql.size() || sql[k] != ',') continue;
      size_t lit = sql.find_first_not_of(" \t\n", k + 1);
      if (lit == std::string::npos || sql[lit] != '\'') continue;
      size_t end = lit + 1;
      while (end < sql.size() && !(sql[end] == '\'' && (end + 1 >= sql.size() || sql[end + 1] != '\''))) {
        end += sql[end] == '\'' ? 2 : 1;
      }
      literals.emplace_back(lit + 1, end);
    }
  }
  std::sort(literals.begin(), literals.end());
  std::string out;
  size_t pos = 0;
  for (const auto& [b, e] : literals) {
    out.append(sql, pos, b - pos);
    out += TranslateFormat(sql.substr(b, e - b));
    pos = e;
  }
  out.append(sql, pos, std::string::npos);
  return out;
}

// DuckDB's error text in the shape of Athena's: "<ERROR_NAME>: <first line>".
absl::Status AthenaError(const absl::Status& st, const std::string& db) {
  std::string msg(st.message());
  std::string first = msg.substr(0, msg.find('\n'));
  auto strip = [&](std::string_view prefix) {
    std::string_view f = first;
    if (ConsumePrefix(&f, prefix)) first = std::string(f);
  };
  if (first.starts_with("Parser Error: ")) {
    strip("Parser Error: ");
    return absl::InvalidArgumentError("SYNTAX_ERROR: " + first);
  }
  if (first.starts_with("Catalog Error: Table with name ")) {
    std::string_view f = first;
    f.remove_prefix(31);
    std::string name(f.substr(0, f.find(' ')));
    return absl::InvalidArgumentError(StrCat("TABLE_NOT_FOUND: Table 'awsdatacatalog.", db, ".", name, "' does not exist"));
  }
  if (first.starts_with("Binder Error: Referenced column")) {
    strip("Binder Error: ");
    return absl::InvalidArgumentError("COLUMN_NOT_FOUND: " + first);
  }
  if (first.starts_with("INTERRUPT")) return absl::CancelledError("Query cancelled");
  for (std::string_view p : {"Binder Error: ", "Catalog Error: ", "Conversion Error: ", "Invalid Input Error: ",
                             "Not implemented Error: ", "Out of Range Error: "}) {
    if (first.starts_with(p)) {
      strip(p);
      return absl::InvalidArgumentError(std::string(p == "Conversion Error: " ? "INVALID_CAST_ARGUMENT: " : "") + first);
    }
  }
  return absl::InvalidArgumentError(first);
}

namespace {

// The identifier-like words of `text`, lower-cased: which catalog tables it may name.
void AddWords(const std::string& text, std::set<std::string>* words) {
  for (size_t i = 0; i < text.size();) {
    if (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_') {
      size_t j = i;
      while (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_')) ++j;
      words->insert(AsciiLower(text.substr(i, j - i)));
      i = j;
    } else {
      ++i;
    }
  }
}

}  // namespace

std::string QuoteIdent(std::string_view name) { return SqlQuoteIdent(name); }

absl::StatusOr<std::pair<std::string, std::string>> ParseS3Location(const std::string& location) {
  std::string_view l = location;
  if (!ConsumePrefix(&l, "s3://") && !ConsumePrefix(&l, "s3a://") && !ConsumePrefix(&l, "s3n://")) {
    return absl::InvalidArgumentError(StrCat("LOCATION '", location, "' is not in the lake: it must be an s3:// URI"));
  }
  auto slash = l.find('/');
  std::string bucket(l.substr(0, slash));
  std::string prefix = slash == std::string_view::npos ? "" : std::string(l.substr(slash + 1));
  if (bucket.empty()) return absl::InvalidArgumentError(StrCat("LOCATION '", location, "' names no bucket"));
  // Keys with "." or ".." segments would escape the prefix in every reader that treats
  // keys as paths: refused, as an invalid location.
  for (auto segment : Split(prefix, '/', true)) {
    if (segment == "." || segment == "..") {
      return absl::InvalidArgumentError(
          StrCat("Invalid S3 location '", location, "': a path segment is '", std::string(segment), "'"));
    }
  }
  return std::make_pair(bucket, prefix);
}

std::string AthenaType(const std::string& duck) {
  std::string d = AsciiUpper(duck);
  if (d == "VARCHAR") return "varchar";
  if (d == "BIGINT" || d == "HUGEINT" || d == "UBIGINT") return "bigint";
  if (d == "INTEGER" || d == "UINTEGER") return "integer";
  if (d == "SMALLINT" || d == "USMALLINT") return "smallint";
  if (d == "TINYINT" || d == "UTINYINT") return "tinyint";
  if (d == "DOUBLE") return "double";
  if (d == "FLOAT") return "real";
  if (d == "BOOLEAN") return "boolean";
  if (d == "DATE") return "date";
  if (d.starts_with("TIMESTAMP WITH")) return "timestamp with time zone";
  if (d.starts_with("TIMESTAMP")) return "timestamp";
  if (d.starts_with("DECIMAL")) return "decimal";
  if (d == "BLOB") return "varbinary";
  if (d.ends_with("[]") || d == "LIST") return "array";
  if (d.starts_with("MAP")) return "map";
  if (d.starts_with("STRUCT")) return "row";
  if (d == "TIME") return "time";
  return "varchar";
}

absl::Status Engine::Init() {
  ASSIGN_OR_RETURN(auto con, db_.Connect());
  // Trino functions Athena users write, defined over DuckDB's equivalents.
  static constexpr const char* kMacros[] = {
      "CREATE OR REPLACE MACRO approx_distinct(x) AS approx_count_distinct(x)",
      "CREATE OR REPLACE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)",
      "CREATE OR REPLACE MACRO regexp_like(s, p) AS regexp_matches(s, p)",
      "CREATE OR REPLACE MACRO cardinality(x) AS len(x)",
      "CREATE OR REPLACE MACRO element_at(a, i) AS list_extract(a, i)",
      "CREATE OR REPLACE MACRO from_unixtime(x) AS make_timestamp(CAST(x * 1000000 AS BIGINT))",
      "CREATE OR REPLACE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)",
      "CREATE OR REPLACE MACRO from_iso8601_date(s) AS CAST(s AS DATE)",
      // Their format literals are translated from MySQL style by TranslateFormats().
      "CREATE OR REPLACE MACRO date_parse(s, f) AS strptime(s, f)",
      "CREATE OR REPLACE MACRO date_format(t, f) AS strftime(t, f)",
      "CREATE OR REPLACE MACRO sequence(a, b) AS generate_series(a, b)",
      "CREATE OR REPLACE MACRO to_unixtime(t) AS epoch(t)",
      "CREATE OR REPLACE MACRO arbitrary(x) AS any_value(x)",
  };
  RETURN_IF_ERROR(con->Execute("ATTACH IF NOT EXISTS ':memory:' AS awsdatacatalog"));
  for (const char* m : kMacros) RETURN_IF_ERROR(con->Execute(m));
  // Queries reach the lake and the scratch folder only: no other file of the machine.
  RETURN_IF_ERROR(MakeDirs(scratch_dir_));
  std::string lake = store_.BucketDir("");
  std::vector<std::string> allowed = {SqlQuote(lake), SqlQuote(scratch_dir_ + "/")};
  for (const auto& d : extra_dirs_) allowed.push_back(SqlQuote(d.ends_with("/") ? d : d + "/"));
  // Error text names lake files as S3 URIs and hides the other folders.
  db_.AddPathAlias(lake, "s3://");
  db_.AddPathAlias(scratch_dir_ + "/", "scratch/");
  for (const auto& d : extra_dirs_) db_.AddPathAlias(d.ends_with("/") ? d : d + "/", "");
  RETURN_IF_ERROR(con->Execute(StrCat("SET allowed_directories = [", Join(allowed, ", "), "]")));
  RETURN_IF_ERROR(con->Execute("SET enable_external_access = false"));
  RETURN_IF_ERROR(con->Execute("SET autoinstall_known_extensions = false"));
  RETURN_IF_ERROR(con->Execute("SET autoload_known_extensions = false"));
  return absl::OkStatus();
}

std::string ViewSql(const Json& view) {
  // Athena keeps views as "/* Presto View: <base64 of {"originalSql": ...}> */".
  std::string text = view.value("ViewOriginalText", "");
  std::string_view t = text;
  if (ConsumePrefix(&t, "/* Presto View: ")) {
    auto end = t.find(" */");
    if (auto decoded = Base64Decode(t.substr(0, end))) {
      Json j = ParseJson(*decoded);
      if (j.is_object()) return j.value("originalSql", "");
    }
  }
  return text;
}

absl::Status Engine::ListFiles(const std::string& location, const FileFilter& filter, std::vector<LakeFile>* files,
                               bool* keys_are_paths) {
  ASSIGN_OR_RETURN(auto where, ParseS3Location(location));
  const auto& [bucket, prefix_raw] = where;
  std::string prefix = prefix_raw;
  if (!prefix.empty() && prefix.back() != '/') prefix.push_back('/');
  ListRequest req;
  req.prefix = prefix;
  for (;;) {
    auto page = store_.List(bucket, req);
    if (!page.ok()) {
      if (S3ErrorCode(page.status()) == "NoSuchBucket") return absl::OkStatus();
      return page.status();
    }
    for (const auto& o : page->objects) {
      std::string_view rest = std::string_view(o.key).substr(prefix.size());
      std::string_view base = rest.substr(rest.rfind('/') == std::string_view::npos ? 0 : rest.rfind('/') + 1);
      if (base.empty() || base[0] == '_' || base[0] == '.' || o.size == 0) continue;  // markers, _SUCCESS
      if (filter && !filter(bucket, o)) continue;
      if (o.path != o.key) *keys_are_paths = false;  // an escaped folder: the path no longer says k=v
      files->push_back({store_.BucketDir(bucket) + "/" + o.path, o.size});
    }
    if (!page->truncated) return absl::OkStatus();
    req.after = page->last;
  }
}

absl::Status Engine::DefineView(const Json& table, Connection& con, uint64_t* bytes, ScanSource* source) {
  ASSIGN_OR_RETURN(std::string scan, TableScan(table, nullptr, bytes, source));
  std::string db = table.value("DatabaseName", "");
  std::string sql = StrCat("CREATE OR REPLACE VIEW awsdatacatalog.", QuoteIdent(db), ".",
                           QuoteIdent(table.value("Name", "")), " AS ", scan);
  std::lock_guard lock(view_mu_);
  RETURN_IF_ERROR(con.Execute(StrCat("CREATE SCHEMA IF NOT EXISTS awsdatacatalog.", QuoteIdent(db))));
  return con.Execute(sql);
}

absl::StatusOr<std::string> Engine::TableScan(const Json& table, const FileFilter& filter, uint64_t* bytes) {
  return TableScan(table, filter, bytes, nullptr);
}

absl::StatusOr<std::string> Engine::TableScan(const Json& table, const FileFilter& filter, uint64_t* bytes,
                                              ScanSource* source) {
  std::string db = table.value("DatabaseName", "");
  std::string name = table.value("Name", "");
  const Json& sd = table.value("StorageDescriptor", Json::object());
  std::vector<std::pair<std::string, std::string>> cols, keys;  // name, DuckDB type
  for (const auto& c : sd.value("Columns", Json::array())) {
    ASSIGN_OR_RETURN(std::string t, HiveToDuckType(c.value("Type", "string")));
    cols.emplace_back(AsciiLower(c.value("Name", "")), t);
  }
  for (const auto& c : table.value("PartitionKeys", Json::array())) {
    ASSIGN_OR_RETURN(std::string t, HiveToDuckType(c.value("Type", "string")));
    keys.emplace_back(AsciiLower(c.value("Name", "")), t);
  }
  Format format = TableFormat(table);
  if (format == Format::kUnsupported) {
    return absl::InvalidArgumentError(StrCat("Table ", db, ".", name,
                                             " is stored in a format Sluice cannot read yet; use Parquet, JSON or CSV/text"));
  }
  const Json& serde_params = sd.value("SerdeInfo", Json::object()).value("Parameters", Json::object());
  const Json& params = table.value("Parameters", Json::object());

  // One scan per location (the table's, or each partition's).
  std::vector<std::pair<std::string, std::vector<std::string>>> scans;  // location, partition values
  if (keys.empty()) {
    scans.emplace_back(Prop(sd, "Location"), std::vector<std::string>{});
  } else if (UsesProjection(table)) {
    ASSIGN_OR_RETURN(auto parts, ProjectedPartitions(table, store_));
    for (auto& [values, location] : parts) scans.emplace_back(location, values);
  } else {
    ASSIGN_OR_RETURN(auto parts, catalog_.GetPartitions(db, name));
    for (const auto& p : parts) {
      std::vector<std::string> values;
      for (const auto& v : p.value("Values", Json::array())) values.push_back(v.is_string() ? v.get<std::string>() : "");
      std::string loc = Prop(p.value("StorageDescriptor", Json::object()), "Location");
      scans.emplace_back(loc, values);
    }
  }
  // Parquet partitions in the standard <location>/k=v/... layout are read by one
  // read_parquet with hive partitioning: DuckDB prunes the file list by the partition values
  // itself and reads each footer once (a branch per partition costs 3-12 ms more).
  std::string table_location = Prop(sd, "Location");
  if (!table_location.empty() && table_location.back() != '/') table_location.push_back('/');
  bool hive_layout = format == Format::kParquet && !keys.empty();
  for (const auto& [location, values] : scans) {
    if (!hive_layout) break;
    std::string expect = table_location;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (i >= values.size() || values[i] == "__HIVE_DEFAULT_PARTITION__" ||
          values[i].find_first_of("/=%") != std::string::npos) {
        hive_layout = false;
        break;
      }
      expect += StrCat(keys[i].first, "=", values[i], "/");
    }
    std::string loc = location;
    if (!loc.empty() && loc.back() != '/') loc.push_back('/');
    if (loc != expect) hive_layout = false;
  }
  std::vector<std::string> hive_files;
  ScanSource described;
  described.database = db;
  described.function = format == Format::kParquet ? "READ_PARQUET" : format == Format::kJson ? "READ_JSON_OBJECTS" : "READ_CSV";
  described.keys = keys;
  for (const auto& [c, t] : cols) described.columns.push_back(c);

  std::vector<std::string> branches;
  for (const auto& [location, values] : scans) {
    std::vector<LakeFile> files;
    RETURN_IF_ERROR(ListFiles(location, filter, &files, &hive_layout));
    if (files.empty()) continue;
    if (source) described.parts.push_back({values, files});
    std::vector<std::string> list;
    for (const auto& f : files) {
      list.push_back(SqlQuote(f.path));
      *bytes += f.size;
    }
    hive_files.insert(hive_files.end(), list.begin(), list.end());
    std::string file_list = "[" + Join(list, ", ") + "]";
    std::string reader;
    std::vector<std::string> select;
    if (format == Format::kParquet) {
      reader = StrCat("read_parquet(", file_list, ", union_by_name=true)");
      for (const auto& [c, t] : cols) select.push_back(StrCat("CAST(", QuoteIdent(c), " AS ", t, ") AS ", QuoteIdent(c)));
    } else {
      std::vector<std::string> columns;
      for (const auto& [c, t] : cols) columns.push_back(StrCat(SqlQuote(c), ": ", SqlQuote(t)));
      std::string columns_struct = "{" + Join(columns, ", ") + "}";
      if (format == Format::kJson) {
        // The OpenX/Hive JSON SerDes match keys to columns ignoring case: each record is read
        // as a JSON object and each column takes the first key equal to its name in any case.
        reader = StrCat("read_json_objects(", file_list, ", format='newline_delimited') AS r");
      } else {
        bool open_csv = AsciiLower(Prop(sd.value("SerdeInfo", Json::object()), "SerializationLibrary")).find("opencsv") != std::string::npos;
        std::string delim = open_csv ? Prop(serde_params, "separatorChar") : Prop(serde_params, "field.delim");
        if (delim.empty()) delim = open_csv ? "," : std::string(1, '\x01');
        std::string quote = open_csv ? Prop(serde_params, "quoteChar") : "";
        if (open_csv && quote.empty()) quote = "\"";
        int skip = 0;
        ParseNumber(Prop(params, "skip.header.line.count"), &skip);
        std::string nullstr = Prop(serde_params, "serialization.null.format");
        reader = StrCat("read_csv(", file_list, ", delim=", SqlQuote(delim), ", quote=", SqlQuote(quote),
                        ", escape=", SqlQuote(quote), ", header=false, skip=", skip, ", columns=", columns_struct,
                        nullstr.empty() && !open_csv ? ", nullstr='\\N'" : StrCat(", nullstr=", SqlQuote(nullstr)), ")");
      }
      for (const auto& [c, t] : cols) {
        if (format != Format::kJson) {
          select.push_back(QuoteIdent(c));
          continue;
        }
        std::string key = StrCat("coalesce(list_filter(json_keys(r.json), k -> lower(k) = ", SqlQuote(c), ")[1], ",
                                 SqlQuote(c), ")");
        std::string path = StrCat("'$.\"' || replace(", key, ", '\"', '\\\"') || '\"'");
        bool nested = t.find('(') != std::string::npos || t.ends_with("[]");
        select.push_back(nested && !t.starts_with("DECIMAL")
                             ? StrCat("TRY_CAST(json_extract(r.json, ", path, ") AS ", t, ") AS ", QuoteIdent(c))
                             : StrCat("TRY_CAST(json_extract_string(r.json, ", path, ") AS ", t, ") AS ", QuoteIdent(c)));
      }
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::string& v = i < values.size() ? values[i] : "";
      std::string literal = v == "__HIVE_DEFAULT_PARTITION__" ? "NULL" : Lit(v);
      select.push_back(StrCat("CAST(", literal, " AS ", keys[i].second, ") AS ", QuoteIdent(keys[i].first)));
    }
    branches.push_back(StrCat("SELECT ", Join(select, ", "), " FROM ", reader));
  }
  if (hive_layout && !hive_files.empty()) {
    std::vector<std::string> select, types;
    for (const auto& [c, t] : cols) select.push_back(StrCat("CAST(", QuoteIdent(c), " AS ", t, ") AS ", QuoteIdent(c)));
    for (const auto& [c, t] : keys) {
      select.push_back(QuoteIdent(c));
      types.push_back(StrCat(SqlQuote(c), ": ", SqlQuote(t)));
    }
    branches = {StrCat("SELECT ", Join(select, ", "), " FROM read_parquet([", Join(hive_files, ", "),
                       "], hive_partitioning=true, union_by_name=true, hive_types={", Join(types, ", "), "})")};
    described.hive = true;
  }
  if (source) *source = std::move(described);
  if (branches.empty()) {
    std::vector<std::string> select;
    for (const auto& [c, t] : cols) select.push_back(StrCat("CAST(NULL AS ", t, ") AS ", QuoteIdent(c)));
    for (const auto& [c, t] : keys) select.push_back(StrCat("CAST(NULL AS ", t, ") AS ", QuoteIdent(c)));
    branches.push_back(StrCat("SELECT ", Join(select, ", "), " WHERE false"));
  }
  return Join(branches, " UNION ALL ");
}

SqlPolicy Engine::Policy() {
  SqlPolicy p = AthenaPolicy();
  if (auto databases = catalog_.GetDatabases(); databases.ok()) {
    for (const auto& d : *databases) p.catalogs.push_back(AsciiLower(d.value("Name", "")));
  }
  return p;
}

absl::Status Engine::CheckQuery(const std::string& sql, Connection& con, const std::string& db) {
  absl::Status st = con.CheckStatement(sql, Policy());
  return st.ok() ? st : AthenaError(st, db);
}

absl::StatusOr<StatementOutput> Engine::RunQuery(const std::string& sql, const std::string& database, Connection& con) {
  StatementOutput out;
  std::string db = database.empty() ? "default" : AsciiLower(database);
  std::vector<ScanSource> sources;
  uint64_t listed_bytes = 0;
  RETURN_IF_ERROR(PrepareViews(sql, db, con, &listed_bytes, &sources));
  // DuckDB's profile tells which files the query read; a query of no lake table needs none.
  // The statement is checked (sql/guard.h) and run as it was checked.
  std::vector<OperatorProfile> operators;
  auto result = con.QueryChecked(TranslateFormats(sql), Policy(), listed_bytes == 0 ? nullptr : &operators);
  if (!result.ok()) return AthenaError(result.status(), db);
  out.result = std::move(*result);
  if (listed_bytes > 0) out.data_scanned_bytes = ScannedBytes(sources, operators, db, con);
  // Athena names unaliased expressions _col0, _col1, ... by position.
  for (size_t i = 0; i < out.result.columns.size(); ++i) {
    const std::string& c = out.result.columns[i];
    // DuckDB names such columns after the expression text ("(1 + 1)", "upper('x')", "42").
    bool plain = !c.empty() && !std::isdigit(static_cast<unsigned char>(c[0])) &&
                 c.find_first_of("()'+*/%<>=|\"[]") == std::string::npos &&
                 !EqualsIgnoreCase(c, "true") && !EqualsIgnoreCase(c, "false") && !EqualsIgnoreCase(c, "null");
    if (!plain) out.result.columns[i] = StrCat("_col", i);
    // Athena prints timestamps with milliseconds: 2025-08-01 10:11:12.000.
    if (AsciiUpper(out.result.types[i]) == "TIMESTAMP") {
      for (auto& row : out.result.rows) {
        if (!row[i]) continue;
        std::string& v = *row[i];
        auto dot = v.find('.');
        if (dot == std::string::npos) v += ".000";
        else v = (v + "000").substr(0, dot + 4);
      }
    }
  }
  return out;
}

absl::Status Engine::PrepareViews(const std::string& sql, const std::string& database, Connection& con, uint64_t* bytes,
                                  std::vector<ScanSource>* sources) {
  // Define the views of every catalog table the query may name: any identifier that is
  // a table of a catalog database.
  std::set<std::string> words;
  AddWords(sql, &words);
  ASSIGN_OR_RETURN(auto databases, catalog_.GetDatabases());
  std::vector<Json> tables, views;
  std::set<std::string> taken;  // db.name already collected
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& d : databases) {
      std::string dbname = d.value("Name", "");
      ASSIGN_OR_RETURN(auto all, catalog_.GetTables(dbname));
      for (auto& t : all) {
        std::string name = t.value("Name", "");
        if (!words.contains(name) || taken.contains(dbname + "." + name)) continue;
        taken.insert(dbname + "." + name);
        grew = true;
        if (t.value("TableType", "") == "VIRTUAL_VIEW") {
          // A view's own text names more tables.
          AddWords(ViewSql(t), &words);
          views.push_back(std::move(t));
        } else {
          tables.push_back(std::move(t));
        }
      }
    }
  }
  for (const auto& d : databases) {
    std::lock_guard lock(view_mu_);
    RETURN_IF_ERROR(con.Execute(StrCat("CREATE SCHEMA IF NOT EXISTS awsdatacatalog.", QuoteIdent(d.value("Name", "")))));
  }
  for (const auto& t : tables) {
    ScanSource source;
    RETURN_IF_ERROR(DefineView(t, con, bytes, sources ? &source : nullptr));
    if (sources) sources->push_back(std::move(source));
  }
  // Views may name each other: define them in passes until none is left or none succeeds.
  while (!views.empty()) {
    std::vector<Json> failed;
    absl::Status last;
    for (auto& v : views) {
      std::lock_guard lock(view_mu_);
      std::string vdb = v.value("DatabaseName", "");
      // A view's text may come from Glue's CreateTable: checked as a query of its own.
      ASSIGN_OR_RETURN(auto attached, con.AttachedCatalogs());
      std::string view_sql = ViewSql(v);
      absl::Status st = CheckSqlText(view_sql, Policy(), attached);
      if (!st.ok()) return AthenaError(st, database);
      st = con.Execute(StrCat("USE awsdatacatalog.", QuoteIdent(vdb)));
      if (st.ok()) {
        st = con.Execute(StrCat("CREATE OR REPLACE VIEW awsdatacatalog.", QuoteIdent(vdb), ".",
                                QuoteIdent(v.value("Name", "")), " AS ", TranslateFormats(ViewSql(v))));
      }
      if (!st.ok()) {
        last = st;
        failed.push_back(std::move(v));
      }
    }
    if (failed.size() == views.size()) return AthenaError(last, database);
    views = std::move(failed);
  }
  std::string db = database.empty() ? "default" : AsciiLower(database);
  if (!catalog_.GetDatabase(db).ok()) {
    return absl::InvalidArgumentError(StrCat("Schema '", db, "' does not exist"));
  }
  RETURN_IF_ERROR(con.Execute(StrCat("USE awsdatacatalog.", QuoteIdent(db))));
  return con.Execute(StrCat("SET search_path = ", SqlQuote(StrCat("awsdatacatalog.", QuoteIdent(db), ",memory.main"))));
}

}  // namespace sluice::athena
