// SQL job scripts: statements run in the shared DuckDB engine with the lake behind s3://
// names, and job bookmarks.
#include "glue/job_script.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <set>

#include "absl/strings/cord.h"
#include "base/ids.h"
#include "base/strings.h"
#include "base/time.h"
#include "io/file.h"

namespace sluice {
namespace {

constexpr const char kNothingToDo[] = "sluice.glue/nothing-to-do";

struct Token {
  enum class Kind { kWord, kQuotedIdent, kString, kDollar, kSymbol } kind;
  size_t begin, end;  // in the statement text
  std::string text;   // words as written; strings and quoted identifiers unquoted
};

// DuckDB's lexical structure, as far as finding literals, names and keywords needs.
std::vector<Token> Tokenize(const std::string& s) {
  std::vector<Token> out;
  size_t i = 0, n = s.size();
  while (i < n) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && i + 1 < n && s[i + 1] == '-') {
      while (i < n && s[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
      auto e = s.find("*/", i + 2);
      i = e == std::string::npos ? n : e + 2;
    } else if (c == '\'' || c == '"') {
      size_t b = i++;
      std::string text;
      while (i < n) {
        if (s[i] == c) {
          if (i + 1 < n && s[i + 1] == c) {
            text.push_back(c);
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        text.push_back(s[i++]);
      }
      out.push_back({c == '\'' ? Token::Kind::kString : Token::Kind::kQuotedIdent, b, i, std::move(text)});
    } else if (c == '$' && i + 1 < n && (s[i + 1] == '$' || std::isalpha(static_cast<unsigned char>(s[i + 1])))) {
      auto tag_end = s.find('$', i + 1);
      std::string tag = tag_end == std::string::npos ? "" : s.substr(i, tag_end - i + 1);
      bool valid = !tag.empty() && std::all_of(tag.begin() + 1, tag.end() - 1, [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
      });
      if (!valid) {
        out.push_back({Token::Kind::kSymbol, i, i + 1, "$"});
        ++i;
        continue;
      }
      auto close = s.find(tag, tag_end + 1);
      size_t end = close == std::string::npos ? n : close + tag.size();
      std::string body = s.substr(tag_end + 1, (close == std::string::npos ? n : close) - tag_end - 1);
      out.push_back({Token::Kind::kDollar, i, end, std::move(body)});
      i = end;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      size_t b = i;
      while (i < n && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
      out.push_back({Token::Kind::kWord, b, i, s.substr(b, i - b)});
    } else {
      out.push_back({Token::Kind::kSymbol, i, i + 1, std::string(1, c)});
      ++i;
    }
  }
  return out;
}

bool IsWord(const Token& t, std::string_view word) {
  return t.kind == Token::Kind::kWord && EqualsIgnoreCase(t.text, word);
}

// Splits a script into statements at ';' outside literals and comments; each with the
// line it starts on.
std::vector<std::pair<std::string, int>> SplitStatements(const std::string& script) {
  std::vector<std::pair<std::string, int>> out;
  std::vector<Token> tokens = Tokenize(script);
  size_t start = 0;
  auto flush = [&](size_t end) {
    std::string text = script.substr(start, end - start);
    std::vector<Token> inner = Tokenize(text);
    if (inner.empty()) return;  // a statement of comments only is not a statement
    // The statement starts at its first token: comments above it are not part of it, so
    // the line reported (and DuckDB's own LINE n) is where the SQL is.
    size_t first = start + inner.front().begin;
    int line = 1 + static_cast<int>(std::count(script.begin(), script.begin() + first, '\n'));
    out.emplace_back(std::string(StripWhitespace(std::string_view(script).substr(first, end - first))), line);
  };
  for (const auto& t : tokens) {
    if (t.kind == Token::Kind::kSymbol && t.text == ";") {
      flush(t.begin);
      start = t.end;
    }
  }
  flush(script.size());
  return out;
}

// Glob over S3 keys: '*' and '?' stay within a '/' segment, '**' crosses them.
bool GlobMatch(std::string_view p, std::string_view k) {
  while (!p.empty()) {
    if (p.starts_with("**")) {
      p.remove_prefix(2);
      if (p.starts_with("/")) p.remove_prefix(1);
      for (size_t i = 0; i <= k.size(); ++i) {
        if (GlobMatch(p, k.substr(i))) return true;
      }
      return false;
    }
    if (p[0] == '*') {
      p.remove_prefix(1);
      for (size_t i = 0; i <= k.size(); ++i) {
        if (GlobMatch(p, k.substr(i))) return true;
        if (i < k.size() && k[i] == '/') return false;
      }
      return false;
    }
    if (k.empty()) return false;
    if (p[0] == '?') {
      if (k[0] == '/') return false;
    } else if (p[0] != k[0]) {
      return false;
    }
    p.remove_prefix(1);
    k.remove_prefix(1);
  }
  return k.empty();
}

// DuckDB's reader for a lake file, by extension.
std::string ReaderFor(std::string key) {
  for (const char* z : {".gz", ".zst", ".zstd"}) {
    if (AsciiLower(key).ends_with(z)) key.resize(key.size() - strlen(z));
  }
  std::string k = AsciiLower(key);
  if (k.ends_with(".parquet")) return "read_parquet";
  if (k.ends_with(".json") || k.ends_with(".jsonl") || k.ends_with(".ndjson")) return "read_json_auto";
  return "read_csv_auto";
}

void Append(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (fd.valid()) (void)!::write(fd.get(), text.data(), text.size());
}

// Statements a job may run: SQL over data, not the engine's own configuration, files or
// extensions (the lake is reached through s3:// names only).
bool AllowedStatement(const std::vector<Token>& tokens) {
  if (tokens.empty()) return false;
  static const std::set<std::string> kAllowed = {"SELECT", "WITH", "CREATE", "INSERT", "UPDATE", "DELETE", "DROP",
                                                 "ALTER", "COPY", "VALUES", "FROM", "DESCRIBE", "SUMMARIZE", "SHOW",
                                                 "EXPLAIN", "PIVOT", "UNPIVOT", "TRUNCATE", "BEGIN", "COMMIT",
                                                 "ROLLBACK", "TABLE", "(", "MERGE"};
  std::string first = AsciiUpper(tokens[0].text);
  if (!kAllowed.contains(first)) return false;
  if (first == "CREATE") {
    for (size_t i = 1; i < tokens.size() && i < 5; ++i) {
      if (IsWord(tokens[i], "SECRET") || IsWord(tokens[i], "PERSISTENT")) return false;
    }
  }
  return true;
}

}  // namespace

bool IsNothingToDo(const absl::Status& status) { return status.GetPayload(kNothingToDo).has_value(); }

BookmarkFiles BookmarkState(const Json& doc) {
  BookmarkFiles out;
  for (const auto& run : doc.value("runs", Json::array())) {
    Json sources = run.value("files", Json::object());
    for (const auto& [source, files] : sources.items()) {
      for (const auto& [key, etag] : files.items()) out[source][key] = etag.is_string() ? etag.get<std::string>() : "";
    }
  }
  return out;
}

void AdvanceBookmark(Json& doc, const std::string& run_id, int attempt, const BookmarkFiles& seen) {
  Json files = Json::object();
  for (const auto& [source, keys] : seen) {
    for (const auto& [key, etag] : keys) files[source][key] = etag;
  }
  if (!doc.contains("runs")) doc["runs"] = Json::array();
  doc["runs"].push_back({{"RunId", run_id}, {"files", files}});
  doc["PreviousRunId"] = doc.value("RunId", "");
  doc["RunId"] = run_id;
  doc["Run"] = doc.value("Run", 0) + 1;
  doc["Version"] = doc.value("Version", 0) + 1;
  doc["Attempt"] = attempt;
}

absl::StatusOr<Json> RewindBookmark(const Json& doc, const std::string& run_id) {
  Json out = doc;
  Json runs = Json::array();
  if (!run_id.empty()) {
    bool found = false;
    for (const auto& r : doc.value("runs", Json::array())) {
      runs.push_back(r);
      if (r.value("RunId", "") == run_id) {
        found = true;
        break;
      }
    }
    if (!found) return absl::NotFoundError(StrCat("Run ", run_id, " is not in the bookmark of job ", doc.value("JobName", "")));
  }
  out["runs"] = runs;
  out["Version"] = doc.value("Version", 0) + 1;
  out["PreviousRunId"] = doc.value("RunId", "");
  out["RunId"] = run_id;
  return out;
}

Json BookmarkEntry(const Json& doc) {
  Json state = Json::object();
  for (const auto& [source, files] : BookmarkState(doc)) {
    state[source] = {{"objects", files.size()}};
  }
  Json entry = {{"JobName", doc.value("JobName", "")}, {"Version", doc.value("Version", 0)}, {"Run", doc.value("Run", 0)},
                {"Attempt", doc.value("Attempt", 0)}, {"JobBookmark", state.dump()}};
  if (!doc.value("RunId", "").empty()) entry["RunId"] = doc["RunId"];
  if (!doc.value("PreviousRunId", "").empty()) entry["PreviousRunId"] = doc["PreviousRunId"];
  return entry;
}

bool SqlJob::ReadNewData() const {
  if (!ctx_.seen) return false;
  for (const auto& [source, keys] : *ctx_.seen) {
    if (!keys.empty()) return true;
  }
  return false;
}

void SqlJob::Log(const std::string& text) {
  Append(ctx_.output_log, StrCat(FormatIso8601(absl::Now()), " ", text, "\n"));
}

absl::Status SqlJob::Run(const std::string& script) {
  schema_ = "job_" + RandomHex(8);
  RETURN_IF_ERROR(con_.Execute(StrCat("ATTACH ':memory:' AS ", SqlQuoteIdent(schema_))));
  RETURN_IF_ERROR(con_.Execute(StrCat("USE ", SqlQuoteIdent(schema_))));
  auto statements = SplitStatements(script);
  Log(StrCat("job ", ctx_.job, " run ", ctx_.run_id, ": ", statements.size(), " statement(s)"));
  absl::Status st;
  for (size_t i = 0; i < statements.size() && st.ok(); ++i) {
    st = RunStatement(statements[i].first, static_cast<int>(i + 1), statements[i].second);
  }
  (void)con_.Execute("USE memory");
  (void)con_.Execute(StrCat("DETACH ", SqlQuoteIdent(schema_)));
  if (st.ok()) Log("done");
  return st;
}

absl::StatusOr<std::string> SqlJob::Substitute(const std::string& sql) {
  std::string out;
  size_t i = 0;
  while (i < sql.size()) {
    auto open = sql.find("${", i);
    if (open == std::string::npos) break;
    auto close = sql.find('}', open);
    if (close == std::string::npos) break;
    std::string name = sql.substr(open + 2, close - open - 2);
    auto it = ctx_.args.find(name);
    if (it == ctx_.args.end()) {
      return absl::InvalidArgumentError(StrCat("the script uses ${", name, "} but the run has no argument --", name,
                                               " (set it in DefaultArguments or the run's Arguments)"));
    }
    out += sql.substr(i, open - i);
    out += it->second;
    i = close + 1;
  }
  out += sql.substr(i);
  return out;
}

absl::Status SqlJob::RunStatement(std::string sql, int number, int line) {
  if (ctx_.cancelled && ctx_.cancelled()) return absl::CancelledError("the run was stopped");
  auto fail = [&](const absl::Status& st) {
    return absl::Status(st.code(), StrCat("statement ", number, " (line ", line, "): ", st.message()));
  };
  auto substituted = Substitute(sql);
  if (!substituted.ok()) return fail(substituted.status());
  sql = std::move(*substituted);
  std::vector<Token> tokens = Tokenize(sql);
  size_t first = tokens.empty() ? 0 : tokens[0].begin;
  std::string head = sql.substr(first, std::min<size_t>(sql.find('\n', first) - first, 100));
  Log(StrCat("statement ", number, " (line ", line, "): ", head));
  if (tokens.size() >= 3 && IsWord(tokens[0], "EVALUATE") && IsWord(tokens[1], "DATA") && IsWord(tokens[2], "QUALITY")) {
    auto st = EvaluateDataQuality(sql);
    return st.ok() ? st : fail(st);
  }
  if (!AllowedStatement(tokens)) {
    return fail(absl::InvalidArgumentError(StrCat("'", tokens.empty() ? "" : tokens[0].text,
                                                  "' statements are not allowed in a job script; jobs read and write "
                                                  "the lake through s3:// names")));
  }
  // The client's text against the Glue job policy (sql/guard.h): no engine functions,
  // host files or other front ends' catalogs; the rewritten text (which reads the lake
  // files sluice chose) is then checked for one statement of an allowed type.
  SqlPolicy policy = GlueJobPolicy(schema_);
  {
    auto attached = con_.AttachedCatalogs();
    if (!attached.ok()) return fail(attached.status());
    if (auto st = CheckSqlText(sql, policy, *attached); !st.ok()) return fail(st);
  }
  policy.check_functions = false;
  policy.check_paths = false;
  CopyTarget target;
  auto rewritten = Rewrite(sql, &target);
  if (!rewritten.ok()) {
    if (IsNothingToDo(rewritten.status())) return rewritten.status();
    return fail(rewritten.status());
  }
  if (auto st = DefineCatalogViews(*rewritten); !st.ok()) return fail(st);
  absl::Time t0 = absl::Now();
  auto result = con_.QueryChecked(athena::TranslateFormats(*rewritten), policy);
  if (!result.ok()) {
    if (target.present) athena::RemoveTree(target.scratch);
    return fail(result.status());
  }
  std::string ms = StrCat(" (", absl::ToInt64Milliseconds(absl::Now() - t0), " ms)");
  if (target.present) {
    std::string written = result->rows.empty() || result->rows[0].empty() ? "0" : result->rows[0][0].value_or("0");
    if (written == "0" && ctx_.use_bookmark && !ReadNewData()) {
      // As on AWS Glue: a bookmarked run with no new input writes nothing, so an OVERWRITE
      // does not replace the output with an empty result.
      athena::RemoveTree(target.scratch);
      Log(StrCat("statement ", number, ": no new data since the job bookmark and 0 rows: nothing written to s3://",
                 target.bucket, "/", target.prefix, ms));
      return absl::OkStatus();
    }
    if (auto st = FinishCopy(target); !st.ok()) return fail(st);
    Log(StrCat("statement ", number, ": ", written, " rows written to s3://", target.bucket, "/", target.prefix, ms));
    return absl::OkStatus();
  }
  std::string summary = StrCat("statement ", number, ": ", result->rows.size(), " row(s)", ms);
  // Show what a query returned, as a notebook would (the first rows).
  if (!result->columns.empty() && (IsWord(tokens[0], "SELECT") || IsWord(tokens[0], "WITH") || IsWord(tokens[0], "FROM") ||
                                   IsWord(tokens[0], "SHOW") || IsWord(tokens[0], "DESCRIBE") ||
                                   IsWord(tokens[0], "SUMMARIZE") || IsWord(tokens[0], "VALUES"))) {
    summary += "\n" + Join(result->columns, "\t");
    for (size_t r = 0; r < result->rows.size() && r < 20; ++r) {
      std::vector<std::string> cells;
      for (const auto& v : result->rows[r]) cells.push_back(v.value_or("NULL"));
      summary += "\n" + Join(cells, "\t");
    }
    if (result->rows.size() > 20) summary += StrCat("\n... ", result->rows.size() - 20, " more");
  }
  Log(summary);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<athena::LakeFile>> SqlJob::ReadSource(const std::string& uri) {
  ASSIGN_OR_RETURN(auto where, athena::ParseS3Location(uri));
  const auto& [bucket, path] = where;
  struct Found {
    std::string key, etag;
    uint64_t size;
    std::string rel;
  };
  std::vector<Found> found;
  auto wild = path.find_first_of("*?");
  auto list = [&](const std::string& prefix, const std::function<bool(const std::string&)>& match) -> absl::Status {
    ListRequest req;
    req.prefix = prefix;
    for (;;) {
      auto page = store_.List(bucket, req);
      if (!page.ok()) {
        if (S3ErrorCode(page.status()) == "NoSuchBucket") {
          return absl::NotFoundError(StrCat("The bucket of ", uri, " does not exist"));
        }
        return page.status();
      }
      for (const auto& o : page->objects) {
        std::string_view base = o.key;
        if (auto slash = base.rfind('/'); slash != std::string_view::npos) base.remove_prefix(slash + 1);
        // Folder markers, _SUCCESS files and hidden files are not data, as for Spark.
        if (base.empty() || base[0] == '_' || base[0] == '.' || o.size == 0) continue;
        if (match(o.key)) found.push_back({o.key, o.etag, o.size, o.path});
      }
      if (!page->truncated) return absl::OkStatus();
      req.after = page->last;
    }
  };
  if (wild != std::string::npos) {
    std::string prefix = path.substr(0, wild);
    RETURN_IF_ERROR(list(prefix, [&](const std::string& key) { return GlobMatch(path, key); }));
  } else if (path.empty() || path.back() == '/') {
    RETURN_IF_ERROR(list(path, [](const std::string&) { return true; }));
  } else if (auto head = store_.HeadObject(bucket, path); head.ok()) {
    found.push_back({head->key, head->etag, head->size, head->path});
  } else {
    // s3://bucket/folder without the trailing '/', as Spark paths are written.
    RETURN_IF_ERROR(list(path + "/", [](const std::string&) { return true; }));
  }
  if (found.empty()) return absl::NotFoundError(StrCat("No objects found at ", uri));
  std::vector<athena::LakeFile> files;
  const std::map<std::string, std::string>* done = nullptr;
  if (ctx_.use_bookmark && ctx_.done) {
    auto it = ctx_.done->find(uri);
    if (it != ctx_.done->end()) done = &it->second;
  }
  for (const auto& f : found) {
    if (done) {
      auto it = done->find(f.key);
      if (it != done->end() && it->second == f.etag) continue;  // processed by an earlier run
    }
    if (ctx_.seen) (*ctx_.seen)[uri][f.key] = f.etag;
    files.push_back({store_.BucketDir(bucket) + "/" + f.rel, f.size});
  }
  if (files.empty()) {
    if (ReadNewData()) {
      // Skipping the rest would lose what was read already (the bookmark would record it).
      return absl::FailedPreconditionError(
          StrCat("No new data at ", uri, " since the job bookmark, but this run already read new data from another "
                 "source; a run can be skipped only when all its bookmarked s3:// sources are unchanged. Read ", uri,
                 " in a separate job, or disable the bookmark for this job"));
    }
    absl::Status nothing(absl::StatusCode::kOutOfRange,
                         StrCat("No new data at ", uri, " since the job bookmark (", found.size(),
                                " object(s) already processed); the remaining statements were skipped"));
    nothing.SetPayload(kNothingToDo, absl::Cord("1"));
    return nothing;
  }
  return files;
}

absl::StatusOr<std::string> SqlJob::Rewrite(const std::string& sql, CopyTarget* target) {
  std::vector<Token> tokens = Tokenize(sql);
  std::string out;
  size_t pos = 0;
  int bracket_depth = 0;
  bool is_copy = !tokens.empty() && IsWord(tokens[0], "COPY");
  for (size_t i = 0; i < tokens.size(); ++i) {
    const Token& t = tokens[i];
    if (t.kind == Token::Kind::kSymbol && t.text == "[") ++bracket_depth;
    if (t.kind == Token::Kind::kSymbol && t.text == "]") --bracket_depth;
    // awsdatacatalog.db.table names the same table as db.table.
    if (IsWord(t, "awsdatacatalog") && i + 1 < tokens.size() && tokens[i + 1].text == ".") {
      out += sql.substr(pos, t.begin - pos);
      pos = tokens[i + 1].end;
      ++i;
      continue;
    }
    if (t.kind != Token::Kind::kString) continue;
    std::string lower = AsciiLower(t.text.substr(0, 6));
    if (!lower.starts_with("s3://") && !lower.starts_with("s3a://")) {
      // A COPY may write only to the lake.
      if (is_copy && i > 0 && IsWord(tokens[i - 1], "TO")) {
        return absl::InvalidArgumentError(StrCat("COPY in a job writes to s3:// locations only, not '", t.text, "'"));
      }
      continue;
    }
    std::string uri = lower.starts_with("s3a://") ? "s3://" + t.text.substr(6) : t.text;
    out += sql.substr(pos, t.begin - pos);
    pos = t.end;
    if (is_copy && i > 0 && IsWord(tokens[i - 1], "TO")) {
      if (target->present) return absl::InvalidArgumentError("a COPY has one target");
      ASSIGN_OR_RETURN(auto where, athena::ParseS3Location(uri));
      if (!store_.GetBucket(where.first).ok()) {
        return absl::NotFoundError(StrCat("The bucket of ", uri, " does not exist"));
      }
      target->present = true;
      target->bucket = where.first;
      target->scratch = StrCat(engine_.scratch_dir(), "/job-", ctx_.run_id, "-", ++scratch_count_);
      RETURN_IF_ERROR(MakeDirs(target->scratch));
      // Options after the target: COPY ... TO '...' [WITH] (FORMAT PARQUET, PARTITION_BY (...), ...)
      std::string options_text;
      size_t open = std::string::npos, close = std::string::npos;
      size_t j = i + 1;
      if (j < tokens.size() && IsWord(tokens[j], "WITH")) ++j;
      if (j < tokens.size() && tokens[j].text == "(") {
        open = tokens[j].begin;
        int depth = 0;
        for (size_t k = j; k < tokens.size(); ++k) {
          if (tokens[k].kind != Token::Kind::kSymbol) continue;
          if (tokens[k].text == "(") ++depth;
          if (tokens[k].text == ")" && --depth == 0) {
            close = tokens[k].begin;
            break;
          }
        }
        if (close == std::string::npos) return absl::InvalidArgumentError("unbalanced parentheses in COPY options");
        options_text = sql.substr(open + 1, close - open - 1);
      }
      std::vector<Token> opts = Tokenize(options_text);
      bool partitioned = false, has_format = false, has_pattern = false;
      std::string format = "parquet";
      for (size_t k = 0; k < opts.size(); ++k) {
        if (IsWord(opts[k], "PARTITION_BY")) partitioned = true;
        if (IsWord(opts[k], "FILENAME_PATTERN")) has_pattern = true;
        if (IsWord(opts[k], "OVERWRITE")) {
          target->overwrite = !(k + 1 < opts.size() && (IsWord(opts[k + 1], "false") || opts[k + 1].text == "0"));
        }
        if (IsWord(opts[k], "FORMAT") && k + 1 < opts.size()) {
          has_format = true;
          format = AsciiLower(opts[k + 1].text);
        }
      }
      std::string path = where.second;
      bool folder = partitioned || path.empty() || path.back() == '/';
      std::string ext = format == "parquet" ? ".parquet" : format == "json" ? ".json" : ".csv";
      std::string extra;
      if (!has_format) extra += ", FORMAT PARQUET";
      if (folder) {
        if (!path.empty() && path.back() != '/') path.push_back('/');
        target->prefix = path;
        if (partitioned) {
          out += SqlQuote(target->scratch);
          if (!has_pattern) extra += StrCat(", FILENAME_PATTERN ", SqlQuote(StrCat("part-", ctx_.run_id.substr(3, 8), "-{i}")));
        } else {
          out += SqlQuote(StrCat(target->scratch, "/part-", ctx_.run_id.substr(3, 8), "-", scratch_count_, ext));
        }
      } else {
        auto slash = path.rfind('/');
        target->prefix = slash == std::string::npos ? "" : path.substr(0, slash + 1);
        out += SqlQuote(StrCat(target->scratch, "/", path.substr(slash == std::string::npos ? 0 : slash + 1)));
      }
      if (open == std::string::npos) {
        // No options: add ours after the target.
        if (!extra.empty()) out += StrCat(" (", extra.substr(2), ")");
      } else if (!extra.empty()) {
        // Ours go at the end of the user's option list.
        out += sql.substr(pos, close - pos);
        out += StripWhitespace(options_text).empty() ? extra.substr(2) : extra;
        pos = close;
      }
      continue;
    }
    ASSIGN_OR_RETURN(auto files, ReadSource(uri));
    std::vector<std::string> quoted;
    for (const auto& f : files) quoted.push_back(SqlQuote(f.path));
    bool table_position = i > 0 && (IsWord(tokens[i - 1], "FROM") || IsWord(tokens[i - 1], "JOIN"));
    if (bracket_depth > 0) {
      out += Join(quoted, ", ");  // already inside a list of paths
    } else if (table_position) {
      out += files.size() == 1 ? quoted[0] : StrCat(ReaderFor(files[0].path), "([", Join(quoted, ", "), "])");
    } else {
      out += "[" + Join(quoted, ", ") + "]";
    }
  }
  out += sql.substr(pos);
  return out;
}

absl::Status SqlJob::DefineCatalogViews(const std::string& sql) {
  std::vector<Token> tokens = Tokenize(sql);
  std::set<std::pair<std::string, std::string>> names;
  for (size_t i = 0; i + 2 < tokens.size(); ++i) {
    const Token &a = tokens[i], &dot = tokens[i + 1], &b = tokens[i + 2];
    bool ident_a = a.kind == Token::Kind::kWord || a.kind == Token::Kind::kQuotedIdent;
    bool ident_b = b.kind == Token::Kind::kWord || b.kind == Token::Kind::kQuotedIdent;
    if (!ident_a || !ident_b || dot.kind != Token::Kind::kSymbol || dot.text != "." || dot.begin != a.end ||
        b.begin != dot.end) {
      continue;
    }
    if (i + 3 < tokens.size() && tokens[i + 3].text == "." && tokens[i + 3].begin == b.end) continue;  // a.b.c
    if (i > 0 && tokens[i - 1].text == "." && tokens[i - 1].end == a.begin) continue;
    names.emplace(AsciiLower(a.text), AsciiLower(b.text));
  }
  for (const auto& [db, name] : names) {
    auto table = catalog_.GetTable(db, name);
    if (!table.ok() || table->value("TableType", "") == "VIRTUAL_VIEW") continue;
    (*table)["DatabaseName"] = db;
    std::string source = StrCat("glue:", db, ".", name);
    const std::map<std::string, std::string>* done = nullptr;
    if (ctx_.use_bookmark && ctx_.done) {
      auto it = ctx_.done->find(source);
      if (it != ctx_.done->end()) done = &it->second;
    }
    athena::FileFilter filter = [&](const std::string& bucket, const ObjectMeta& o) {
      std::string key = StrCat(bucket, "/", o.key);
      if (done) {
        auto it = done->find(key);
        if (it != done->end() && it->second == o.etag) return false;
      }
      if (ctx_.seen) (*ctx_.seen)[source][key] = o.etag;
      return true;
    };
    uint64_t bytes = 0;
    ASSIGN_OR_RETURN(std::string scan, engine_.TableScan(*table, filter, &bytes));
    RETURN_IF_ERROR(con_.Execute(StrCat("CREATE SCHEMA IF NOT EXISTS ", SqlQuoteIdent(schema_), ".", SqlQuoteIdent(db))));
    RETURN_IF_ERROR(con_.Execute(StrCat("CREATE OR REPLACE VIEW ", SqlQuoteIdent(schema_), ".", SqlQuoteIdent(db), ".",
                                        SqlQuoteIdent(name), " AS ", scan)));
  }
  return absl::OkStatus();
}

absl::Status SqlJob::FinishCopy(const CopyTarget& target) {
  // Overwrite replaces what was under the target only once the new files exist.
  absl::Status st;
  if (target.overwrite) {
    std::vector<std::string> old;
    ListRequest req;
    req.prefix = target.prefix;
    for (;;) {
      auto page = store_.List(target.bucket, req);
      if (!page.ok()) {
        st = page.status();
        break;
      }
      for (const auto& o : page->objects) old.push_back(o.key);
      if (!page->truncated) break;
      req.after = page->last;
    }
    // Deleted from several threads, so the index writer commits them in groups.
    std::mutex mu;
    std::atomic<size_t> next{0};
    auto remove = [&] {
      for (size_t i = next.fetch_add(1); i < old.size(); i = next.fetch_add(1)) {
        absl::Status d = store_.DeleteObject(target.bucket, old[i]);
        std::lock_guard lock(mu);
        st.Update(d);
      }
    };
    std::vector<std::thread> pool;
    for (size_t t = 1; t < std::min<size_t>(old.size(), 8); ++t) pool.emplace_back(remove);
    remove();
    for (auto& t : pool) t.join();
  }
  std::vector<std::string> keys;
  if (st.ok()) st = athena::UploadTree(store_, target.scratch, target.bucket, target.prefix, "application/octet-stream", &keys);
  athena::RemoveTree(target.scratch);
  RETURN_IF_ERROR(st);
  // Catalog tables over the target see the new partitions at once.
  ASSIGN_OR_RETURN(auto databases, catalog_.GetDatabases());
  std::string location = StrCat("s3://", target.bucket, "/", target.prefix);
  for (const auto& d : databases) {
    std::string db = d.value("Name", "");
    ASSIGN_OR_RETURN(auto tables, catalog_.GetTables(db));
    for (auto& t : tables) {
      std::string loc = t.value("StorageDescriptor", Json::object()).value("Location", "");
      if (!loc.empty() && loc.back() != '/') loc.push_back('/');
      if (loc != location || t.value("PartitionKeys", Json::array()).empty()) continue;
      t["DatabaseName"] = db;
      RETURN_IF_ERROR(athena::RegisterPartitions(catalog_, t, target.bucket, target.prefix, keys));
      Log(StrCat("registered the new partitions of ", db, ".", t.value("Name", "")));
    }
  }
  return absl::OkStatus();
}

absl::Status SqlJob::EvaluateDataQuality(const std::string& sql) {
  std::vector<Token> t = Tokenize(sql);
  auto syntax = [](const std::string& what) {
    return absl::InvalidArgumentError(StrCat(
        "EVALUATE DATA QUALITY: ", what,
        "; the form is EVALUATE DATA QUALITY ON <table> RULESET '<name>' | RULES '<dqdl>' "
        "[ON FAILURE FAIL | CONTINUE | QUARANTINE 's3://...'] [CONTEXT '<name>']"));
  };
  size_t i = 3;
  if (i >= t.size() || !IsWord(t[i], "ON")) return syntax("expected ON after EVALUATE DATA QUALITY");
  size_t rel_begin = ++i;
  while (i < t.size() && !IsWord(t[i], "RULESET") && !IsWord(t[i], "RULES")) ++i;
  if (i == rel_begin || i >= t.size()) return syntax("expected a table, then RULESET or RULES");
  std::string relation(StripWhitespace(std::string_view(sql).substr(t[rel_begin].begin, t[i - 1].end - t[rel_begin].begin)));
  bool named = IsWord(t[i], "RULESET");
  ++i;
  if (i >= t.size() || (t[i].kind != Token::Kind::kString && t[i].kind != Token::Kind::kDollar)) {
    return syntax(named ? "expected the ruleset's name as a string" : "expected the rules as a string");
  }
  std::string ruleset_name, dqdl;
  if (named) {
    ruleset_name = t[i].text;
    ASSIGN_OR_RETURN(Json ruleset, dq_.GetRuleset(ruleset_name));
    dqdl = ruleset.value("Ruleset", "");
  } else {
    dqdl = t[i].text;
  }
  ++i;
  std::string on_failure = "FAIL", quarantine, context = "EvaluateDataQuality";
  while (i < t.size()) {
    if (IsWord(t[i], "ON") && i + 2 < t.size() && IsWord(t[i + 1], "FAILURE")) {
      on_failure = AsciiUpper(t[i + 2].text);
      i += 3;
      if (on_failure == "QUARANTINE") {
        if (i >= t.size() || t[i].kind != Token::Kind::kString) return syntax("expected an s3:// location after QUARANTINE");
        quarantine = t[i++].text;
      } else if (on_failure != "FAIL" && on_failure != "CONTINUE") {
        return syntax(StrCat("unknown ON FAILURE action '", on_failure, "'"));
      }
    } else if (IsWord(t[i], "CONTEXT") && i + 1 < t.size() && t[i + 1].kind == Token::Kind::kString) {
      context = t[i + 1].text;
      i += 2;
    } else {
      return syntax(StrCat("unexpected '", t[i].text, "'"));
    }
  }
  auto rules = dq::Parse(dqdl);
  if (!rules.ok()) return absl::InvalidArgumentError(StrCat("Invalid DQDL ruleset: ", rules.status().message()));
  Json fields = {{"JobName", ctx_.job}, {"JobRunId", ctx_.run_id}, {"EvaluationContext", context}};
  if (!ruleset_name.empty()) fields["RulesetName"] = ruleset_name;
  RETURN_IF_ERROR(DefineCatalogViews(relation));
  ASSIGN_OR_RETURN(Json result, dq_.Record(*rules, relation, con_, fields));
  std::vector<std::string> failed;
  for (const auto& r : result["RuleResults"]) {
    if (r.value("Result", "") != "PASS") {
      failed.push_back(StrCat(r.value("Name", ""), " (", r.value("Description", ""), ") ", r.value("Result", ""),
                              r.contains("EvaluationMessage") ? ": " + r.value("EvaluationMessage", "") : ""));
    }
  }
  Log(StrCat("data quality of ", relation, ": score ", result.value("Score", 0.0), ", ",
             result["RuleResults"].size() - failed.size(), "/", result["RuleResults"].size(), " rules passed (result ",
             result.value("ResultId", ""), ")"));
  if (failed.empty()) return absl::OkStatus();
  for (const auto& f : failed) Log("  " + f);
  if (on_failure == "FAIL") {
    return absl::FailedPreconditionError(StrCat("Data quality rules failed on ", relation, ": ", Join(failed, "; ")));
  }
  if (on_failure == "CONTINUE") return absl::OkStatus();
  // QUARANTINE: rows that fail a row-level rule go to the quarantine prefix and leave the table.
  ASSIGN_OR_RETURN(std::string predicate, dq::RowPredicate(*rules));
  if (predicate.empty()) {
    Log("  no row-level rules: nothing to quarantine");
    return absl::OkStatus();
  }
  std::string bad = StrCat("NOT coalesce((", predicate, "), false)");
  // The failing rows leave the table first, so nothing reaches the quarantine prefix
  // unless they could be removed (a view or catalog table cannot be changed).
  std::string held = StrCat(SqlQuoteIdent(schema_), ".main.", SqlQuoteIdent("sluice_quarantine_" + RandomHex(8)));
  RETURN_IF_ERROR(con_.Execute(StrCat("CREATE TABLE ", held, " AS SELECT * FROM ", relation, " WHERE ", bad)));
  auto deleted = con_.Query(StrCat("DELETE FROM ", relation, " WHERE ", bad));
  if (!deleted.ok()) {
    (void)con_.Execute(StrCat("DROP TABLE ", held));
    return absl::InvalidArgumentError(StrCat("ON FAILURE QUARANTINE removes the failing rows from ", relation,
                                             ", so it must be a table the job created, not a view or catalog table; "
                                             "copy it first: CREATE TABLE t AS SELECT * FROM ", relation));
  }
  std::string n = deleted->rows.empty() || deleted->rows[0].empty() ? "0" : deleted->rows[0][0].value_or("0");
  if (n != "0") {
    CopyTarget target;
    ASSIGN_OR_RETURN(std::string copy, Rewrite(StrCat("COPY ", held, " TO ",
                                                      SqlQuote(quarantine.ends_with("/") ? quarantine : quarantine + "/"),
                                                      " (FORMAT PARQUET)"),
                                               &target));
    if (auto st = con_.Execute(copy); !st.ok()) {
      athena::RemoveTree(target.scratch);
      return st;
    }
    RETURN_IF_ERROR(FinishCopy(target));
  }
  (void)con_.Execute(StrCat("DROP TABLE ", held));
  Log(StrCat("  ", n, " row(s) quarantined to ", quarantine));
  return absl::OkStatus();
}

}  // namespace sluice
