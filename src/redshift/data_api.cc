#include "redshift/data_api.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>

#include "base/ids.h"
#include "base/strings.h"
#include "base/time.h"
#include "io/checksum.h"

namespace sluice {

using Json = nlohmann::json;

// One ExecuteStatement, or one BatchExecuteStatement with one Sub per SQL text (a plain
// statement has exactly one Sub). Guarded by the service's mu_, except `result`, which is
// immutable once set and shared with readers building a page.
struct RedshiftDataService::Statement {
  struct Sub {
    std::string sql;
    std::string status = "SUBMITTED";
    std::string error;
    absl::Time updated;
    absl::Time started = absl::InfinitePast();
    int64_t duration_ns = -1;
    int64_t result_rows = -1, result_size = -1;
    bool has_result_set = false;
    int64_t query_id = 0;
    std::shared_ptr<const WarehouseResult> result;  // FINISHED with a result set; null once evicted
  };
  std::string id, name, database, user, cluster, workgroup, secret_arn, session_id, client_token;
  std::string result_format = "JSON";
  bool batch = false, with_event = false, db_user_given = false;
  Json parameters;                            // the request's Parameters (null when none)
  std::map<std::string, std::string> params;  // name -> value
  int keep_alive = -1;                        // SessionKeepAliveSeconds; -1 when not given
  bool uses_kept_session = false;             // SessionId was given
  std::vector<Sub> subs;
  std::string status = "SUBMITTED";
  std::string error;
  absl::Time created, updated;
  absl::Time started = absl::InfinitePast();
  int64_t duration_ns = -1;
  int64_t pid = 0;
  WarehouseSession* running = nullptr;  // while STARTED, for CancelStatement
  bool cancel = false;
  bool finished = false;  // counted out of active_
  size_t bytes = 0;       // result text held
};

// A session kept alive after its statement (SessionKeepAliveSeconds), for later statements
// that name its SessionId.
struct RedshiftDataService::KeptSession {
  std::unique_ptr<WarehouseSession> session;
  std::string database, user;
  absl::Duration keep;
  absl::Time expires;
  bool busy = false;  // a statement is queued or running on it
};

namespace {

JsonReply Validation(std::string message) { return JsonReply::Error(400, "ValidationException", std::move(message)); }
JsonReply NotFound(std::string message) { return JsonReply::Error(400, "ResourceNotFoundException", std::move(message)); }
JsonReply NotNull(const char* member) {
  return Validation(StrCat("1 validation error detected: Value null at '", member,
                           "' failed to satisfy constraint: Member must not be null"));
}

bool Terminal(const std::string& status) { return status == "FINISHED" || status == "FAILED" || status == "ABORTED"; }

const std::regex& UuidPattern() {
  static const std::regex re("[a-z0-9]{8}(-[a-z0-9]{4}){3}-[a-z0-9]{12}(:[0-9]{0,2})?");
  return re;
}

// Whether a member is present with a value of the wrong JSON type.
bool WrongType(const Json& in, const char* name, Json::value_t type) {
  auto it = in.find(name);
  if (it == in.end() || it->is_null()) return false;
  if (type == Json::value_t::number_integer) return !it->is_number_integer();
  return it->type() != type;
}

// The error text AWS shows for a failed statement: the server's message with its severity.
std::string ErrorText(const absl::Status& st) {
  std::string m(st.message());
  if (m.starts_with("ERROR:") || m.starts_with("FATAL:")) return m;
  return StrCat("ERROR: ", m);
}

size_t ResultBytes(const WarehouseResult& r) {
  size_t n = 0;
  for (const auto& row : r.rows) {
    n += row.size();  // separators
    for (const auto& v : row) n += v ? v->size() : 0;
  }
  return n;
}

std::string PageToken(size_t offset) { return StrCat("rsd1-", offset); }
std::optional<size_t> ParsePageToken(const std::string& token) {
  std::string_view s = token;
  size_t offset = 0;
  if (!ConsumePrefix(&s, "rsd1-") || !ParseNumber(s, &offset)) return std::nullopt;
  return offset;
}

// "DECIMAL(18,2)" -> {"DECIMAL", 18, 2}.
struct TypeParts {
  std::string base;
  int precision = -1, scale = -1;
};
TypeParts ParseType(const std::string& type) {
  TypeParts t;
  std::string upper = AsciiUpper(StripWhitespace(type));
  size_t paren = upper.find('(');
  t.base = std::string(StripWhitespace(std::string_view(upper).substr(0, paren)));
  if (paren != std::string::npos) {
    std::string_view args = std::string_view(upper).substr(paren + 1);
    args = args.substr(0, args.find(')'));
    auto parts = Split(args, ',');
    if (!parts.empty()) (void)ParseNumber(StripWhitespace(parts[0]), &t.precision);
    if (parts.size() > 1) (void)ParseNumber(StripWhitespace(parts[1]), &t.scale);
  }
  return t;
}

bool IsIntegerType(const std::string& base) {
  return base == "TINYINT" || base == "SMALLINT" || base == "INTEGER" || base == "BIGINT" || base == "UTINYINT" ||
         base == "USMALLINT" || base == "UINTEGER" || base == "UBIGINT" || base == "HUGEINT" || base == "UHUGEINT" ||
         base == "INT" || base == "INT2" || base == "INT4" || base == "INT8";
}
bool IsFloatType(const std::string& base) {
  return base == "FLOAT" || base == "REAL" || base == "DOUBLE" || base == "FLOAT4" || base == "FLOAT8";
}

// Bytes of a BLOB's text: PostgreSQL's \x<hex> form, or DuckDB's with \xHH escapes.
std::string BlobBytes(const std::string& text) {
  std::string_view s = text;
  if (s.size() >= 2 && s[0] == '\\' && s[1] == 'x' && s.size() % 2 == 0 &&
      std::all_of(s.begin() + 2, s.end(), IsHexDigit)) {
    std::string out;
    for (size_t i = 2; i + 1 < s.size(); i += 2) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i, 2)), nullptr, 16)));
    }
    return out;
  }
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x' && IsHexDigit(s[i + 2]) && IsHexDigit(s[i + 3])) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 2, 2)), nullptr, 16)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string CsvField(const std::optional<std::string>& v) {
  if (!v) return "";
  if (v->find_first_of(",\"\r\n") == std::string::npos && !v->empty()) return *v;
  std::string out = "\"";
  for (char c : *v) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// Optional strings with length limits; sets *error when the member is invalid.
std::optional<JsonReply> CheckString(const Json& in, const char* name, size_t min, size_t max) {
  auto it = in.find(name);
  if (it == in.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) return Validation(StrCat("Invalid type for parameter ", name, ", expected a string."));
  size_t n = it->get_ref<const std::string&>().size();
  if (n < min || n > max) {
    return Validation(StrCat("1 validation error detected: Value at '", name,
                             "' failed to satisfy constraint: Member must have length between ", min, " and ", max));
  }
  return std::nullopt;
}

}  // namespace

