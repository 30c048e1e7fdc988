#include <random>

#include "athena/athena.h"
#include "io/checksum.h"
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

AthenaService::AthenaService(Catalog& catalog, ObjectStore& store, Database& db, std::string scratch_dir, int threads)
    : catalog_(catalog), store_(store), db_(db), engine_(catalog, store, db, std::move(scratch_dir)), thread_count_(threads) {}

AthenaService::~AthenaService() { Stop(); }

absl::Status AthenaService::Init() {
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
      done_cv_.notify_all();
      continue;
    }
    absl::Time started = absl::Now();
    auto out = engine_.Run(q->query, q->database, **con, q->parameters);
    absl::Time finished = absl::Now();
    std::lock_guard lock(mu_);
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
    } else {
      q->result = std::move(out->result);
      q->statement_type = out->statement_type;
      q->has_result_set = out->has_result_set;
      q->scanned = out->data_scanned_bytes;
      q->update_count = out->update_count;
      absl::Status written = WriteResults(*q);
      if (!written.ok()) {
        q->state = "FAILED";
        q->state_change_reason = StrCat("Unable to write results to ", q->output_location, ": ", written.message());
      } else {
        q->state = "SUCCEEDED";
      }
    }
    q->completed = absl::Now();
    q->total_ms = absl::ToInt64Milliseconds(q->completed - q->submitted);
    done_cv_.notify_all();
  }
}

absl::Status AthenaService::WriteResults(const QueryExecution& q) {
  if (q.output_location.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto where, athena::ParseS3Location(q.output_location));
  auto [bucket, prefix] = where;
  if (!prefix.empty() && prefix.back() != '/') prefix.push_back('/');
  std::string csv;
  if (q.has_result_set && !q.result.columns.empty()) {
    std::vector<std::string> header;
    for (const auto& c : q.result.columns) header.push_back(CsvField(c));
    csv = Join(header, ",") + "\n";
    for (const auto& row : q.result.rows) {
      std::vector<std::string> fields;
      for (const auto& v : row) fields.push_back(CsvField(v));
      csv += Join(fields, ",") + "\n";
    }
  }
  nlohmann::json meta = nlohmann::json::array();
  for (size_t i = 0; i < q.result.columns.size(); ++i) {
    meta.push_back({{"Name", q.result.columns[i]}, {"Type", athena::AthenaType(q.result.types[i])}});
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
  QueryExecution copy = *it->second;
  copy.result.rows.clear();
  copy.running = nullptr;
  return copy;
}

absl::StatusOr<std::pair<QueryResult, size_t>> AthenaService::Results(const std::string& id, size_t offset, size_t max,
                                                                      QueryExecution* info) {
  std::lock_guard lock(mu_);
  auto it = executions_.find(id);
  if (it == executions_.end()) return absl::NotFoundError(StrCat("QueryExecution ", id, " was not found"));
  const QueryExecution& q = *it->second;
  if (q.state != "SUCCEEDED") {
    return absl::FailedPreconditionError(StrCat("Query has not yet finished. Current state: ", q.state));
  }
  *info = q;
  info->result.rows.clear();
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
  std::lock_guard lock(mu_);
  auto it = executions_.find(id);
  if (it == executions_.end()) return absl::NotFoundError(StrCat("QueryExecution ", id, " was not found"));
  auto& q = *it->second;
  if (q.state == "QUEUED" || q.state == "RUNNING") {
    q.state = "CANCELLED";
    q.state_change_reason = "Query cancelled by user";
    if (q.running) q.running->Interrupt();
    q.completed = absl::Now();
    done_cv_.notify_all();
  }
  return absl::OkStatus();
}

std::optional<QueryExecution> AthenaService::Wait(const std::string& id, absl::Duration timeout) {
  std::unique_lock lock(mu_);
  auto it = executions_.find(id);
  if (it == executions_.end()) return std::nullopt;
  auto q = it->second;
  done_cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                    [&] { return q->state != "QUEUED" && q->state != "RUNNING"; });
  QueryExecution copy = *q;
  copy.running = nullptr;
  return copy;
}

}  // namespace sluice
