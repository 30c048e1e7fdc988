// UNLOAD ('select ...') TO 's3://bucket/prefix' [options]: DuckDB writes the files into a
// scratch folder under the lake engine's scratch dir (the only place it may write), named as
// Redshift names them, then each goes into the lake through the object store.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "athena/engine.h"
#include "base/ids.h"
#include "base/strings.h"
#include "io/file.h"
#include "nlohmann/json.hpp"
#include "redshift/lake_io.h"
#include "redshift/session.h"
#include "redshift/translate.h"
#include "s3/store.h"

namespace sluice::redshift {

namespace {

struct UnloadOptions {
  std::string format = "TEXT";  // TEXT, CSV, PARQUET, JSON
  std::vector<std::string> partition_by;
  bool include = false, header = false, parallel = true, allow_overwrite = false, clean_path = false;
  bool manifest = false, verbose = false, add_quotes = false;
  std::string delimiter, compression, extension;
  std::optional<std::string> null_as;
  int64_t max_file_bytes = 6.2 * 1024 * 1024 * 1024;
  bool max_file_size = false;  // MAXFILESIZE given: split the output at max_file_bytes
};

absl::StatusOr<UnloadOptions> ParseUnloadOptions(TokenCursor& c) {
  UnloadOptions o;
  while (!c.done()) {
    if (c.AcceptSymbol(",")) continue;
    if (c.Accept("IAM_ROLE") || c.Accept("CREDENTIALS") || c.Accept("ACCESS_KEY_ID") || c.Accept("SECRET_ACCESS_KEY") ||
        c.Accept("SESSION_TOKEN") || c.Accept("REGION") || c.Accept("KMS_KEY_ID") || c.Accept("MASTER_SYMMETRIC_KEY")) {
      c.Accept("AS");
      c.Next();
      continue;
    }
    bool format_kw = c.Accept("FORMAT");
    if (format_kw) c.Accept("AS");
    if (c.Accept("CSV")) {
      o.format = "CSV";
    } else if (c.Accept("PARQUET")) {
      o.format = "PARQUET";
    } else if (c.Accept("JSON")) {
      o.format = "JSON";
    } else if (format_kw) {
      return WarehouseError("42601", StrCat("syntax error at or near \"", std::string(c.peek().text), "\""));
    } else if (c.Accept("PARTITION")) {
      if (!c.Accept("BY") || !c.AcceptSymbol("(")) return WarehouseError("42601", "syntax error in PARTITION BY");
      while (!c.done() && !c.AcceptSymbol(")")) {
        if (c.AcceptSymbol(",")) continue;
        o.partition_by.push_back(IdentValue(c.Next()));
      }
      if (c.Accept("INCLUDE")) o.include = true;
    } else if (c.Accept("HEADER")) {
      o.header = true;
    } else if (c.Accept("DELIMITER")) {
      c.Accept("AS");
      ASSIGN_OR_RETURN(o.delimiter, c.String("delimiter"));
    } else if (c.Accept("FIXEDWIDTH")) {
      return WarehouseError("0A000", "UNLOAD FIXEDWIDTH is not supported by sluice");
    } else if (c.Accept("ENCRYPTED")) {
      c.Accept("AUTO");
    } else if (c.Accept("GZIP")) {
      o.compression = "gzip";
    } else if (c.Accept("ZSTD")) {
      o.compression = "zstd";
    } else if (c.Accept("BZIP2")) {
      return WarehouseError("0A000", "UNLOAD with BZIP2: sluice's engine cannot write bzip2; use GZIP or ZSTD");
    } else if (c.Accept("ADDQUOTES")) {
      o.add_quotes = true;
    } else if (c.Accept("NULL")) {
      c.Accept("AS");
      ASSIGN_OR_RETURN(auto n, c.String("NULL AS string"));
      o.null_as = n;
    } else if (c.Accept("ESCAPE")) {
    } else if (c.Accept("ALLOWOVERWRITE")) {
      o.allow_overwrite = true;
    } else if (c.Accept("CLEANPATH")) {
      o.clean_path = true;
    } else if (c.Accept("PARALLEL")) {
      if (c.Accept("OFF") || c.Accept("FALSE")) {
        o.parallel = false;
      } else {
        c.Accept("ON") || c.Accept("TRUE");
      }
    } else if (c.Accept("MAXFILESIZE")) {
      c.Accept("AS");
      ASSIGN_OR_RETURN(int64_t n, c.Integer("MAXFILESIZE"));
      int64_t unit = 1024 * 1024;
      if (c.Accept("GB")) {
        unit *= 1024;
      } else {
        c.Accept("MB");
      }
      o.max_file_bytes = n * unit;
      o.max_file_size = true;
      if (o.max_file_bytes < 5 * 1024 * 1024 || o.max_file_bytes > 6.2 * 1024 * 1024 * 1024) {
        return WarehouseError("XX000", "MAXFILESIZE must be between 5 MB and 6.2 GB");
      }
    } else if (c.Accept("ROWGROUPSIZE")) {
      c.Accept("AS");
      c.Next();
      c.Accept("MB") || c.Accept("GB");
    } else if (c.Accept("MANIFEST")) {
      o.manifest = true;
      if (c.Accept("VERBOSE")) o.verbose = true;
    } else if (c.Accept("EXTENSION")) {
      c.Accept("AS");
      ASSIGN_OR_RETURN(o.extension, c.String("extension"));
    } else {
      return WarehouseError("42601", StrCat("syntax error at or near \"", std::string(c.peek().text), "\""));
    }
  }
  if (o.format == "PARQUET" && (o.header || !o.delimiter.empty() || o.add_quotes || o.null_as)) {
    return WarehouseError("XX000", "HEADER, DELIMITER, ADDQUOTES and NULL AS cannot be used with PARQUET");
  }
  if (o.format == "PARQUET" && !o.compression.empty()) {
    return WarehouseError("XX000", "GZIP/ZSTD file compression cannot be used with PARQUET");
  }
  return o;
}

void WalkFiles(const std::string& root, const std::string& rel, std::vector<std::string>* out) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(root + "/" + rel, ec)) {
    std::string name = e.path().filename().string();
    std::string r = rel.empty() ? name : rel + "/" + name;
    if (e.is_directory()) {
      WalkFiles(root, r, out);
    } else {
      out->push_back(r);
    }
  }
}

}  // namespace