namespace redshift {

absl::StatusOr<std::pair<std::string, std::vector<std::optional<std::string>>>> BindNamedParameters(
    const std::string& sql, const std::map<std::string, std::string>& params) {
  std::string out;
  out.reserve(sql.size());
  std::vector<std::optional<std::string>> values;
  std::map<std::string, int> numbers;
  auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  size_t i = 0, n = sql.size();
  while (i < n) {
    char c = sql[i];
    if (c == '\'' || c == '"') {  // quoted text: '' and "" double the quote; E'..' has \ escapes
      bool escapes = c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i < 2 || !ident(sql[i - 2]));
      size_t j = i + 1;
      for (; j < n; ++j) {
        if (escapes && sql[j] == '\\') {
          ++j;
          continue;
        }
        if (sql[j] == c) {
          if (j + 1 < n && sql[j + 1] == c) {
            ++j;
            continue;
          }
          break;
        }
      }
      j = std::min(j + 1, n);
      out.append(sql, i, j - i);
      i = j;
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      size_t j = sql.find('\n', i);
      j = j == std::string::npos ? n : j;
      out.append(sql, i, j - i);
      i = j;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      size_t j = sql.find("*/", i + 2);
      j = j == std::string::npos ? n : j + 2;
      out.append(sql, i, j - i);
      i = j;
    } else if (c == '$' && (i == 0 || !ident(sql[i - 1]))) {  // $tag$ ... $tag$
      size_t j = i + 1;
      while (j < n && (std::isalpha(static_cast<unsigned char>(sql[j])) || sql[j] == '_')) ++j;
      if (j < n && sql[j] == '$') {
        std::string tag = sql.substr(i, j - i + 1);
        size_t end = sql.find(tag, j + 1);
        end = end == std::string::npos ? n : end + tag.size();
        out.append(sql, i, end - i);
        i = end;
      } else {
        out.push_back(c);
        ++i;
      }
    } else if (c == ':' && i + 1 < n && sql[i + 1] == ':') {  // a cast
      out.append("::");
      i += 2;
    } else if (c == ':' && i + 1 < n && ident(sql[i + 1]) && (i == 0 || !ident(sql[i - 1]))) {
      size_t j = i + 1;
      while (j < n && ident(sql[j])) ++j;
      std::string name = sql.substr(i + 1, j - i - 1);
      auto p = params.find(name);
      if (p == params.end()) {
        return absl::InvalidArgumentError(StrCat("Parameter ", name, " is referenced in the SQL but not specified."));
      }
      auto [it, added] = numbers.emplace(name, static_cast<int>(values.size()) + 1);
      if (added) values.emplace_back(p->second);
      StrAppend(&out, "$", it->second);
      i = j;
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return std::make_pair(std::move(out), std::move(values));
}

std::string RedshiftTypeName(const std::string& duckdb_type) {
  TypeParts t = ParseType(duckdb_type);
  const std::string& b = t.base;
  if (b == "TINYINT" || b == "SMALLINT" || b == "UTINYINT" || b == "INT2") return "int2";
  if (b == "INTEGER" || b == "USMALLINT" || b == "INT" || b == "INT4") return "int4";
  if (b == "BIGINT" || b == "UINTEGER" || b == "INT8") return "int8";
  if (b == "UBIGINT" || b == "HUGEINT" || b == "UHUGEINT" || b == "DECIMAL" || b == "NUMERIC") return "numeric";
  if (b == "FLOAT" || b == "REAL" || b == "FLOAT4") return "float4";
  if (b == "DOUBLE" || b == "FLOAT8") return "float8";
  if (b == "BOOLEAN" || b == "BOOL") return "bool";
  if (b == "VARCHAR" || b == "TEXT" || b == "STRING" || b == "UUID" || b == "ENUM") return "varchar";
  if (b == "CHAR" || b == "BPCHAR") return "bpchar";
  if (b == "DATE") return "date";
  if (b == "TIMESTAMP" || b == "DATETIME" || b == "TIMESTAMP_NS" || b == "TIMESTAMP_MS" || b == "TIMESTAMP_S") {
    return "timestamp";
  }
  if (b == "TIMESTAMP WITH TIME ZONE" || b == "TIMESTAMPTZ") return "timestamptz";
  if (b == "TIME") return "time";
  if (b == "TIME WITH TIME ZONE" || b == "TIMETZ") return "timetz";
  if (b == "INTERVAL") return "interval";
  if (b == "BLOB" || b == "BYTEA" || b == "VARBYTE") return "varbyte";
  if (b == "JSON" || b.ends_with("[]") || b.starts_with("STRUCT") || b.starts_with("MAP") || b.starts_with("LIST") ||
      b.starts_with("UNION")) {
    return "super";
  }
  if (b == "GEOMETRY") return "geometry";
  return AsciiLower(b);
}

Json RedshiftField(const std::string& duckdb_type, const std::optional<std::string>& value) {
  if (!value) return Json{{"isNull", true}};
  std::string base = ParseType(duckdb_type).base;
  if (IsIntegerType(base)) {
    int64_t v = 0;
    if (ParseNumber(*value, &v)) return Json{{"longValue", v}};
    return Json{{"stringValue", *value}};  // beyond a long (HUGEINT, UBIGINT)
  }
  if (IsFloatType(base)) {
    try {
      size_t used = 0;
      double d = std::stod(*value, &used);
      if (used == value->size() && std::isfinite(d)) return Json{{"doubleValue", d}};
    } catch (const std::exception&) {
    }
    return Json{{"stringValue", *value}};  // NaN, Infinity
  }
  if (base == "BOOLEAN" || base == "BOOL") {
    std::string v = AsciiLower(*value);
    return Json{{"booleanValue", v == "t" || v == "true" || v == "1"}};
  }
  if (base == "BLOB" || base == "BYTEA" || base == "VARBYTE") return Json{{"blobValue", Base64Encode(BlobBytes(*value))}};
  return Json{{"stringValue", *value}};
}

Json RedshiftColumnMetadata(const std::string& name, const std::string& duckdb_type) {
  TypeParts t = ParseType(duckdb_type);
  std::string type = RedshiftTypeName(duckdb_type);
  int precision = 0, scale = 0;
  bool is_signed = false, case_sensitive = false;
  if (type == "int2") precision = 5, is_signed = true;
  else if (type == "int4") precision = 10, is_signed = true;
  else if (type == "int8") precision = 19, is_signed = true;
  else if (type == "numeric") {
    precision = t.precision > 0 ? t.precision : (t.base == "UBIGINT" ? 20 : 38);
    scale = t.scale > 0 ? t.scale : 0;
    is_signed = true;
  } else if (type == "float4") precision = 8, scale = 8, is_signed = true;
  else if (type == "float8") precision = 17, scale = 17, is_signed = true;
  else if (type == "bool") precision = 1;
  else if (type == "varchar" || type == "bpchar") {
    precision = t.precision > 0 ? t.precision : 256;
    case_sensitive = true;
  } else if (type == "date") precision = 13;
  else if (type == "timestamp" || type == "timestamptz") precision = 29, scale = 6;
  else if (type == "time" || type == "timetz") precision = 15, scale = 6;
  else if (type == "super") precision = 4194304, case_sensitive = true;
  else if (type == "varbyte") precision = 64000;
  return Json{{"name", name},
              {"label", name},
              {"typeName", type},
              {"precision", precision},
              {"scale", scale},
              {"nullable", 1},
              {"isSigned", is_signed},
              {"isCaseSensitive", case_sensitive},
              {"isCurrency", false},
              {"length", 0},
              {"schemaName", ""},
              {"tableName", ""}};
}

bool LikeMatch(std::string_view p, std::string_view s) {
  // Iterative matching with backtracking to the last '%'.
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '\\' && pi + 1 < p.size() && p[pi + 1] == s[si]) {
      pi += 2;
      ++si;
    } else if (pi < p.size() && (p[pi] == '_' || (p[pi] == s[si] && p[pi] != '%' && p[pi] != '\\'))) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '%') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '%') ++pi;
  return pi == p.size();
}

}  // namespace redshift

