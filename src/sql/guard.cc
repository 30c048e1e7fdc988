#include "sql/guard.h"

#include <cctype>
#include <map>

#include "base/strings.h"

namespace sluice {
namespace {

struct Tok {
  enum class Kind { kWord, kQuotedIdent, kString, kNumber, kParam, kSymbol } kind;
  std::string text;  // words and quoted identifiers: the identifier, lower case; strings: the contents
  size_t offset = 0;
};

bool IdentStart(unsigned char c) { return std::isalpha(c) || c == '_' || c >= 0x80; }
bool IdentChar(unsigned char c) { return std::isalnum(c) || c == '_' || c == '$' || c >= 0x80; }

// The contents of a quoted token whose opening quote ends before *i: a doubled quote is
// one quote, with `backslash_escapes` (E'' strings) \x is x. Leaves *i after the closing
// quote (or at the end when there is none).
std::string ReadQuoted(std::string_view s, char quote, bool backslash_escapes, size_t* i) {
  std::string text;
  size_t n = s.size();
  while (*i < n) {
    char c = s[*i];
    if (backslash_escapes && c == '\\' && *i + 1 < n) {
      text.push_back(s[*i + 1]);
      *i += 2;
    } else if (c == quote) {
      if (*i + 1 < n && s[*i + 1] == quote) {
        text.push_back(quote);
        *i += 2;
      } else {
        ++*i;
        break;
      }
    } else {
      text.push_back(c);
      ++*i;
    }
  }
  return text;
}

// DuckDB's lexical rules (PostgreSQL's): '' strings with '' escapes, E'' strings with
// backslash escapes, $tag$ strings, "" identifiers, -- comments and nested /* */ comments.
// An unterminated string or comment runs to the end (DuckDB's parser rejects it).
std::vector<Tok> Lex(std::string_view s) {
  std::vector<Tok> out;
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = s[i];
    if (std::isspace(c)) {
      ++i;
    } else if (c == '-' && i + 1 < n && s[i + 1] == '-') {
      while (i < n && s[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
      int depth = 0;
      while (i < n) {
        if (s[i] == '/' && i + 1 < n && s[i + 1] == '*') {
          ++depth;
          i += 2;
        } else if (s[i] == '*' && i + 1 < n && s[i + 1] == '/') {
          i += 2;
          if (--depth == 0) break;
        } else {
          ++i;
        }
      }
    } else if (c == '\'' || ((c == 'e' || c == 'E') && i + 1 < n && s[i + 1] == '\'')) {
      bool escapes = c != '\'';
      size_t start = i;
      i += escapes ? 2 : 1;
      out.push_back({Tok::Kind::kString, ReadQuoted(s, '\'', escapes, &i), start});
    } else if (c == '"') {
      size_t start = i++;
      out.push_back({Tok::Kind::kQuotedIdent, AsciiLower(ReadQuoted(s, '"', false, &i)), start});
    } else if (c == '$') {
      size_t start = i;
      size_t j = i + 1;
      if (j < n && std::isdigit(static_cast<unsigned char>(s[j]))) {
        while (j < n && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
        out.push_back({Tok::Kind::kParam, std::string(s.substr(i, j - i)), start});
        i = j;
        continue;
      }
      while (j < n && IdentChar(s[j]) && s[j] != '$') ++j;
      if (j < n && s[j] == '$') {
        std::string_view tag = s.substr(i, j - i + 1);
        size_t end = s.find(tag, j + 1);
        std::string_view body = s.substr(j + 1, end == std::string_view::npos ? std::string_view::npos : end - j - 1);
        out.push_back({Tok::Kind::kString, std::string(body), start});
        i = end == std::string_view::npos ? n : end + tag.size();
      } else {
        out.push_back({Tok::Kind::kSymbol, "$", start});
        ++i;
      }
    } else if (IdentStart(c)) {
      size_t start = i;
      while (i < n && IdentChar(s[i])) ++i;
      out.push_back({Tok::Kind::kWord, AsciiLower(s.substr(start, i - start)), start});
    } else if (std::isdigit(c) || (c == '.' && i + 1 < n && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      size_t start = i;
      while (i < n && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '.' || s[i] == '_')) ++i;
      out.push_back({Tok::Kind::kNumber, std::string(s.substr(start, i - start)), start});
    } else {
      out.push_back({Tok::Kind::kSymbol, std::string(1, static_cast<char>(c)), i});
      ++i;
    }
  }
  return out;
}

std::vector<std::vector<Tok>> Statements(std::string_view sql) {
  std::vector<std::vector<Tok>> out(1);
  for (auto& t : Lex(sql)) {
    if (t.kind == Tok::Kind::kSymbol && t.text == ";") {
      if (!out.back().empty()) out.emplace_back();
    } else {
      out.back().push_back(std::move(t));
    }
  }
  if (out.back().empty()) out.pop_back();
  return out;
}

// Functions no front end may call: they read or list host files (the lake included: it
// is reached through the catalog and S3, never by path), show or change the engine's
// settings, databases and environment, or run SQL from a string.
bool DeniedFunction(const std::string& name) {
  static const std::set<std::string> kDenied = {
      "glob", "query", "query_table", "json_execute_serialized_sql", "current_setting", "getenv", "which_secret",
      "checkpoint", "force_checkpoint", "import_database", "copy_database", "database_list", "database_size",
      "storage_info", "metadata_info", "table_info", "show_databases", "show_tables", "show_tables_expanded",
      "user_agent", "platform", "extension_versions", "add_parquet_key", "all_profiling_output", "write_log",
      "truncate_duckdb_logs", "check_peg_parser", "sql_auto_complete", "seq_scan", "functions", "show",
      "histogram_values", "set_config", "read_csv", "read_csv_auto", "read_json", "read_json_auto",
      "read_json_objects", "read_json_objects_auto", "read_ndjson", "read_ndjson_auto", "read_ndjson_objects",
      "read_parquet", "read_text", "read_blob", "read_xlsx", "read_duckdb", "json_scan", "test_all_types",
      "test_vector_types", "enable_checkpoint_on_shutdown", "disable_checkpoint_on_shutdown", "enable_logging",
      "disable_logging", "enable_object_cache", "disable_object_cache", "enable_optimizer", "disable_optimizer",
      "enable_print_progress_bar", "disable_print_progress_bar", "enable_profile", "disable_profile",
      "enable_profiling", "disable_profiling", "enable_progress_bar", "disable_progress_bar", "enable_verification",
      "disable_verification", "disable_verify_external", "disable_verify_fetch_row", "disable_verify_parallelism",
      "disable_verify_serializer", "verify_external", "verify_fetch_row", "verify_parallelism",
      "verify_serializer", "collations", "current_query"};
  static const char* const kPrefixes[] = {"duckdb_", "pragma_", "parquet_", "sniff_", "arrow_", "icu_",
                                          "iceberg_", "delta_", "sqlite_", "postgres_", "mysql_"};
  if (kDenied.contains(name)) return true;
  for (const char* p : kPrefixes) {
    if (name.starts_with(p)) return true;
  }
  return false;
}

struct Rules {
  std::set<std::string> first_words;
  std::set<int> types;
};

// DuckDB's duckdb_statement_type values (duckdb.h).
enum Type {
  kSelect = 1, kInsert = 2, kUpdate = 3, kExplain = 4, kDelete = 5, kPrepare = 6, kCreate = 7, kExecute = 8,
  kAlter = 9, kTransaction = 10, kCopy = 11, kAnalyze = 12, kVariableSet = 13, kCreateFunc = 14, kDrop = 15,
  kExport = 16, kPragma = 17, kVacuum = 18, kCall = 19, kSet = 20, kLoad = 21, kRelation = 22, kExtension = 23,
  kLogicalPlan = 24, kAttach = 25, kDetach = 26, kMulti = 27
};

const char* TypeName(int type) {
  static const std::map<int, const char*> kNames = {
      {kSelect, "SELECT"}, {kInsert, "INSERT"}, {kUpdate, "UPDATE"}, {kExplain, "EXPLAIN"}, {kDelete, "DELETE"},
      {kPrepare, "PREPARE"}, {kCreate, "CREATE"}, {kExecute, "EXECUTE"}, {kAlter, "ALTER"},
      {kTransaction, "TRANSACTION"}, {kCopy, "COPY"}, {kAnalyze, "ANALYZE"}, {kVariableSet, "SET"},
      {kCreateFunc, "CREATE FUNCTION"}, {kDrop, "DROP"}, {kExport, "EXPORT DATABASE"}, {kPragma, "PRAGMA"},
      {kVacuum, "VACUUM"}, {kCall, "CALL"}, {kSet, "SET"}, {kLoad, "LOAD"}, {kRelation, "RELATION"},
      {kExtension, "INSTALL"}, {kLogicalPlan, "LOGICAL PLAN"}, {kAttach, "ATTACH"}, {kDetach, "DETACH"},
      {kMulti, "MULTI"}};
  auto it = kNames.find(type);
  return it == kNames.end() ? "this" : it->second;
}

const Rules& RulesFor(const SqlPolicy& p) {
  static const Rules kAthena = {{"select", "with", "values", "table", "explain", "describe", "("}, {kSelect, kExplain}};
  static const Rules kAthenaDdl = {{"select", "with", "values", "table", "explain", "describe", "desc", "(", "create",
                                    "drop", "alter", "insert", "msck", "show", "prepare", "execute", "deallocate",
                                    "unload"},
                                   {kSelect, kExplain}};
  static const Rules kWarehouse = {{"select", "with", "values", "table", "explain", "describe", "show", "insert",
                                    "update", "delete", "merge", "create", "drop", "alter", "truncate", "comment",
                                    "begin", "start", "commit", "end", "rollback", "abort", "("},
                                   {kSelect, kInsert, kUpdate, kDelete, kExplain, kCreate, kAlter, kTransaction, kDrop,
                                    kCreateFunc}};
  static const Rules kGlue = {{"select", "with", "create", "insert", "update", "delete", "drop", "alter", "copy",
                               "values", "from", "describe", "summarize", "show", "explain", "pivot", "unpivot",
                               "truncate", "begin", "commit", "rollback", "table", "(", "merge"},
                              {kSelect, kInsert, kUpdate, kDelete, kExplain, kCreate, kAlter, kTransaction, kDrop,
                               kCreateFunc, kCopy}};
  switch (p.front_end) {
    case SqlFrontEnd::kAthena: return p.allow_front_end_ddl ? kAthenaDdl : kAthena;
    case SqlFrontEnd::kWarehouse: return kWarehouse;
    case SqlFrontEnd::kGlueJob: return kGlue;
  }
  return kAthena;
}

bool IsAthena(const SqlPolicy& p) { return p.front_end == SqlFrontEnd::kAthena; }

// Athena reports positions as line:column (1-based).
std::string Position(std::string_view sql, size_t offset) {
  int line = 1, col = 1;
  for (size_t i = 0; i < offset && i < sql.size(); ++i) {
    if (sql[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return StrCat("line ", line, ":", col);
}

absl::Status StatementRefused(const SqlPolicy& p, std::string_view sql, const Tok& first) {
  std::string word = first.kind == Tok::Kind::kString ? StrCat("'", first.text, "'") : AsciiUpper(first.text);
  if (IsAthena(p)) {
    return absl::UnimplementedError(StrCat(Position(sql, first.offset), ": mismatched input '", word,
                                           "'. Expecting: a query or an Athena DDL statement"));
  }
  // A word that is no statement at all is a syntax error, as DuckDB would report it.
  static const std::set<std::string> kCommands = {
      "attach", "detach", "use", "set", "reset", "pragma", "install", "load", "force", "checkpoint", "vacuum",
      "export", "import", "copy", "call", "summarize", "from", "pivot", "unpivot", "prepare", "execute",
      "deallocate", "analyze", "update", "create", "describe", "show", "merge", "insert", "delete", "drop", "alter"};
  if (p.front_end == SqlFrontEnd::kWarehouse && first.kind == Tok::Kind::kWord && !kCommands.contains(first.text)) {
    return absl::InvalidArgumentError(StrCat("Parser Error: syntax error at or near \"", first.text, "\""));
  }
  if (p.front_end == SqlFrontEnd::kGlueJob) {
    return absl::UnimplementedError(StrCat("'", word, "' statements are not allowed in a job script; jobs read and "
                                           "write the lake through s3:// names"));
  }
  return absl::UnimplementedError(StrCat(word, " is not supported"));
}

absl::Status FunctionRefused(const SqlPolicy& p, std::string_view sql, const Tok& t) {
  if (IsAthena(p)) {
    return absl::PermissionDeniedError(
        StrCat("FUNCTION_NOT_FOUND: ", Position(sql, t.offset), ": Function '", t.text, "' not registered"));
  }
  return absl::PermissionDeniedError(StrCat("permission denied for function ", t.text));
}

absl::Status CatalogRefused(const SqlPolicy& p, std::string_view sql, const Tok& t) {
  if (IsAthena(p)) {
    return absl::PermissionDeniedError(
        StrCat("CATALOG_NOT_FOUND: ", Position(sql, t.offset), ": Catalog '", t.text, "' does not exist"));
  }
  return absl::PermissionDeniedError(StrCat("permission denied for database ", t.text));
}

// The path is not echoed: error text carries no host paths.
absl::Status PathRefused(const SqlPolicy& p, std::string_view sql, const Tok& t) {
  if (IsAthena(p)) {
    return absl::PermissionDeniedError(StrCat("TABLE_NOT_FOUND: ", Position(sql, t.offset),
                                              ": a file path is not a table (tables are read through the catalog)"));
  }
  if (p.front_end == SqlFrontEnd::kGlueJob) {
    return absl::PermissionDeniedError("a file path is not a table: jobs read the lake through s3:// names");
  }
  return absl::PermissionDeniedError("permission denied: a file path is not a relation (load files with COPY from s3://)");
}

bool IsWord(const Tok& t, std::string_view w) { return t.kind == Tok::Kind::kWord && t.text == w; }
bool IsSym(const Tok& t, std::string_view s) { return t.kind == Tok::Kind::kSymbol && t.text == s; }

// Glue jobs read the lake with read_parquet/read_csv/read_json...('s3://...') (job_script.h
// turns the URIs into the committed files): a reader call at t[at] whose file arguments
// (strings in argument or list position, not option values) are all s3:// URIs.
bool LakeReader(const std::vector<Tok>& t, size_t at) {
  static const std::set<std::string> kReaders = {
      "read_csv", "read_csv_auto", "read_json", "read_json_auto", "read_json_objects", "read_json_objects_auto",
      "read_ndjson", "read_ndjson_auto", "read_ndjson_objects", "read_parquet", "parquet_scan", "read_text",
      "read_blob"};
  if (!kReaders.contains(t[at].text)) return false;
  int depth = 0;
  for (size_t i = at + 1; i < t.size(); ++i) {
    if (IsSym(t[i], "(") || IsSym(t[i], "[")) ++depth;
    if (IsSym(t[i], ")") || IsSym(t[i], "]")) {
      if (--depth == 0) return true;
    }
    if (t[i].kind == Tok::Kind::kString && (IsSym(t[i - 1], "(") || IsSym(t[i - 1], ",") || IsSym(t[i - 1], "[")) &&
        !t[i].text.starts_with("s3://")) {
      return false;
    }
  }
  return true;
}

absl::Status CheckStatementTokens(std::string_view sql, const std::vector<Tok>& t, const SqlPolicy& policy,
                                  const std::set<std::string>& attached) {
  const Rules& rules = RulesFor(policy);
  const Tok& first = t[0];
  std::string first_word = first.kind == Tok::Kind::kWord ? first.text : IsSym(first, "(") ? "(" : "";
  if (!rules.first_words.contains(first_word)) return StatementRefused(policy, sql, first);
  if (first_word == "update" && t.size() > 1 && IsWord(t[1], "extensions")) return StatementRefused(policy, sql, first);
  if (first_word == "create") {
    for (size_t i = 1; i < t.size() && i < 6; ++i) {
      if (IsWord(t[i], "secret") || IsWord(t[i], "persistent")) return StatementRefused(policy, sql, t[i]);
    }
  }
  // The clause each parenthesis depth is in: a string (or a quoted name with a path in it)
  // where a table goes is a file DuckDB would read (a "replacement scan").
  std::vector<std::string> clause(1, first_word);
  static const std::set<std::string> kClauses = {"select", "from", "join", "where", "group", "having", "order",
                                                 "limit", "qualify", "window", "union", "except", "intersect",
                                                 "on", "using", "set", "values", "returning", "offset", "into",
                                                 "as", "with", "describe", "summarize", "table", "show"};
  static const std::set<std::string> kTableClauses = {"from", "join", "describe", "summarize", "show"};
  auto is_ident = [](const Tok& x) { return x.kind == Tok::Kind::kWord || x.kind == Tok::Kind::kQuotedIdent; };
  for (size_t i = 0; i < t.size(); ++i) {
    const Tok& tok = t[i];
    const Tok* next = i + 1 < t.size() ? &t[i + 1] : nullptr;
    const Tok* prev = i > 0 ? &t[i - 1] : nullptr;
    bool ident = is_ident(tok);
    if (IsSym(tok, "(")) {
      // A function's arguments ("fn"), not a subquery: trim(both 'x' FROM 'y') has no table.
      clause.push_back(prev && is_ident(*prev) ? "fn" : "");
      continue;
    }
    if (IsSym(tok, ")")) {
      if (clause.size() > 1) clause.pop_back();
      continue;
    }
    bool in_call = clause.back() == "fn";
    if (!in_call && tok.kind == Tok::Kind::kWord && kClauses.contains(tok.text)) clause.back() = tok.text;
    if (policy.check_functions && ident && next && IsSym(*next, "(") && DeniedFunction(tok.text)) {
      // Unless it names a table before its column list: CREATE TABLE / INSERT INTO x (...).
      size_t start = i;
      while (start >= 2 && IsSym(t[start - 1], ".") && is_ident(t[start - 2])) start -= 2;
      bool table_name = start > 0 && (IsWord(t[start - 1], "table") || IsWord(t[start - 1], "into") ||
                                      IsWord(t[start - 1], "exists"));
      if (!table_name && !(policy.front_end == SqlFrontEnd::kGlueJob && LakeReader(t, i))) {
        return FunctionRefused(policy, sql, tok);
      }
    }
    if (ident && next && IsSym(*next, ".") && !(prev && IsSym(*prev, ".")) && attached.contains(tok.text)) {
      bool allowed = tok.text == "temp";
      for (const auto& c : policy.catalogs) allowed = allowed || c == tok.text;
      if (!allowed) return CatalogRefused(policy, sql, tok);
    }
    if (in_call || !policy.check_paths) continue;
    bool table_position = prev && (IsWord(*prev, "from") || IsWord(*prev, "join") || IsWord(*prev, "describe") ||
                                   IsWord(*prev, "summarize") || IsWord(*prev, "table") ||
                                   (IsSym(*prev, ",") && kTableClauses.contains(clause.back())));
    // Glue jobs name the lake as 's3://bucket/prefix/' where a table goes (job_script.h).
    bool lake_uri = policy.front_end == SqlFrontEnd::kGlueJob && tok.text.starts_with("s3://");
    if (table_position && tok.kind == Tok::Kind::kString && !lake_uri) return PathRefused(policy, sql, tok);
    if (table_position && tok.kind == Tok::Kind::kQuotedIdent &&
        tok.text.find_first_of("/.:\\*?") != std::string::npos) {
      return PathRefused(policy, sql, tok);
    }
  }
  return absl::OkStatus();
}

}  // namespace

SqlPolicy AthenaPolicy() {
  SqlPolicy p;
  p.front_end = SqlFrontEnd::kAthena;
  p.catalogs = {"awsdatacatalog"};
  return p;
}

SqlPolicy WarehousePolicy(std::vector<std::string> databases) {
  SqlPolicy p;
  p.front_end = SqlFrontEnd::kWarehouse;
  for (auto& d : databases) p.catalogs.push_back(AsciiLower(d));
  return p;
}

SqlPolicy GlueJobPolicy(std::string job_catalog) {
  SqlPolicy p;
  p.front_end = SqlFrontEnd::kGlueJob;
  p.catalogs = {AsciiLower(job_catalog), "awsdatacatalog"};
  return p;
}

int CountSqlStatements(std::string_view sql) { return static_cast<int>(Statements(sql).size()); }

absl::Status CheckSqlText(std::string_view sql, const SqlPolicy& policy, const std::set<std::string>& attached) {
  auto statements = Statements(sql);
  if (statements.size() > 1) return TooManyStatements(policy, static_cast<int>(statements.size()));
  if (statements.empty()) return absl::OkStatus();
  return CheckStatementTokens(sql, statements[0], policy, attached);
}

absl::Status TooManyStatements(const SqlPolicy& policy, int n) {
  if (IsAthena(policy)) return absl::InvalidArgumentError(StrCat("Only one sql statement is allowed. Got: ", n));
  if (policy.front_end == SqlFrontEnd::kGlueJob) {
    return absl::InvalidArgumentError(StrCat("one statement at a time: the text holds ", n));
  }
  return absl::InvalidArgumentError("cannot insert multiple commands into a prepared statement");
}

absl::Status CheckStatementType(int type, const SqlPolicy& policy, std::string_view sql) {
  if (RulesFor(policy).types.contains(type)) return absl::OkStatus();
  // MERGE INTO has no duckdb_statement_type of its own (DuckDB reports INVALID): allowed by
  // its first word where the front end runs MERGE.
  auto statements = Statements(sql);
  if (type == 0 && statements.size() == 1 && IsWord(statements[0][0], "merge") &&
      RulesFor(policy).first_words.contains("merge")) {
    return absl::OkStatus();
  }
  std::string name = TypeName(type);
  if (IsAthena(policy)) {
    return absl::UnimplementedError(
        StrCat("line 1:1: mismatched input '", name, "'. Expecting: a query or an Athena DDL statement"));
  }
  if (policy.front_end == SqlFrontEnd::kGlueJob) {
    return absl::UnimplementedError(StrCat("'", name, "' statements are not allowed in a job script"));
  }
  return absl::UnimplementedError(StrCat(name, " is not supported"));
}

std::string ScrubPaths(std::string text, const std::vector<PathAlias>& aliases) {
  for (const auto& a : aliases) {
    if (a.path.empty()) continue;
    for (size_t at = text.find(a.path); at != std::string::npos; at = text.find(a.path, at + a.alias.size())) {
      text.replace(at, a.path.size(), a.alias);
    }
  }
  return text;
}

}  // namespace sluice
