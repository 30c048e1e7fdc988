#include <random>
#include <set>

#include "base/json.h"
#include "base/json.h"
#include "athena/athena.h"
#include "io/checksum.h"
#include "io/file.h"
#include "io/sqlite.h"
#include "sql/guard.h"

#include <unistd.h>
#include <algorithm>
#include "base/strings.h"
#include "nlohmann/json.hpp"

namespace sluice {
namespace {

std::string NewExecutionId() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  uint64_t a = rng(), b = rng();
  char buf[40];
  snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
           static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
           static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)), static_cast<unsigned long long>(b & 0xffffffffffffull));
  return buf;
}

std::string CsvField(const std::optional<std::string>& v) {
  if (!v) return "";
  std::string out = "\"";
  for (char c : *v) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace

AthenaService::AthenaService(Catalog& catalog, ObjectStore& store, Database& db, std::string state_dir, int threads)
    : catalog_(catalog), store_(store), db_(db), state_dir_(state_dir), engine_(catalog, store, db, state_dir + "/tmp"),
      thread_count_(threads) {}

AthenaService::~AthenaService() { Stop(); }

namespace {

nlohmann::json ToJson(const QueryExecution& q) {
  return {{"id", q.id}, {"query", q.query}, {"database", q.database}, {"workgroup", q.workgroup},
          {"output", q.output_location}, {"parameters", q.parameters}, {"state", q.state},
          {"reason", q.state_change_reason}, {"category", q.error_category}, {"type", q.error_type},
          {"statement_type", q.statement_type}, {"submitted", absl::ToUnixMicros(q.submitted)},
          {"completed", absl::ToUnixMicros(q.completed)}, {"engine_ms", q.engine_ms}, {"total_ms", q.total_ms},
          {"queue_ms", q.queue_ms}, {"scanned", q.scanned}, {"has_result_set", q.has_result_set},
          {"update_count", q.update_count}};
}

QueryExecution FromJson(const nlohmann::json& j) {
  QueryExecution q;
  q.id = j.value("id", "");
  q.query = j.value("query", "");
  q.database = j.value("database", "");
  q.workgroup = j.value("workgroup", "primary");
  q.output_location = j.value("output", "");
  q.parameters = j.value("parameters", std::vector<std::string>{});
  q.state = j.value("state", "FAILED");
  q.state_change_reason = j.value("reason", "");
  q.error_category = j.value("category", "");
  q.error_type = j.value("type", "");
  q.statement_type = j.value("statement_type", "DML");
  q.submitted = absl::FromUnixMicros(j.value("submitted", int64_t{0}));
  q.completed = absl::FromUnixMicros(j.value("completed", int64_t{0}));
  q.engine_ms = j.value("engine_ms", int64_t{0});
  q.total_ms = j.value("total_ms", int64_t{0});
  q.queue_ms = j.value("queue_ms", int64_t{0});
  q.scanned = j.value("scanned", uint64_t{0});
  q.has_result_set = j.value("has_result_set", true);
  q.update_count = j.value("update_count", int64_t{0});
  return q;
}

// Parses the result CSV this service writes: every value quoted, NULL as an empty field.
std::vector<std::vector<std::optional<std::string>>> ParseResultCsv(const std::string& csv) {
  std::vector<std::vector<std::optional<std::string>>> rows;
  std::vector<std::optional<std::string>> row;
  size_t i = 0;
  while (i < csv.size()) {
    std::optional<std::string> field;
    if (csv[i] == '"') {
      std::string v;
      ++i;
      while (i < csv.size()) {
        if (csv[i] == '"') {
          if (i + 1 < csv.size() && csv[i + 1] == '"') {
            v.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        v.push_back(csv[i++]);
      }
      field = std::move(v);
    }
    row.push_back(std::move(field));
    if (i < csv.size() && csv[i] == ',') {
      ++i;
    } else {
      if (i < csv.size() && csv[i] == '\n') ++i;
      rows.push_back(std::move(row));
      row.clear();
    }
  }
  return rows;
}

}  // namespace

absl::Status AthenaService::Persist(const QueryExecution& q) {
  if (!history_) return absl::OkStatus();
  std::string id = q.id, doc = ToJson(q).dump();
  return history_->Write([id, doc](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("INSERT OR REPLACE INTO executions(id, doc) VALUES(?, ?)"));
    return s->Bind(1, id).Bind(2, doc).Run();
  });
}

absl::Status AthenaService::LoadRows(QueryExecution& q) {
  if (q.rows_loaded) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto where, athena::ParseS3Location(q.output_location));
  auto [bucket, prefix] = where;
  if (!prefix.empty() && prefix.back() != '/') prefix.push_back('/');
  auto read = [&](const std::string& key) -> absl::StatusOr<std::string> {
    ASSIGN_OR_RETURN(auto opened, store_.OpenObject(bucket, prefix + key));
    std::string data(opened.first.size, '\0');
    size_t got = 0;
    while (got < data.size()) {
      ssize_t n = ::pread(opened.second.get(), data.data() + got, data.size() - got, static_cast<off_t>(got));
      if (n <= 0) return absl::DataLossError("the result file could not be read");
      got += static_cast<size_t>(n);
    }
    return data;
  };
  auto csv = read(q.id + ".csv");
  auto meta = read(q.id + ".csv.metadata");
  if (!csv.ok() || !meta.ok()) {
    return absl::NotFoundError(StrCat("The results of query ", q.id, " are no longer in ", q.output_location));
  }
  auto columns = ParseJson(*meta);
  auto rows = ParseResultCsv(*csv);
  q.result = QueryResult{};
  if (columns.is_array()) {
    for (const auto& c : columns) {
      q.result.columns.push_back(c.value("Name", ""));
      q.result.types.push_back(c.value("DuckType", "VARCHAR"));
    }
  }
  if (!rows.empty() && !q.result.columns.empty()) rows.erase(rows.begin());  // header
  q.result.rows = std::move(rows);
  q.rows_loaded = true;
  return absl::OkStatus();
}

absl::Status AthenaService::Init() {
  RETURN_IF_ERROR(MakeDirs(state_dir_));
  ASSIGN_OR_RETURN(history_, SqliteGroupWriter::Open(state_dir_ + "/executions.db"));
  RETURN_IF_ERROR(history_->Write([](SqliteDb& db) {
    return db.Exec("CREATE TABLE IF NOT EXISTS executions(id TEXT PRIMARY KEY, doc TEXT NOT NULL)");
  }));
  {
    SqliteReaderPool readers(state_dir_ + "/executions.db");
    std::vector<QueryExecution> loaded;
    RETURN_IF_ERROR(readers.With([&](SqliteDb& db) -> absl::Status {
      ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT doc FROM executions"));
      for (;;) {
        ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        loaded.push_back(FromJson(ParseJson(s->Text(0), kMaxStoredJsonDepth)));
      }
      return absl::OkStatus();
    }));
    std::sort(loaded.begin(), loaded.end(), [](const auto& a, const auto& b) { return a.submitted < b.submitted; });
    for (auto& q : loaded) {
      if (q.state == "QUEUED" || q.state == "RUNNING") {
        q.state = "FAILED";
        q.state_change_reason = "Sluice stopped while the query ran; run it again";
        q.completed = absl::Now();
        RETURN_IF_ERROR(Persist(q));
      }
      q.rows_loaded = q.state != "SUCCEEDED";
      auto p = std::make_shared<QueryExecution>(std::move(q));
      order_.push_back(p->id);
      executions_[p->id] = std::move(p);
    }
  }
  RETURN_IF_ERROR(engine_.Init());
  // Athena's default database.
  absl::Status st = catalog_.CreateDatabase({{"Name", "default"}, {"Description", "Default Hive database"}});
  if (!st.ok() && !absl::IsAlreadyExists(st)) return st;
  for (int i = 0; i < thread_count_; ++i) threads_.emplace_back([this] { Loop(); });
  return absl::OkStatus();
}

void AthenaService::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    for (auto& [id, q] : executions_) {
      if (q->running) q->running->Interrupt();
    }
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

absl::StatusOr<std::string> AthenaService::Start(const std::string& query, const std::string& database,
                                                 const std::string& output_location, const std::string& workgroup,
                                                 std::vector<std::string> parameters) {
  if (query.empty() || query.size() > 262144) {
    return absl::InvalidArgumentError("QueryString must be between 1 and 262144 characters long");
  }
  {
    // As Athena: a statement that does not parse as one Athena statement (engine commands
    // such as ATTACH, SET, PRAGMA; several statements) is refused here, not run.
    SqlPolicy policy = AthenaPolicy();
    policy.allow_front_end_ddl = true;
    absl::Status st = CheckSqlText(query, policy, {});
    // (A misspelt statement runs and fails with its syntax error, as the tests of typos expect.)
    static const std::set<std::string> kEngineCommands = {
        "ATTACH", "DETACH", "USE", "SET", "RESET", "PRAGMA", "INSTALL", "LOAD", "FORCE", "CHECKPOINT", "VACUUM",
        "EXPORT", "IMPORT", "COPY", "CALL", "UPDATE", "DELETE", "BEGIN", "COMMIT", "ROLLBACK", "SUMMARIZE", "FROM"};
    std::string_view rest = StripWhitespace(query);
    std::string first = AsciiUpper(rest.substr(0, rest.find_first_of(" \t\r\n(;")));
    if (absl::IsInvalidArgument(st) || (absl::IsUnimplemented(st) && kEngineCommands.contains(first))) {
      return absl::InvalidArgumentError(st.message());
    }
  }
  auto q = std::make_shared<QueryExecution>();
  q->id = NewExecutionId();
  q->query = query;
  q->database = database.empty() ? "default" : database;
  q->workgroup = workgroup.empty() ? "primary" : workgroup;
  q->output_location = output_location;
  q->parameters = std::move(parameters);
  q->submitted = absl::Now();
  {
    std::lock_guard lock(mu_);
    if (stopping_) return absl::UnavailableError("Athena is shutting down");
    executions_[q->id] = q;
    order_.push_back(q->id);
  }
  RETURN_IF_ERROR(Persist(*q));
  {
    std::lock_guard lock(mu_);
    queue_.push_back(q);
  }
  cv_.notify_one();
  return q->id;
}

void AthenaService::Loop() {
  auto con = db_.Connect();
  for (;;) {
    std::shared_ptr<QueryExecution> q;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      q = queue_.front();
      queue_.pop_front();
      if (q->state != "QUEUED") continue;  // cancelled while queued
      q->state = "RUNNING";
      q->queue_ms = absl::ToInt64Milliseconds(absl::Now() - q->submitted);
      if (con.ok()) q->running = con->get();
    }
    if (!con.ok()) {
      std::lock_guard lock(mu_);
      q->state = "FAILED";
      q->state_change_reason = StrCat("The query engine is unavailable: ", con.status().message());
      continue;
    }
    absl::Time started = absl::Now();
    // Last resort: an exception from the engine fails this query, never the process.
    absl::StatusOr<athena::StatementOutput> out = absl::InternalError("not run");
    try {
      out = engine_.Run(q->query, q->database, **con, q->parameters);
    } catch (const std::exception& e) {
      out = absl::InternalError(StrCat("Internal error while running the query: ", e.what()));
    } catch (...) {
      out = absl::InternalError("Internal error while running the query");
    }
    absl::Time finished = absl::Now();
    // Results go to S3 before the state says SUCCEEDED (as Athena does), but without the
    // service lock, so GetQueryExecution polls don't wait behind the write.
    absl::Status written = out.ok() ? WriteResults(*q, out->result) : absl::OkStatus();
    std::unique_lock lock(mu_);
    q->running = nullptr;
    q->engine_ms = absl::ToInt64Milliseconds(finished - started);
    if (q->state == "CANCELLED") {
      // StopQueryExecution arrived while running: keep CANCELLED.
    } else if (!out.ok()) {
      q->state = "FAILED";
      std::string msg(out.status().message());
      if (msg.find("INTERRUPT") != std::string::npos) msg = "Query cancelled";
      q->state_change_reason = msg;
      q->error_category = "2";  // USER
      q->error_type = absl::IsInvalidArgument(out.status()) ? "1006" : "1000";
    } else if (!written.ok()) {
      q->state = "FAILED";
      q->state_change_reason = StrCat("Unable to write results to ", q->output_location, ": ", written.message());
    } else {
      q->result = std::move(out->result);
      q->statement_type = out->statement_type;
      q->has_result_set = out->has_result_set;
      q->scanned = out->data_scanned_bytes;
      q->update_count = out->update_count;
      q->state = "SUCCEEDED";
    }
    q->completed = absl::Now();
    q->total_ms = absl::ToInt64Milliseconds(q->completed - q->submitted);
    q->rows_loaded = true;
    QueryExecution snapshot = *q;
    snapshot.result = QueryResult{};
    lock.unlock();
    (void)Persist(snapshot);
  }
}