RedshiftDataService::RedshiftDataService(Warehouse& warehouse, RedshiftDataOptions options)
    : warehouse_(warehouse), options_(std::move(options)) {
  for (int i = 0; i < std::max(1, options_.threads); ++i) threads_.emplace_back([this] { Loop(); });
}

RedshiftDataService::~RedshiftDataService() { Stop(); }

void RedshiftDataService::Stop() {
  std::vector<std::shared_ptr<KeptSession>> sessions;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    for (auto& [id, st] : statements_) {
      st->cancel = true;
      if (st->running) st->running->Cancel();
    }
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard lock(mu_);
  for (auto& st : queue_) {
    st->status = "ABORTED";
    st->error = "Query cancelled: the server is stopping.";
  }
  queue_.clear();
  sessions_.clear();
}

void RedshiftDataService::Loop() {
  for (;;) {
    std::shared_ptr<Statement> st;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      st = queue_.front();
      queue_.pop_front();
      if (Terminal(st->status)) continue;  // cancelled while queued
      st->status = "PICKED";
      st->updated = absl::Now();
    }
    Run(st);
  }
}

void RedshiftDataService::Run(const std::shared_ptr<Statement>& st) {
  std::unique_ptr<WarehouseSession> owned;
  std::shared_ptr<KeptSession> kept;
  WarehouseSession* session = nullptr;
  {
    std::lock_guard lock(mu_);
    if (st->uses_kept_session) {
      auto it = sessions_.find(st->session_id);
      if (it != sessions_.end()) kept = it->second;
    }
  }
  absl::Status connect_error;
  if (kept) {
    session = kept->session.get();
  } else {
    auto s = warehouse_.Connect(st->database, st->user);
    if (s.ok()) {
      owned = std::move(*s);
      session = owned.get();
    } else {
      connect_error = s.status();
    }
  }
  {
    std::lock_guard lock(mu_);
    absl::Time now = absl::Now();
    st->started = now;
    st->updated = now;
    if (!session) {
      st->status = "FAILED";
      st->error = connect_error.ok() ? "ERROR: the session is no longer available" : ErrorText(connect_error);
      for (auto& sub : st->subs) sub.status = "FAILED", sub.error = st->error, sub.updated = now;
      Finish(st);
    } else if (st->cancel) {
      st->status = "ABORTED";
      for (auto& sub : st->subs) sub.status = "ABORTED", sub.updated = now;
      Finish(st);
    }
    if (!Terminal(st->status)) {
      st->status = "STARTED";
      st->running = session;
    }
  }
  if (!st->running) {  // failed to connect, or cancelled before it started
    PublishPending();
    return;
  }

  // Runs one SQL text; the last result of a multi-statement text is the statement's result.
  auto run_sql_unguarded = [&](const std::string& sql) -> absl::StatusOr<WarehouseResult> {
    if (!st->params.empty()) {
      ASSIGN_OR_RETURN(auto bound, redshift::BindNamedParameters(sql, st->params));
      if (!bound.second.empty()) return session->ExecuteParams(bound.first, bound.second);
    }
    ASSIGN_OR_RETURN(std::vector<WarehouseResult> results, session->Execute(sql));
    if (results.empty()) return WarehouseResult{};
    return std::move(results.back());
  };
  // Last resort: an exception fails this statement (XX000), never the worker or process.
  auto run_sql = [&](const std::string& sql) -> absl::StatusOr<WarehouseResult> {
    try {
      return run_sql_unguarded(sql);
    } catch (const std::exception& e) {
      return WarehouseError("XX000", StrCat("internal error: ", e.what()));
    } catch (...) {
      return WarehouseError("XX000", "internal error");
    }
  };
  auto cancelled = [&] {
    std::lock_guard lock(mu_);
    return st->cancel;
  };

  bool began = false;
  if (st->batch && session->TransactionStatus() == 'I') {
    auto b = session->Execute("BEGIN");
    began = b.ok();
  }
  std::string failure;  // the first error
  bool aborted = false;
  size_t i = 0;
  for (; i < st->subs.size(); ++i) {
    if (cancelled()) {
      aborted = true;
      break;
    }
    {
      std::lock_guard lock(mu_);
      st->subs[i].status = "STARTED";
      st->subs[i].started = absl::Now();
      st->subs[i].updated = st->subs[i].started;
      st->subs[i].query_id = ++next_query_id_;
    }
    absl::StatusOr<WarehouseResult> r = run_sql(st->subs[i].sql);
    std::lock_guard lock(mu_);
    auto& sub = st->subs[i];
    absl::Time now = absl::Now();
    sub.updated = now;
    sub.duration_ns = absl::ToInt64Nanoseconds(now - sub.started);
    if (!r.ok()) {
      sub.error = ErrorText(r.status());
      if (st->cancel || SqlStateOf(r.status()) == "57014") {
        sub.status = "ABORTED";
        aborted = true;
      } else {
        sub.status = "FAILED";
      }
      failure = sub.error;
      break;
    }
    sub.has_result_set = r->has_result_set;
    size_t bytes = ResultBytes(*r);
    if (bytes > options_.max_statement_result_bytes) {
      sub.status = "FAILED";
      sub.error = StrCat("ERROR: the query result of ", bytes, " bytes exceeds the Data API limit of ",
                         options_.max_statement_result_bytes, " bytes");
      failure = sub.error;
      break;
    }
    sub.result_size = static_cast<int64_t>(bytes);
    sub.result_rows = r->has_result_set ? static_cast<int64_t>(r->rows.size()) : std::max<int64_t>(0, r->rows_affected);
    if (r->has_result_set) {
      st->bytes += bytes;
      sub.result = std::make_shared<const WarehouseResult>(std::move(*r));
    }
    sub.status = "FINISHED";
  }
  if (began) {
    if (failure.empty() && !aborted) {
      auto c = session->Execute("COMMIT");
      if (!c.ok()) failure = ErrorText(c.status());
    } else {
      (void)session->Execute("ROLLBACK");
    }
  }

  std::unique_ptr<WarehouseSession> destroy;  // outside the lock
  {
    std::lock_guard lock(mu_);
    st->running = nullptr;
    absl::Time now = absl::Now();
    for (size_t j = 0; j < st->subs.size(); ++j) {
      auto& sub = st->subs[j];
      if (!Terminal(sub.status)) {
        sub.status = "ABORTED";
        sub.updated = now;
      }
    }
    st->duration_ns = absl::ToInt64Nanoseconds(now - st->started);
    if (aborted) {
      st->status = "ABORTED";
      st->error = failure.empty() ? "Query cancelled on user's request." : failure;
    } else if (!failure.empty()) {
      st->status = "FAILED";
      st->error = failure;
    } else {
      st->status = "FINISHED";
    }
    if (st->status != "FINISHED") {
      // A rolled back batch keeps no results.
      for (auto& sub : st->subs) sub.result.reset();
      st->bytes = 0;
    }
    if (kept) {
      kept->busy = false;
      kept->expires = now + kept->keep;
      if (st->keep_alive >= 0) {
        kept->keep = absl::Seconds(st->keep_alive);
        kept->expires = now + kept->keep;
      }
    } else if (st->keep_alive > 0 && !stopping_) {
      auto k = std::make_shared<KeptSession>();
      k->session = std::move(owned);
      k->database = st->database;
      k->user = st->user;
      k->keep = absl::Seconds(st->keep_alive);
      k->expires = now + k->keep;
      sessions_[st->session_id] = std::move(k);
    }
    destroy = std::move(owned);
    Finish(st);
  }
  PublishPending();
}