absl::StatusOr<WarehouseResult> Session::Unload(const std::string& sql) {
  std::vector<Token> t = Lex(sql);
  TokenCursor c(t, 1);
  if (!c.AcceptSymbol("(")) return WarehouseError("42601", "syntax error in UNLOAD: expected ('select ...')");
  ASSIGN_OR_RETURN(std::string query, c.String("query"));
  if (!c.AcceptSymbol(")") || !c.Accept("TO")) return WarehouseError("42601", "syntax error in UNLOAD: expected ) TO");
  ASSIGN_OR_RETURN(std::string uri, c.String("S3 location"));
  ASSIGN_OR_RETURN(UnloadOptions o, ParseUnloadOptions(c));
  ASSIGN_OR_RETURN(auto loc, SplitS3Uri(uri));
  auto [bucket, prefix] = loc;
  if (!o.partition_by.empty() && !prefix.empty() && prefix.back() != '/') prefix += '/';

  // The destination must be empty unless ALLOWOVERWRITE/CLEANPATH.
  ASSIGN_OR_RETURN(auto existing, ListPrefix(wh_.s3(), bucket, prefix));
  if (!existing.empty()) {
    if (o.clean_path) {
      for (const auto& e : existing) {
        auto st = wh_.s3().DeleteObject(bucket, e.key);
        if (!st.ok()) return WarehouseError("XX000", StrCat("cannot clean ", e.key, ": ", std::string(st.message())));
      }
    } else if (!o.allow_overwrite) {
      return WarehouseError("XX000",
                            "Specified unload destination on S3 is not empty. Consider using a different bucket / prefix, "
                            "manually removing the target files in S3, or using the ALLOWOVERWRITE option.");
    }
  }

  RETURN_IF_ERROR(RefreshExternal(Lex(query)));
  TranslateContext ctx{database_, user_};
  ASSIGN_OR_RETURN(Translation tr, Translate(query, ctx));
  RETURN_IF_ERROR(CheckClientSql(tr.sql));  // UNLOAD ('<query>'): a query of the warehouse's own
  std::string scratch = StrCat(wh_.lake().scratch_dir(), "/redshift-unload-", RandomHex(16));
  RETURN_IF_ERROR(MakeDirs(scratch));
  struct Cleanup {
    std::string dir;
    ~Cleanup() { athena::RemoveTree(dir); }
  } cleanup{scratch};

  std::string ext;
  std::vector<std::string> opts;
  if (o.format == "PARQUET") {
    opts.push_back("FORMAT parquet");
    ext = ".parquet";
  } else if (o.format == "JSON") {
    opts.push_back("FORMAT json");
    ext = "";
  } else {
    opts.push_back("FORMAT csv");
    std::string delim = o.delimiter.empty() ? (o.format == "CSV" ? "," : "|") : o.delimiter;
    opts.push_back(StrCat("DELIMITER ", SqlQuote(delim)));
    opts.push_back(StrCat("HEADER ", o.header ? "true" : "false"));
    opts.push_back(StrCat("NULLSTR ", SqlQuote(o.null_as.value_or(""))));
    if (o.format == "TEXT" && !o.add_quotes) opts.push_back("QUOTE ''");
    if (o.add_quotes) opts.push_back("FORCE_QUOTE *");
  }
  if (!o.compression.empty()) {
    opts.push_back(StrCat("COMPRESSION ", o.compression));
    ext += o.compression == "gzip" ? ".gz" : ".zst";
  }
  if (!o.extension.empty()) ext = o.extension.starts_with(".") ? o.extension : "." + o.extension;
  // Redshift's names: one file per slice (one slice here), or 000 for PARALLEL OFF.
  std::string file_name = StrCat(o.parallel ? "0000_part_00" : "000", ext);
  std::string target;
  // Split files: DuckDB starts a new file once one reaches FILE_SIZE_BYTES, checked after each
  // chunk (CSV/JSON) or row group (Parquet), so the threshold leaves room for the last one.
  bool split = o.max_file_size || !o.partition_by.empty();
  if (o.max_file_size) {
    int64_t margin = std::min<int64_t>(o.max_file_bytes / 5, 64 * 1024 * 1024);
    opts.push_back(StrCat("FILE_SIZE_BYTES ", o.max_file_bytes - margin));
    // Parquet row groups small enough (at ~64 bytes a row) to fit in the margin.
    if (o.format == "PARQUET") opts.push_back(StrCat("ROW_GROUP_SIZE ", std::clamp<int64_t>(margin / 64, 2048, 122880)));
  }
  if (!split) {
    target = StrCat(scratch, "/", file_name);
  } else {
    if (!o.partition_by.empty()) {
      std::vector<std::string> cols;
      for (const auto& p : o.partition_by) cols.push_back(SqlQuoteIdent(p));
      opts.push_back(StrCat("PARTITION_BY (", Join(cols, ", "), ")"));
      if (o.include) opts.push_back("WRITE_PARTITION_COLUMNS true");
    }
    opts.push_back(StrCat("FILENAME_PATTERN ", SqlQuote("data_{i}")));
    target = scratch;
  }
  ASSIGN_OR_RETURN(QueryResult q, Duck(StrCat("COPY (", tr.sql, ") TO ", SqlQuote(target), " (", Join(opts, ", "), ")")));
  int64_t rows = 0;
  if (!q.rows.empty() && q.rows[0][0]) ParseNumber(*q.rows[0][0], &rows);

  std::vector<std::string> files;
  WalkFiles(scratch, "", &files);
  if (split) {
    // data_0.<ext> -> 0000_part_00<ext>, data_1 -> 0000_part_01, ... per partition folder;
    // PARALLEL OFF without partitions: 000, 001, ...
    for (auto& f : files) {
      auto slash = f.rfind('/');
      std::string dir = slash == std::string::npos ? "" : f.substr(0, slash + 1);
      std::string base = f.substr(dir.size());
      int n = 0;
      if (base.starts_with("data_")) ParseNumber(base.substr(5, base.find('.') - 5), &n);
      char buf[32];
      if (!o.parallel && o.partition_by.empty()) {
        std::snprintf(buf, sizeof buf, "%03d", n);
      } else {
        std::snprintf(buf, sizeof buf, "%s_part_%02d", o.parallel ? "0000" : "000", n);
      }
      std::string renamed = StrCat(dir, buf, ext);
      if (::rename((scratch + "/" + f).c_str(), (scratch + "/" + renamed).c_str()) != 0) {
        return WarehouseError("XX000", StrCat("cannot rename unload file ", f));
      }
      f = renamed;
    }
  }
  std::string content_type = o.format == "PARQUET" ? "binary/octet-stream" : "text/plain";
  std::vector<std::string> keys;
  if (o.manifest) {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& f : files) {
      nlohmann::json e = {{"url", StrCat("s3://", bucket, "/", prefix, f)}};
      if (o.verbose) {
        struct stat st {};
        ::stat((scratch + "/" + f).c_str(), &st);
        e["meta"] = {{"content_length", st.st_size}, {"record_count", files.size() == 1 ? rows : 0}};
      }
      entries.push_back(e);
    }
    nlohmann::json m = {{"entries", entries}};
    if (o.verbose) {
      nlohmann::json elements = nlohmann::json::array();
      auto d = Duck(StrCat("DESCRIBE ", tr.sql));
      if (d.ok()) {
        for (const auto& r : d->rows) elements.push_back({{"name", r[0].value_or("")}, {"type", {{"base", AsciiLower(r[1].value_or(""))}}}});
      }
      m["schema"] = {{"elements", elements}};
      m["meta"] = {{"content_length", 0}, {"record_count", rows}};
      m["author"] = {{"name", "Amazon Redshift"}, {"version", "1.0.0"}};
    }
    RETURN_IF_ERROR(WriteFileAtomically(scratch + "/manifest", m.dump(4)));
  }
  auto st = athena::UploadTree(wh_.s3(), scratch, bucket, prefix, content_type, &keys);
  if (!st.ok()) return WarehouseError("XX000", StrCat("UNLOAD could not write to S3: ", std::string(st.message())));
  WarehouseResult r;
  r.rows_affected = rows;
  r.command_tag = "UNLOAD";
  return r;
}

}  // namespace sluice::redshift