absl::Status AthenaService::WriteResults(const QueryExecution& q, const QueryResult& result) {
  if (q.output_location.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto where, athena::ParseS3Location(q.output_location));
  auto [bucket, prefix] = where;
  if (!prefix.empty() && prefix.back() != '/') prefix.push_back('/');
  std::string csv;
  if (!result.columns.empty()) {
    std::vector<std::string> header;
    for (const auto& c : result.columns) header.push_back(CsvField(c));
    csv = Join(header, ",") + "\n";
    for (const auto& row : result.rows) {
      std::vector<std::string> fields;
      for (const auto& v : row) fields.push_back(CsvField(v));
      csv += Join(fields, ",") + "\n";
    }
  }
  nlohmann::json meta = nlohmann::json::array();
  for (size_t i = 0; i < result.columns.size(); ++i) {
    meta.push_back({{"Name", result.columns[i]}, {"Type", athena::AthenaType(result.types[i])},
                    {"DuckType", result.types[i]}});
  }
  auto put = [&](const std::string& key, const std::string& data, const std::string& type) -> absl::Status {
    ASSIGN_OR_RETURN(auto file, store_.NewObjectFile());
    RETURN_IF_ERROR(file->Append(data));
    ObjectMeta m;
    m.key = key;
    m.content_type = type;
    auto md5 = NewHasher(ChecksumAlgorithm::kMd5);
    md5->Update(data);
    m.etag = HexEncode(md5->Finish());
    return store_.PutObject(bucket, m, std::move(file)).status();
  };
  RETURN_IF_ERROR(put(prefix + q.id + ".csv", csv, "text/csv"));
  return put(prefix + q.id + ".csv.metadata", meta.dump(), "application/json");
}