// REQUIRES: mu_ held.
void RedshiftDataService::Finish(const std::shared_ptr<Statement>& st) {
  if (st->finished) return;
  st->finished = true;
  st->updated = absl::Now();
  --active_;
  result_bytes_ += st->bytes;
  if (st->uses_kept_session) {
    auto it = sessions_.find(st->session_id);
    if (it != sessions_.end() && !st->running) it->second->busy = false;
  }
  if (st->with_event && options_.publish_event) {
    int64_t rows = 0;
    for (const auto& sub : st->subs) rows += std::max<int64_t>(0, sub.result_rows);
    Json detail = {{"principal", StrCat("arn:aws:iam::", options_.account, ":root")},
                   {"statementName", st->name},
                   {"statementId", st->id},
                   {"redshiftQueryId", st->subs.empty() ? 0 : st->subs.back().query_id},
                   {"state", st->status},
                   {"rows", rows},
                   {"expireAt", absl::ToUnixSeconds(st->created + options_.retention)}};
    std::string resource = !st->workgroup.empty()
                               ? StrCat("arn:aws:redshift-serverless:", options_.region, ":", options_.account,
                                        ":workgroup/", st->workgroup)
                               : StrCat("arn:aws:redshift:", options_.region, ":", options_.account, ":cluster:",
                                        st->cluster.empty() ? "sluice" : st->cluster);
    pending_events_.push_back(Json{{"source", "aws.redshift-data"},
                                   {"detail-type", "Redshift Data Statement Status Change"},
                                   {"resources", Json::array({resource})},
                                   {"detail", std::move(detail)}});
  }
  Evict();
}

void RedshiftDataService::PublishPending() {
  std::vector<Json> events;
  {
    std::lock_guard lock(mu_);
    events.swap(pending_events_);
  }
  for (auto& e : events) options_.publish_event(std::move(e));
}

void RedshiftDataService::Evict() {
  absl::Time now = absl::Now();
  auto drop = [&](size_t idx) {
    auto st = order_[idx];
    result_bytes_ -= st->bytes;
    statements_.erase(st->id);
    if (!st->client_token.empty()) client_tokens_.erase(st->client_token);
    order_.erase(order_.begin() + static_cast<long>(idx));
  };
  for (size_t i = 0; i < order_.size();) {
    bool old = order_[i]->created + options_.retention < now;
    bool over = order_.size() > options_.max_statements;
    if (!old && !over) break;
    if (order_[i]->finished) {
      drop(i);
    } else {
      ++i;
    }
  }
  // Result rows past the byte budget go first, oldest first; the statement stays listed.
  for (size_t i = 0; i < order_.size() && result_bytes_ > options_.max_result_bytes; ++i) {
    auto& st = order_[i];
    if (!st->finished || st->bytes == 0) continue;
    result_bytes_ -= st->bytes;
    st->bytes = 0;
    for (auto& sub : st->subs) sub.result.reset();
  }
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (!it->second->busy && it->second->expires < now) {
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

JsonReply RedshiftDataService::Handle(const std::string& action, const Json& input) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return JsonReply::Error(500, "InternalServerException", "The service is stopping.");
  }
  if (action == "ExecuteStatement") return ExecuteStatement(input, false);
  if (action == "BatchExecuteStatement") return ExecuteStatement(input, true);
  if (action == "DescribeStatement") return DescribeStatement(input);
  if (action == "GetStatementResult") return GetStatementResult(input, false);
  if (action == "GetStatementResultV2") return GetStatementResult(input, true);
  if (action == "ListStatements") return ListStatements(input);
  if (action == "CancelStatement") return CancelStatement(input);
  if (action == "ListDatabases") return ListDatabases(input);
  if (action == "ListSchemas") return ListSchemas(input);
  if (action == "ListTables") return ListTables(input);
  if (action == "DescribeTable") return DescribeTable(input);
  return JsonReply::Error(400, "InvalidAction", StrCat("Sluice does not implement Redshift Data API ", action, " yet."));
}

namespace {

// Validates the connection members every data/metadata request shares.
std::optional<JsonReply> CheckConnection(const Json& in) {
  for (auto* name : {"ClusterIdentifier", "SecretArn", "DbUser", "Database", "WorkgroupName", "ConnectedDatabase"}) {
    if (auto e = CheckString(in, name, 0, 2048)) return e;
  }
  std::string cluster = JsonString(in, "ClusterIdentifier"), workgroup = JsonString(in, "WorkgroupName");
  if (!cluster.empty() && !workgroup.empty()) {
    return Validation("ClusterIdentifier and WorkgroupName cannot both be specified. Specify one of them.");
  }
  static const std::regex cluster_re("[a-z][a-z0-9]*(-[a-z0-9]+)*");
  if (in.contains("ClusterIdentifier") &&
      (cluster.empty() || cluster.size() > 63 || !std::regex_match(cluster, cluster_re))) {
    return Validation(StrCat("1 validation error detected: Value '", cluster,
                             "' at 'clusterIdentifier' failed to satisfy constraint: Member must satisfy regular "
                             "expression pattern: [a-z][a-z0-9]*(-[a-z0-9]+)*"));
  }
  static const std::regex wg_re(
      "[a-z0-9-]{3,63}|arn:aws(-[a-z]+)*:redshift-serverless:[a-z0-9-]+:[0-9]{12}:workgroup/[0-9a-f-]{36}");
  if (in.contains("WorkgroupName") &&
      (workgroup.size() < 3 || workgroup.size() > 128 || !std::regex_match(workgroup, wg_re))) {
    return Validation(StrCat("1 validation error detected: Value '", workgroup,
                             "' at 'workgroupName' failed to satisfy constraint: Member must satisfy regular "
                             "expression pattern"));
  }
  return std::nullopt;
}

}  // namespace

