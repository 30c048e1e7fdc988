#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/status.h"

// SQLite (WAL) for the metadata stores: a connection, statements, a pool of read
// connections and a group-committing writer.
namespace sluice {

class SqliteStmt;

// One connection. Not thread-safe: use from one thread at a time.
class SqliteDb {
 public:
  // Opens (creating) `path` in WAL mode with synchronous=FULL.
  static absl::StatusOr<std::unique_ptr<SqliteDb>> Open(const std::string& path);
  ~SqliteDb();
  absl::Status Exec(const std::string& sql);
  // Prepared statements are cached per connection by SQL text.
  absl::StatusOr<SqliteStmt*> Prepare(const std::string& sql);
  sqlite3* raw() { return db_; }
  // Resets every cached statement, ending any read transaction a half-stepped one holds
  // (which would otherwise pin this connection to an old snapshot).
  void ResetAll();
  absl::Status Error(std::string_view what) const;

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::vector<std::pair<std::string, std::unique_ptr<SqliteStmt>>> cache_;
};

// A cached prepared statement. Binding a statement that was stepped resets it first, and a
// statement that ran to completion is reset, so a statement can be re-bound and re-run in a loop.
class SqliteStmt {
 public:
  explicit SqliteStmt(sqlite3_stmt* s) : s_(s) {}
  ~SqliteStmt() { sqlite3_finalize(s_); }
  SqliteStmt& Reset();
  SqliteStmt& Bind(int i, std::string_view v);
  SqliteStmt& Bind(int i, int64_t v);
  SqliteStmt& BindNull(int i);
  // True while rows come; false at the end. Errors as Status.
  absl::StatusOr<bool> Step();
  absl::Status Run();  // Step to completion, expecting no rows
  std::string Text(int col) const;
  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

 private:
  void ResetIfStepped();
  sqlite3_stmt* s_;
};

// Read connections for concurrent readers (WAL allows them alongside the writer).
class SqliteReaderPool {
 public:
  explicit SqliteReaderPool(std::string path) : path_(std::move(path)) {}
  // Runs `fn` with a connection of the pool.
  absl::Status With(const std::function<absl::Status(SqliteDb&)>& fn);

 private:
  std::string path_;
  std::mutex mu_;
  std::vector<std::unique_ptr<SqliteDb>> free_;
};

// Serializes writes through one connection and commits them in groups: callers block in
// Write() until the transaction holding their change is durable. Each change runs inside
// its own savepoint, so a change that fails is rolled back alone. A failed COMMIT puts the
// writer in a sticky failed state (every later write fails) rather than pretending.
class SqliteGroupWriter {
 public:
  using Change = std::function<absl::Status(SqliteDb&)>;
  static absl::StatusOr<std::unique_ptr<SqliteGroupWriter>> Open(const std::string& path);
  ~SqliteGroupWriter();
  // `sync_dir`, when given, names a folder on the file system that is synced (syncfs, once
  // per group) before the transaction commits: callers that wrote and renamed a file there
  // without fsyncing it get its data and its rename made durable with the row.
  absl::Status Write(Change change, std::string sync_dir = "");

 private:
  struct Item {
    Change change;
    std::string sync_dir;
    std::promise<absl::Status> done;
  };
  explicit SqliteGroupWriter(std::unique_ptr<SqliteDb> db);
  void Loop();

  std::unique_ptr<SqliteDb> db_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item*> queue_;
  bool stop_ = false;
  absl::Status failed_;
  std::thread thread_;
};

}  // namespace sluice