std::optional<QueryExecution> AthenaService::Get(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = executions_.find(id);
  if (it == executions_.end()) return std::nullopt;
  QueryExecution& q = *it->second;
  QueryResult rows = std::move(q.result);
  QueryExecution copy = q;
  q.result = std::move(rows);
  copy.running = nullptr;
  return copy;
}

absl::StatusOr<std::pair<QueryResult, size_t>> AthenaService::Results(const std::string& id, size_t offset, size_t max,
                                                                      QueryExecution* info) {
  std::lock_guard lock(mu_);
  auto it = executions_.find(id);
  if (it == executions_.end()) return absl::NotFoundError(StrCat("QueryExecution ", id, " was not found"));
  QueryExecution& q = *it->second;
  if (q.state == "SUCCEEDED") RETURN_IF_ERROR(LoadRows(q));
  if (q.state != "SUCCEEDED") {
    return absl::FailedPreconditionError(StrCat("Query has not yet finished. Current state: ", q.state));
  }
  // Copy the execution but not its rows (moved aside and back: no copy of the results).
  QueryResult rows = std::move(q.result);
  *info = q;
  q.result = std::move(rows);
  info->running = nullptr;
  QueryResult page;
  page.columns = q.result.columns;
  page.types = q.result.types;
  for (size_t i = offset; i < q.result.rows.size() && i < offset + max; ++i) page.rows.push_back(q.result.rows[i]);
  return std::make_pair(std::move(page), q.result.rows.size());
}

std::vector<std::string> AthenaService::List(const std::string& workgroup) {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    if (executions_[*it]->workgroup == workgroup) out.push_back(*it);
  }
  return out;
}

absl::Status AthenaService::Cancel(const std::string& id) {
  std::unique_lock lock(mu_);
  auto it = executions_.find(id);
  if (it == executions_.end()) return absl::NotFoundError(StrCat("QueryExecution ", id, " was not found"));
  auto& q = *it->second;
  if (q.state == "QUEUED" || q.state == "RUNNING") {
    q.state = "CANCELLED";
    q.state_change_reason = "Query cancelled by user";
    if (q.running) q.running->Interrupt();
    q.completed = absl::Now();
    QueryExecution snapshot = q;
    snapshot.result = QueryResult{};
    lock.unlock();
    return Persist(snapshot);
  }
  return absl::OkStatus();
}


}  // namespace sluice