JsonReply RedshiftDataService::ExecuteStatement(const Json& in, bool batch) {
  if (auto e = CheckConnection(in)) return *e;
  if (auto e = CheckString(in, "StatementName", 0, 2048)) return *e;
  if (auto e = CheckString(in, "ClientToken", 1, 64)) return *e;
  if (auto e = CheckString(in, "SessionId", 0, 64)) return *e;
  if (WrongType(in, "WithEvent", Json::value_t::boolean)) return Validation("Invalid type for parameter WithEvent, expected a boolean.");
  if (WrongType(in, "SessionKeepAliveSeconds", Json::value_t::number_integer)) {
    return Validation("Invalid type for parameter SessionKeepAliveSeconds, expected an integer.");
  }
  std::vector<std::string> sqls;
  if (batch) {
    if (!in.contains("Sqls") || in["Sqls"].is_null()) return NotNull("sqls");
    if (!in["Sqls"].is_array()) return Validation("Invalid type for parameter Sqls, expected a list.");
    if (in["Sqls"].empty() || in["Sqls"].size() > 40) {
      return Validation("1 validation error detected: Value at 'sqls' failed to satisfy constraint: Member must have "
                        "length less than or equal to 40 and greater than or equal to 1");
    }
    for (const auto& s : in["Sqls"]) {
      if (!s.is_string()) return Validation("Invalid type for parameter Sqls, expected a list of strings.");
      sqls.push_back(s.get<std::string>());
    }
  } else {
    if (!in.contains("Sql") || in["Sql"].is_null()) return NotNull("sql");
    if (!in["Sql"].is_string()) return Validation("Invalid type for parameter Sql, expected a string.");
    sqls.push_back(in["Sql"].get<std::string>());
  }
  for (const auto& s : sqls) {
    if (StripWhitespace(s).empty()) return Validation("The SQL statement text cannot be empty.");
    if (s.size() > 100 * 1024) return Validation("The SQL statement exceeds the 100 KB limit of the Data API.");
  }
  auto st = std::make_shared<Statement>();
  st->batch = batch;
  st->cluster = JsonString(in, "ClusterIdentifier");
  st->workgroup = JsonString(in, "WorkgroupName");
  st->secret_arn = JsonString(in, "SecretArn");
  st->database = JsonString(in, "Database");
  st->user = JsonString(in, "DbUser");
  st->db_user_given = !st->user.empty();
  st->name = JsonString(in, "StatementName");
  st->client_token = JsonString(in, "ClientToken");
  st->with_event = in.value("WithEvent", false);
  st->session_id = JsonString(in, "SessionId");
  if (in.contains("SessionKeepAliveSeconds") && !in["SessionKeepAliveSeconds"].is_null()) {
    int64_t k = in["SessionKeepAliveSeconds"].get<int64_t>();
    if (k < 0 || k > 86400) {
      return Validation("1 validation error detected: Value at 'sessionKeepAliveSeconds' failed to satisfy "
                        "constraint: Member must have value between 0 and 86400");
    }
    st->keep_alive = static_cast<int>(k);
  }
  if (in.contains("ResultFormat") && !in["ResultFormat"].is_null()) {
    std::string f = JsonString(in, "ResultFormat");
    if (f != "JSON" && f != "CSV") {
      return Validation("1 validation error detected: Value at 'resultFormat' failed to satisfy constraint: Member "
                        "must satisfy enum value set: [JSON, CSV]");
    }
    st->result_format = f;
  }
  if (in.contains("Parameters") && !in["Parameters"].is_null()) {
    const Json& ps = in["Parameters"];
    if (!ps.is_array() || ps.empty()) {
      return Validation("1 validation error detected: Value at 'parameters' failed to satisfy constraint: Member "
                        "must have length greater than or equal to 1");
    }
    static const std::regex name_re("[0-9a-zA-Z_]+");
    for (const auto& p : ps) {
      std::string name = JsonString(p, "name"), value = JsonString(p, "value");
      if (!p.is_object() || !p.contains("name") || !p["name"].is_string()) return NotNull("parameters.member.name");
      if (!p.contains("value") || !p["value"].is_string()) return NotNull("parameters.member.value");
      if (!std::regex_match(name, name_re)) {
        return Validation(StrCat("1 validation error detected: Value '", name,
                                 "' at 'parameters.member.name' failed to satisfy constraint: Member must satisfy "
                                 "regular expression pattern: [0-9a-zA-Z_]+"));
      }
      if (value.empty()) {
        return Validation("1 validation error detected: Value at 'parameters.member.value' failed to satisfy "
                          "constraint: Member must have length greater than or equal to 1");
      }
      if (!st->params.emplace(name, value).second) return Validation(StrCat("Parameter ", name, " is specified more than once."));
    }
    st->parameters = ps;
    for (const auto& s : sqls) {
      auto bound = redshift::BindNamedParameters(s, st->params);
      if (!bound.ok()) return Validation(std::string(bound.status().message()));
    }
  }
  if (!st->session_id.empty()) {
    if (!std::regex_match(st->session_id, UuidPattern())) {
      return Validation(StrCat("1 validation error detected: Value '", st->session_id,
                               "' at 'sessionId' failed to satisfy constraint: Member must satisfy regular expression "
                               "pattern: [a-z0-9]{8}(-[a-z0-9]{4}){3}-[a-z0-9]{12}"));
    }
    if (!st->cluster.empty() || !st->workgroup.empty() || !st->database.empty() || !st->secret_arn.empty() ||
        st->db_user_given) {
      return Validation("SessionId cannot be specified together with ClusterIdentifier, WorkgroupName, Database, "
                        "SecretArn or DbUser: the session already has its connection.");
    }
    st->uses_kept_session = true;
  }
  // AWS requires Database (and a cluster or workgroup); Sluice has one warehouse, and the
  // seed's Step Functions task passes only Sql, so a missing Database means the default.
  if (st->database.empty()) st->database = options_.default_database;
  if (st->user.empty()) st->user = options_.default_user;
  for (auto& s : sqls) {
    Statement::Sub sub;
    sub.sql = std::move(s);
    st->subs.push_back(std::move(sub));
  }

  std::lock_guard lock(mu_);
  if (!st->client_token.empty()) {
    auto t = client_tokens_.find(st->client_token);
    if (t != client_tokens_.end()) {
      auto existing = statements_.find(t->second);
      if (existing != statements_.end()) st = existing->second;  // idempotent retry
    }
  }
  if (st->id.empty()) {
    if (st->uses_kept_session) {
      auto it = sessions_.find(st->session_id);
      if (it == sessions_.end() || (!it->second->busy && it->second->expires < absl::Now())) {
        return Validation(StrCat("Session ", st->session_id, " is not available: it does not exist or has expired."));
      }
      if (it->second->busy) {
        return Validation(StrCat("Session ", st->session_id, " is busy running another statement."));
      }
      it->second->busy = true;
      st->database = it->second->database;
      st->user = it->second->user;
    } else if (st->keep_alive > 0) {
      if (sessions_.size() >= options_.max_sessions) {
        return JsonReply::Error(400, "ActiveSessionsExceededException",
                                StrCat("Active sessions exceeded the limit of ", options_.max_sessions, "."));
      }
      st->session_id = NewUuid();
    }
    if (active_ >= options_.max_active) {
      if (st->uses_kept_session) sessions_[st->session_id]->busy = false;
      return JsonReply::Error(400, "ActiveStatementsExceededException",
                              StrCat("Active statements exceeded the allowed quota (", options_.max_active, ")."));
    }
    st->id = NewUuid();
    st->created = st->updated = absl::Now();
    for (auto& sub : st->subs) sub.updated = st->created;
    st->pid = 1073741824 + static_cast<int64_t>(statements_.size() % 100000);
    statements_[st->id] = st;
    order_.push_back(st);
    if (!st->client_token.empty()) client_tokens_[st->client_token] = st->id;
    ++active_;
    queue_.push_back(st);
    cv_.notify_one();
    Evict();
  }
  JsonReply reply;
  reply.body = {{"Id", st->id}, {"CreatedAt", EpochSeconds(st->created)}, {"Database", st->database}};
  if (st->db_user_given) reply.body["DbUser"] = st->user;
  if (!st->cluster.empty()) reply.body["ClusterIdentifier"] = st->cluster;
  if (!st->workgroup.empty()) reply.body["WorkgroupName"] = st->workgroup;
  if (!st->secret_arn.empty()) reply.body["SecretArn"] = st->secret_arn;
  if (!st->session_id.empty()) reply.body["SessionId"] = st->session_id;
  reply.body["DbGroups"] = Json::array();
  return reply;
}

