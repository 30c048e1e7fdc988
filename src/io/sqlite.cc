#include "io/sqlite.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/strings.h"
#include "io/file.h"

namespace sluice {

absl::StatusOr<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::InternalError(StrCat("open ", path, ": ", msg));
  }
  std::unique_ptr<SqliteDb> out(new SqliteDb(db));
  sqlite3_busy_timeout(db, 10000);
  RETURN_IF_ERROR(out->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  return out;
}

SqliteDb::~SqliteDb() {
  cache_.clear();
  sqlite3_close(db_);
}

absl::Status SqliteDb::Error(std::string_view what) const {
  return absl::InternalError(StrCat("sqlite ", what, ": ", sqlite3_errmsg(db_)));
}

absl::Status SqliteDb::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return absl::InternalError(StrCat("sqlite: ", msg, " in: ", sql.substr(0, 120)));
  }
  return absl::OkStatus();
}

absl::StatusOr<SqliteStmt*> SqliteDb::Prepare(const std::string& sql) {
  for (auto& [text, stmt] : cache_) {
    if (text == sql) return &stmt->Reset();
  }
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &s, nullptr) != SQLITE_OK) {
    return Error(StrCat("prepare '", sql.substr(0, 80), "'"));
  }
  cache_.emplace_back(sql, std::make_unique<SqliteStmt>(s));
  return cache_.back().second.get();
}

void SqliteDb::ResetAll() {
  for (auto& [text, stmt] : cache_) stmt->Reset();
}

SqliteStmt& SqliteStmt::Reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
  return *this;
}

// sqlite3_bind_* on a statement that was stepped and not reset fails with SQLITE_MISUSE and
// keeps the old bindings: a statement reused in a loop would silently run with stale values.
void SqliteStmt::ResetIfStepped() {
  if (sqlite3_stmt_busy(s_)) sqlite3_reset(s_);
}

SqliteStmt& SqliteStmt::Bind(int i, std::string_view v) {
  ResetIfStepped();
  sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

SqliteStmt& SqliteStmt::Bind(int i, int64_t v) {
  ResetIfStepped();
  sqlite3_bind_int64(s_, i, v);
  return *this;
}

SqliteStmt& SqliteStmt::BindNull(int i) {
  ResetIfStepped();
  sqlite3_bind_null(s_, i);
  return *this;
}

absl::StatusOr<bool> SqliteStmt::Step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) {
    sqlite3_reset(s_);  // ready for new bindings; the bindings themselves are kept
    return false;
  }
  std::string msg = sqlite3_errmsg(sqlite3_db_handle(s_));
  sqlite3_reset(s_);
  if (rc == SQLITE_CONSTRAINT) return absl::AlreadyExistsError(StrCat("sqlite: ", msg));
  return absl::InternalError(StrCat("sqlite step: ", msg));
}

absl::Status SqliteStmt::Run() {
  for (;;) {
    ASSIGN_OR_RETURN(bool row, Step());
    if (!row) return absl::OkStatus();
  }
}

std::string SqliteStmt::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(s_, col);
  int n = sqlite3_column_bytes(s_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

absl::Status SqliteReaderPool::With(const std::function<absl::Status(SqliteDb&)>& fn) {
  std::unique_ptr<SqliteDb> db;
  {
    std::lock_guard lock(mu_);
    if (!free_.empty()) {
      db = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (!db) {
    ASSIGN_OR_RETURN(db, SqliteDb::Open(path_));
  }
  absl::Status st = fn(*db);
  db->ResetAll();
  std::lock_guard lock(mu_);
  free_.push_back(std::move(db));
  return st;
}

absl::StatusOr<std::unique_ptr<SqliteGroupWriter>> SqliteGroupWriter::Open(const std::string& path) {
  ASSIGN_OR_RETURN(auto db, SqliteDb::Open(path));
  return std::unique_ptr<SqliteGroupWriter>(new SqliteGroupWriter(std::move(db)));
}

SqliteGroupWriter::SqliteGroupWriter(std::unique_ptr<SqliteDb> db)
    : db_(std::move(db)), thread_([this] { Loop(); }) {}

SqliteGroupWriter::~SqliteGroupWriter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

absl::Status SqliteGroupWriter::Write(Change change, std::string sync_dir) {
  Item item{std::move(change), std::move(sync_dir), {}};
  auto done = item.done.get_future();
  {
    std::lock_guard lock(mu_);
    if (!failed_.ok()) return failed_;
    if (stop_) return absl::UnavailableError("the store is closing");
    queue_.push_back(&item);
  }
  cv_.notify_one();
  return done.get();
}

void SqliteGroupWriter::Loop() {
  for (;;) {
    std::deque<Item*> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      batch.swap(queue_);
    }
    std::vector<absl::Status> results;
    absl::Status txn = db_->Exec("BEGIN IMMEDIATE");
    for (Item* item : batch) {
      if (!txn.ok()) {
        results.push_back(txn);
        continue;
      }
      absl::Status st = db_->Exec("SAVEPOINT change");
      if (st.ok()) st = item->change(*db_);
      db_->ResetAll();
      if (st.ok()) {
        st = db_->Exec("RELEASE change");
      } else {
        (void)db_->Exec("ROLLBACK TO change");
        (void)db_->Exec("RELEASE change");
      }
      results.push_back(st);
    }
    if (txn.ok()) {
      // One syncfs for the whole group makes every renamed file's data and folder entry
      // durable before the rows that point at them commit (group commit of the data too).
      for (Item* item : batch) {
        if (item->sync_dir.empty()) continue;
        UniqueFd fd(::open(item->sync_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd.valid() || ::syncfs(fd.get()) != 0) txn = ErrnoStatus("syncfs", item->sync_dir, errno);
        break;
      }
    }
    if (!txn.ok()) {
      (void)db_->Exec("ROLLBACK");
    } else {
      txn = db_->Exec("COMMIT");
      if (!txn.ok()) {
        (void)db_->Exec("ROLLBACK");
        std::lock_guard lock(mu_);
        failed_ = absl::InternalError(StrCat("the index could not commit and is now read-only: ", txn.message()));
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i]->done.set_value(txn.ok() ? results[i] : txn);
    }
  }
}

}  // namespace sluice
