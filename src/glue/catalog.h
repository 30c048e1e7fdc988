#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/sqlite.h"
#include "nlohmann/json.hpp"

// The Glue Data Catalog: databases, tables and partitions, persisted in SQLite
// (<data-dir>/glue/catalog.db). Entries are kept as Glue's own JSON shapes (Database,
// Table, Partition as GetDatabase/GetTable/GetPartition return them), so the API layer
// and Athena read the same documents. Database and table names are lower-cased, as Glue
// does. Thread-safe. Errors: NotFound (EntityNotFoundException), AlreadyExists,
// InvalidArgument (InvalidInputException), FailedPrecondition.
namespace sluice {

using Json = nlohmann::json;

class Catalog {
 public:
  static absl::StatusOr<std::unique_ptr<Catalog>> Open(const std::string& path);

  absl::Status CreateDatabase(const Json& database_input);
  absl::StatusOr<Json> GetDatabase(const std::string& name);
  absl::StatusOr<std::vector<Json>> GetDatabases();
  absl::Status UpdateDatabase(const std::string& name, const Json& database_input);
  // Deletes the database with its tables and partitions.
  absl::Status DeleteDatabase(const std::string& name);

  absl::Status CreateTable(const std::string& db, const Json& table_input);
  absl::StatusOr<Json> GetTable(const std::string& db, const std::string& name);
  // `name_pattern`: Glue's Expression for GetTables, a regular expression on the name
  // ("" for all).
  absl::StatusOr<std::vector<Json>> GetTables(const std::string& db, const std::string& name_pattern = "");
  absl::Status UpdateTable(const std::string& db, const Json& table_input);
  absl::Status DeleteTable(const std::string& db, const std::string& name);

  absl::Status CreatePartition(const std::string& db, const std::string& table, const Json& partition_input,
                               bool if_not_exists = false);
  absl::StatusOr<Json> GetPartition(const std::string& db, const std::string& table, const Json& values);
  // `expression`: Glue's partition filter ("year = '2025' AND month > 7"); "" for all.
  absl::StatusOr<std::vector<Json>> GetPartitions(const std::string& db, const std::string& table,
                                                  const std::string& expression = "");
  absl::Status UpdatePartition(const std::string& db, const std::string& table, const Json& values,
                               const Json& partition_input);
  absl::Status DeletePartition(const std::string& db, const std::string& table, const Json& values);

  // Other Glue resources kept as JSON documents by kind and name (crawlers, ...).
  absl::Status PutDocument(const std::string& kind, const std::string& name, const Json& doc, bool create);
  absl::StatusOr<Json> GetDocument(const std::string& kind, const std::string& name);
  absl::StatusOr<std::vector<Json>> ListDocuments(const std::string& kind);
  absl::Status DeleteDocument(const std::string& kind, const std::string& name);

  // Increments on every change: readers that derive state (Athena's views) compare it.
  uint64_t version() const { return version_.load(); }

 private:
  explicit Catalog(std::string path) : readers_(std::move(path)) {}
  absl::Status Write(SqliteGroupWriter::Change change);
  absl::StatusOr<Json> ReadOne(const std::string& sql, const std::vector<std::string>& args, const std::string& what);
  // Records that are not JSON objects are skipped (counted in *unreadable when given).
  absl::StatusOr<std::vector<Json>> ReadAll(const std::string& sql, const std::vector<std::string>& args,
                                            size_t* unreadable = nullptr);

  SqliteReaderPool readers_;
  std::unique_ptr<SqliteGroupWriter> writer_;
  std::atomic<uint64_t> version_{1};
};

// Evaluates a Glue partition Expression against one partition's values (keyed by the
// table's partition key names). Supports =, !=, <>, <, <=, >, >=, BETWEEN, IN, LIKE, NOT,
// AND, OR and parentheses; numbers compare numerically, strings as strings.
absl::StatusOr<bool> MatchPartitionExpression(const std::string& expression,
                                              const std::vector<std::pair<std::string, std::string>>& values);

}  // namespace sluice