namespace {

// "id" or "id:n" -> (id, n) with n = 0 when no suffix.
std::pair<std::string, int> SplitStatementId(const std::string& id) {
  size_t colon = id.find(':');
  if (colon == std::string::npos) return {id, 0};
  int n = 0;
  if (!ParseNumber(std::string_view(id).substr(colon + 1), &n)) n = -1;
  return {id.substr(0, colon), n};
}

std::optional<JsonReply> CheckId(const Json& in) {
  if (!in.contains("Id") || in["Id"].is_null()) return NotNull("id");
  if (!in["Id"].is_string()) return Validation("Invalid type for parameter Id, expected a string.");
  std::string id = in["Id"].get<std::string>();
  if (!std::regex_match(id, UuidPattern())) {
    return Validation(StrCat("1 validation error detected: Value '", id,
                             "' at 'id' failed to satisfy constraint: Member must satisfy regular expression pattern: "
                             "[a-z0-9]{8}(-[a-z0-9]{4}){3}-[a-z0-9]{12}(:\\d{0,2})?"));
  }
  return std::nullopt;
}

}  // namespace

JsonReply RedshiftDataService::DescribeStatement(const Json& in) {
  if (auto e = CheckId(in)) return *e;
  auto [id, part] = SplitStatementId(in["Id"].get<std::string>());
  std::lock_guard lock(mu_);
  auto it = statements_.find(id);
  if (it == statements_.end()) return NotFound("Query does not exist.");
  const Statement& st = *it->second;
  if (part < 0 || part > static_cast<int>(st.subs.size())) return NotFound("Query does not exist.");
  auto sub_json = [&](const Statement::Sub& sub, size_t n) {
    Json j = {{"Id", StrCat(st.id, ":", n + 1)},
              {"Status", sub.status},
              {"CreatedAt", EpochSeconds(st.created)},
              {"UpdatedAt", EpochSeconds(sub.updated)},
              {"Duration", sub.duration_ns},
              {"QueryString", sub.sql},
              {"HasResultSet", sub.has_result_set},
              {"ResultRows", sub.result_rows},
              {"ResultSize", sub.result_size},
              {"RedshiftQueryId", sub.query_id}};
    if (!sub.error.empty()) j["Error"] = sub.error;
    return j;
  };
  Json out = {{"Id", st.id},
              {"Status", st.status},
              {"CreatedAt", EpochSeconds(st.created)},
              {"UpdatedAt", EpochSeconds(st.updated)},
              {"Duration", st.duration_ns},
              {"Database", st.database},
              {"DbUser", st.user},
              {"RedshiftPid", st.pid},
              {"ResultFormat", st.result_format}};
  if (!st.cluster.empty()) out["ClusterIdentifier"] = st.cluster;
  if (!st.workgroup.empty()) out["WorkgroupName"] = st.workgroup;
  if (!st.secret_arn.empty()) out["SecretArn"] = st.secret_arn;
  if (!st.session_id.empty()) out["SessionId"] = st.session_id;
  if (!st.parameters.is_null()) out["QueryParameters"] = st.parameters;
  if (part > 0) {
    // A sub-statement of a batch: its own figures under the batch's connection details.
    Json sub = sub_json(st.subs[part - 1], part - 1);
    for (auto& [k, v] : sub.items()) out[k] = v;
    return JsonReply{out, std::nullopt};
  }
  if (!st.error.empty()) out["Error"] = st.error;
  if (st.batch) {
    Json subs = Json::array();
    int64_t rows = -1, size = -1;
    bool has = false;
    for (size_t i = 0; i < st.subs.size(); ++i) {
      subs.push_back(sub_json(st.subs[i], i));
      if (st.subs[i].result_rows >= 0) rows = std::max<int64_t>(rows, 0) + st.subs[i].result_rows;
      if (st.subs[i].result_size >= 0) size = std::max<int64_t>(size, 0) + st.subs[i].result_size;
      has = has || st.subs[i].has_result_set;
    }
    std::vector<std::string> texts;
    for (const auto& sub : st.subs) texts.push_back(sub.sql);
    out["QueryString"] = Join(texts, "; ");
    out["SubStatements"] = std::move(subs);
    out["HasResultSet"] = has;
    out["ResultRows"] = rows;
    out["ResultSize"] = size;
    out["RedshiftQueryId"] = 0;
  } else {
    const auto& sub = st.subs[0];
    out["QueryString"] = sub.sql;
    out["HasResultSet"] = sub.has_result_set;
    out["ResultRows"] = sub.result_rows;
    out["ResultSize"] = sub.result_size;
    out["RedshiftQueryId"] = sub.query_id;
  }
  return JsonReply{out, std::nullopt};
}

JsonReply RedshiftDataService::GetStatementResult(const Json& in, bool csv) {
  if (auto e = CheckId(in)) return *e;
  if (auto e = CheckString(in, "NextToken", 0, 1 << 20)) return *e;
  auto [id, part] = SplitStatementId(in["Id"].get<std::string>());
  size_t offset = 0;
  if (std::string token = JsonString(in, "NextToken"); !token.empty()) {
    auto o = ParsePageToken(token);
    if (!o) return Validation("The NextToken is not valid.");
    offset = *o;
  }
  std::shared_ptr<const WarehouseResult> result;
  {
    std::lock_guard lock(mu_);
    auto it = statements_.find(id);
    if (it == statements_.end()) return NotFound("Query does not exist.");
    const Statement& st = *it->second;
    if (part < 0 || part > static_cast<int>(st.subs.size()) || (!st.batch && part > 1)) {
      return NotFound("Query does not exist.");
    }
    if (st.batch && part == 0) {
      return NotFound("Query does not have result. Please check query status with DescribeStatement. For a batch, "
                      "name the SQL statement with a suffix (<Id>:<n>).");
    }
    const auto& sub = st.subs[part == 0 ? 0 : part - 1];
    if (sub.status != "FINISHED" || st.status != "FINISHED" || !sub.has_result_set) {
      return NotFound("Query does not have result. Please check query status with DescribeStatement.");
    }
    if (!sub.result) return NotFound("Query result has expired. Please run the query again.");
    if (csv != (st.result_format == "CSV")) {
      return Validation(csv ? "The statement's ResultFormat is JSON: use GetStatementResult."
                            : "The statement's ResultFormat is CSV: use GetStatementResultV2.");
    }
    result = sub.result;
  }
  const WarehouseResult& r = *result;
  if (offset > r.rows.size()) return Validation("The NextToken is not valid.");
  Json meta = Json::array();
  for (size_t c = 0; c < r.columns.size(); ++c) {
    meta.push_back(redshift::RedshiftColumnMetadata(r.columns[c], c < r.types.size() ? r.types[c] : "VARCHAR"));
  }
  size_t end = offset, bytes = 0;
  Json out = {{"ColumnMetadata", std::move(meta)}, {"TotalNumRows", r.rows.size()}};
  if (csv) {
    std::string text;
    if (offset == 0) {
      std::vector<std::string> header;
      for (const auto& c : r.columns) header.push_back(CsvField(c));
      StrAppend(&text, Join(header, ","), "\n");
    }
    while (end < r.rows.size() && end - offset < options_.page_rows && bytes < options_.page_bytes) {
      const auto& row = r.rows[end++];
      for (size_t c = 0; c < row.size(); ++c) {
        if (c) text.push_back(',');
        text += CsvField(row[c]);
        bytes += row[c] ? row[c]->size() + 1 : 1;
      }
      text.push_back('\n');
    }
    out["Records"] = Json::array({Json{{"CSVRecords", std::move(text)}}});
    out["ResultFormat"] = "CSV";
  } else {
    Json records = Json::array();
    while (end < r.rows.size() && end - offset < options_.page_rows && bytes < options_.page_bytes) {
      const auto& row = r.rows[end++];
      Json fields = Json::array();
      for (size_t c = 0; c < row.size(); ++c) {
        fields.push_back(redshift::RedshiftField(c < r.types.size() ? r.types[c] : "VARCHAR", row[c]));
        bytes += row[c] ? row[c]->size() + 16 : 16;
      }
      records.push_back(std::move(fields));
    }
    out["Records"] = std::move(records);
  }
  if (end < r.rows.size()) out["NextToken"] = PageToken(end);
  return JsonReply{out, std::nullopt};
}

JsonReply RedshiftDataService::ListStatements(const Json& in) {
  if (auto e = CheckConnection(in)) return *e;
  if (auto e = CheckString(in, "StatementName", 0, 2048)) return *e;
  if (WrongType(in, "MaxResults", Json::value_t::number_integer)) return Validation("Invalid type for parameter MaxResults, expected an integer.");
  int64_t max = in.value("MaxResults", 0);
  if (max < 0 || max > 100) {
    return Validation("1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must "
                      "have value less than or equal to 100");
  }
  if (max == 0) max = 100;
  std::string status = in.contains("Status") ? JsonString(in, "Status") : "ALL";
  static const std::vector<std::string> kStatuses = {"SUBMITTED", "PICKED", "STARTED", "FINISHED",
                                                     "ABORTED",   "FAILED", "ALL"};
  if (std::find(kStatuses.begin(), kStatuses.end(), status) == kStatuses.end()) {
    return Validation("1 validation error detected: Value at 'status' failed to satisfy constraint: Member must "
                      "satisfy enum value set: [SUBMITTED, PICKED, STARTED, FINISHED, ABORTED, FAILED, ALL]");
  }
  size_t offset = 0;
  if (std::string token = JsonString(in, "NextToken"); !token.empty()) {
    auto o = ParsePageToken(token);
    if (!o) return Validation("The NextToken is not valid.");
    offset = *o;
  }
  std::string name = JsonString(in, "StatementName"), database = JsonString(in, "Database"),
              cluster = JsonString(in, "ClusterIdentifier"), workgroup = JsonString(in, "WorkgroupName");
  std::lock_guard lock(mu_);
  Json list = Json::array();
  size_t matched = 0;
  bool more = false;
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {  // newest first
    const Statement& st = **it;
    if (status != "ALL" && st.status != status) continue;
    if (!name.empty() && !st.name.starts_with(name)) continue;
    if (!database.empty() && st.database != database) continue;
    if (!cluster.empty() && st.cluster != cluster) continue;
    if (!workgroup.empty() && st.workgroup != workgroup) continue;
    if (matched++ < offset) continue;
    if (list.size() >= static_cast<size_t>(max)) {
      more = true;
      break;
    }
    Json j = {{"Id", st.id},
              {"Status", st.status},
              {"CreatedAt", EpochSeconds(st.created)},
              {"UpdatedAt", EpochSeconds(st.updated)},
              {"IsBatchStatement", st.batch},
              {"ResultFormat", st.result_format}};
    if (!st.name.empty()) j["StatementName"] = st.name;
    if (!st.secret_arn.empty()) j["SecretArn"] = st.secret_arn;
    if (!st.session_id.empty()) j["SessionId"] = st.session_id;
    if (!st.parameters.is_null()) j["QueryParameters"] = st.parameters;
    if (st.batch) {
      Json texts = Json::array();
      for (const auto& sub : st.subs) texts.push_back(sub.sql);
      j["QueryStrings"] = std::move(texts);
    } else {
      j["QueryString"] = st.subs[0].sql;
    }
    list.push_back(std::move(j));
  }
  Json out = {{"Statements", std::move(list)}};
  if (more) out["NextToken"] = PageToken(offset + static_cast<size_t>(max));
  return JsonReply{out, std::nullopt};
}

JsonReply RedshiftDataService::CancelStatement(const Json& in) {
  if (auto e = CheckId(in)) return *e;
  JsonReply reply = CancelLocked(in);
  PublishPending();
  return reply;
}

JsonReply RedshiftDataService::CancelLocked(const Json& in) {
  auto [id, part] = SplitStatementId(in["Id"].get<std::string>());
  std::lock_guard lock(mu_);
  auto it = statements_.find(id);
  if (it == statements_.end() || part != 0) return NotFound("Query does not exist.");
  auto st = it->second;
  if (Terminal(st->status)) {
    return Validation(StrCat("Could not cancel a query that is already in ", st->status, " state."));
  }
  st->cancel = true;
  if (st->running) {
    st->running->Cancel();
  } else if (st->status == "SUBMITTED" || st->status == "PICKED") {
    // Not started yet: the worker skips it.
    st->status = "ABORTED";
    st->error = "Query cancelled on user's request.";
    absl::Time now = absl::Now();
    for (auto& sub : st->subs) sub.status = "ABORTED", sub.updated = now;
    if (st->status == "ABORTED" && std::find(queue_.begin(), queue_.end(), st) != queue_.end()) {
      queue_.erase(std::find(queue_.begin(), queue_.end(), st));
      Finish(st);
    }
  }
  return JsonReply{Json{{"Status", true}}, std::nullopt};
}

namespace {

std::optional<JsonReply> CheckMetadataRequest(const Json& in, int64_t max_results_limit, int64_t* max) {
  if (auto e = CheckConnection(in)) return e;
  if (!in.contains("Database") || in["Database"].is_null()) return NotNull("database");
  if (JsonString(in, "Database").empty()) return Validation("Database cannot be empty.");
  if (WrongType(in, "MaxResults", Json::value_t::number_integer)) return Validation("Invalid type for parameter MaxResults, expected an integer.");
  *max = in.value("MaxResults", 0);
  if (*max < 0 || *max > max_results_limit) {
    return Validation(StrCat("1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member "
                             "must have value less than or equal to ",
                             max_results_limit));
  }
  if (*max == 0) *max = max_results_limit;
  return std::nullopt;
}

// Pages `items` by NextToken/MaxResults into out[member].
JsonReply Paged(const Json& in, Json items, int64_t max, const char* member, Json out = Json::object()) {
  size_t offset = 0;
  if (std::string token = JsonString(in, "NextToken"); !token.empty()) {
    auto o = ParsePageToken(token);
    if (!o || *o > items.size()) return Validation("The NextToken is not valid.");
    offset = *o;
  }
  Json page = Json::array();
  size_t end = std::min(items.size(), offset + static_cast<size_t>(max));
  for (size_t i = offset; i < end; ++i) page.push_back(std::move(items[i]));
  out[member] = std::move(page);
  if (end < items.size()) out["NextToken"] = PageToken(end);
  return JsonReply{out, std::nullopt};
}

JsonReply MetadataError(const absl::Status& st) {
  std::string state = SqlStateOf(st);
  if (state == "3D000") return NotFound(ErrorText(st));
  if (state == "57014") return JsonReply::Error(400, "QueryTimeoutException", ErrorText(st));
  return JsonReply::Error(500, "DatabaseConnectionException", ErrorText(st));
}

// Schemas that are the engine's, not the warehouse's.
bool HiddenSchema(const std::string& schema) { return schema == "pg_internal" || schema == "main"; }

}  // namespace

absl::StatusOr<WarehouseResult> RedshiftDataService::Metadata(const Json& in, const std::string& sql,
                                                             const std::vector<std::optional<std::string>>& params) {
  std::string connected = JsonString(in, "ConnectedDatabase");
  std::string database = connected.empty() ? JsonString(in, "Database") : connected;
  std::string user = JsonString(in, "DbUser");
  ASSIGN_OR_RETURN(auto session, warehouse_.Connect(database, user.empty() ? options_.default_user : user));
  return session->ExecuteParams(sql, params);
}

JsonReply RedshiftDataService::ListDatabases(const Json& in) {
  int64_t max = 0;
  if (auto e = CheckMetadataRequest(in, 1000, &max)) return *e;
  Json names = Json::array();
  for (const auto& d : warehouse_.Databases()) names.push_back(d);
  return Paged(in, std::move(names), max, "Databases");
}

JsonReply RedshiftDataService::ListSchemas(const Json& in) {
  int64_t max = 0;
  if (auto e = CheckMetadataRequest(in, 1000, &max)) return *e;
  std::string pattern = in.contains("SchemaPattern") ? JsonString(in, "SchemaPattern") : "%";
  auto r = Metadata(in,
                    "SELECT DISTINCT schema_name FROM information_schema.schemata WHERE catalog_name = $1 "
                    "ORDER BY schema_name",
                    {JsonString(in, "Database")});
  if (!r.ok()) return MetadataError(r.status());
  // The system schemas every Redshift database shows, then the database's own.
  std::set<std::string> all = {"information_schema", "pg_catalog"};
  for (const auto& row : r->rows) {
    if (!row.empty() && row[0] && !HiddenSchema(*row[0])) all.insert(*row[0]);
  }
  Json names = Json::array();
  for (const auto& name : all) {
    if (redshift::LikeMatch(pattern, name)) names.push_back(name);
  }
  return Paged(in, std::move(names), max, "Schemas");
}

JsonReply RedshiftDataService::ListTables(const Json& in) {
  int64_t max = 0;
  if (auto e = CheckMetadataRequest(in, 1000, &max)) return *e;
  std::string schema_pattern = in.contains("SchemaPattern") ? JsonString(in, "SchemaPattern") : "%";
  std::string table_pattern = in.contains("TablePattern") ? JsonString(in, "TablePattern") : "%";
  auto r = Metadata(in,
                    "SELECT table_schema, table_name, table_type FROM information_schema.tables "
                    "WHERE table_catalog = $1 ORDER BY table_schema, table_name",
                    {JsonString(in, "Database")});
  if (!r.ok()) return MetadataError(r.status());
  Json tables = Json::array();
  for (const auto& row : r->rows) {
    if (row.size() < 3 || !row[0] || !row[1] || HiddenSchema(*row[0])) continue;
    if (!redshift::LikeMatch(schema_pattern, *row[0]) || !redshift::LikeMatch(table_pattern, *row[1])) continue;
    std::string type = row[2].value_or("TABLE");
    if (type == "BASE TABLE") type = "TABLE";
    tables.push_back(Json{{"schema", *row[0]}, {"name", *row[1]}, {"type", type}});
  }
  return Paged(in, std::move(tables), max, "Tables");
}

JsonReply RedshiftDataService::DescribeTable(const Json& in) {
  int64_t max = 0;
  if (auto e = CheckMetadataRequest(in, 1000, &max)) return *e;
  std::string schema = JsonString(in, "Schema"), table = JsonString(in, "Table");
  auto r = Metadata(in,
                    "SELECT table_schema, table_name, column_name, data_type, is_nullable, column_default, "
                    "character_maximum_length, numeric_precision, numeric_scale FROM information_schema.columns "
                    "WHERE table_catalog = $1 ORDER BY table_schema, table_name, ordinal_position",
                    {JsonString(in, "Database")});
  if (!r.ok()) return MetadataError(r.status());
  Json columns = Json::array();
  std::string table_name;
  for (const auto& row : r->rows) {
    if (row.size() < 9 || !row[0] || !row[1] || !row[2] || HiddenSchema(*row[0])) continue;
    if (!schema.empty() && *row[0] != schema) continue;
    if (!table.empty() && *row[1] != table) continue;
    if (schema.empty() && table.empty() && *row[0] != "public") continue;
    std::string type = row[3].value_or("VARCHAR");
    Json c = redshift::RedshiftColumnMetadata(*row[2], type);
    int64_t n = 0;
    if (row[6] && ParseNumber(*row[6], &n)) c["length"] = n, c["precision"] = n;
    if (row[7] && ParseNumber(*row[7], &n) && c["typeName"] == "numeric") c["precision"] = n;
    if (row[8] && ParseNumber(*row[8], &n) && c["typeName"] == "numeric") c["scale"] = n;
    c["nullable"] = row[4].value_or("YES") == "YES" ? 1 : 0;
    if (row[5]) c["columnDefault"] = *row[5];
    c["schemaName"] = *row[0];
    c["tableName"] = *row[1];
    table_name = *row[1];
    columns.push_back(std::move(c));
  }
  Json out = Json::object();
  if (!table.empty()) out["TableName"] = table;
  else if (!table_name.empty()) out["TableName"] = table_name;
  return Paged(in, std::move(columns), max, "ColumnList", std::move(out));
}

ServiceRoute MakeRedshiftDataService(RedshiftDataService& service) {
  JsonServiceSpec spec;
  spec.signing_name = "redshift-data";
  spec.target_prefix = "RedshiftData";
  spec.dispatch = [&service](const std::string& action, const Json& input, const HttpRequest&) {
    return service.Handle(action, input);
  };
  return MakeJsonService(std::move(spec));
}

}  // namespace sluice
