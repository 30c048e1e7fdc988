#pragma once

#include <functional>
#include <memory>
#include <map>
#include <mutex>
#include <vector>
#include <string>

#include "glue/catalog.h"
#include "s3/store.h"
#include "sql/hive_types.h"
#include "sql/sql.h"

// Runs one Athena statement: Hive DDL against the Glue catalog, queries in DuckDB over
// the lake. Catalog tables become DuckDB views in the attached in-memory database
// `awsdatacatalog` (schema per Glue database), rebuilt for the tables a query names, each
// reading exactly the committed objects under the table's partitions (a UNION ALL of one
// scan per partition with the partition values as constants, which DuckDB prunes).
// Thread-safe: every Run uses the Connection it is given.
namespace sluice::athena {

struct StatementOutput {
  QueryResult result;
  std::string statement_type = "DML";  // DDL, DML or UTILITY, as Athena reports
  bool has_result_set = true;          // false for DDL that returns nothing
  uint64_t data_scanned_bytes = 0;
  int64_t update_count = 0;  // rows written by CREATE TABLE AS / INSERT INTO
};

// One data file of a table, as DuckDB reads it.
struct LakeFile {
  std::string path;  // absolute
  uint64_t size = 0;
};

// What one catalog table's scan reads, kept while a query runs so that DataScannedInBytes
// counts the files DuckDB read rather than every file of the table (see ScannedBytes).
struct ScanSource {
  std::string database;  // the table's Glue database
  std::string function;  // DuckDB's scan operator: READ_PARQUET, READ_CSV or READ_JSON_OBJECTS
  // One read_parquet over every file with hive partitioning (DuckDB prunes the files and
  // reports the filter it used); otherwise a UNION ALL branch per part.
  bool hive = false;
  std::vector<std::pair<std::string, std::string>> keys;  // partition column, DuckDB type
  std::vector<std::string> columns;                       // data columns, lower case
  struct Part {
    std::vector<std::string> values;  // partition values, in the order of keys
    std::vector<LakeFile> files;
  };
  std::vector<Part> parts;  // the partitions (or the table's location) with files
  uint64_t Bytes() const;
};

// The bytes the table scans among `operators` (the profile of a query) read from `sources`
// (the tables whose views the query could read). Partitions a hive read_parquet skipped are
// not counted: its "File Filters" are evaluated on `con` over the partition values. A scan
// that fits several tables goes to one not read yet, then to one of `database` (where
// unqualified names resolve), then to the largest: never fewer bytes than read. Without a
// profile, every file of every source counts.
uint64_t ScannedBytes(const std::vector<ScanSource>& sources, const std::vector<OperatorProfile>& operators,
                      const std::string& database, Connection& con);

// Decides whether a table scan reads one committed object (bucket, object); job
// bookmarks use it to read only new files.
using FileFilter = std::function<bool(const std::string& bucket, const ObjectMeta& object)>;

class Engine {
 public:
  // All three must outlive the engine.
  // `scratch_dir` holds files that CREATE TABLE AS / INSERT INTO write before they go to S3.
  Engine(Catalog& catalog, ObjectStore& store, Database& db, std::string scratch_dir)
      : catalog_(catalog), store_(store), db_(db), scratch_dir_(std::move(scratch_dir)) {}
  // Attaches awsdatacatalog and defines the Trino functions DuckDB lacks.
  absl::Status Init();
  // `params` (SQL literals) replace the statement's ? placeholders (ExecutionParameters).
  absl::StatusOr<StatementOutput> Run(const std::string& sql, const std::string& database, Connection& con,
                                      const std::vector<std::string>& params = {});
  // The SELECT that reads catalog table `table` (a Glue Table document, not a view) from
  // the lake: its columns and partition keys, typed as the catalog says. Only objects
  // `filter` accepts are read (all when it is empty); their bytes are added to *bytes.
  absl::StatusOr<std::string> TableScan(const Json& table, const FileFilter& filter, uint64_t* bytes);
  // The same, also describing in *source (when not null) the files each part reads.
  absl::StatusOr<std::string> TableScan(const Json& table, const FileFilter& filter, uint64_t* bytes,
                                        ScanSource* source);
  // Files DuckDB may write before they go to the lake must be under this folder.
  const std::string& scratch_dir() const { return scratch_dir_; }
  // Lets DuckDB open files under `dir` after Init disables other file access (the
  // warehouse attaches new database files there). REQUIRES: before Init.
  void AllowDirectory(std::string dir) { extra_dirs_.push_back(std::move(dir)); }

 private:
  // What Athena's clients may run (sql/guard.h): queries over awsdatacatalog (and the
  // Glue databases, which name its schemas).
  SqlPolicy Policy();
  // Checks a client's query that sluice wraps (CREATE TABLE AS, INSERT INTO, CREATE VIEW)
  // without running it; a refusal is InvalidArgument in Athena's wording.
  absl::Status CheckQuery(const std::string& sql, Connection& con, const std::string& db);
  absl::StatusOr<StatementOutput> RunQuery(const std::string& sql, const std::string& database, Connection& con);
  // Defines the views `sql` may read and makes `database` current; adds the bytes of every
  // file they read to *bytes, and describes each table's files in *sources when not null.
  absl::Status PrepareViews(const std::string& sql, const std::string& database, Connection& con, uint64_t* bytes,
                            std::vector<ScanSource>* sources = nullptr);
  absl::StatusOr<StatementOutput> RunWrite(const struct WriteQuery& w, bool create, const std::string& database,
                                           Connection& con);
  // Creates or replaces the view for `table` (a Glue Table document); adds the bytes it
  // would scan to *bytes.
  absl::Status DefineView(const Json& table, Connection& con, uint64_t* bytes, ScanSource* source);
  absl::Status ListFiles(const std::string& location, const FileFilter& filter, std::vector<LakeFile>* files,
                         bool* keys_are_paths);
  absl::Status MsckRepair(const std::string& db, const Json& table, StatementOutput* out);

  Catalog& catalog_;
  ObjectStore& store_;
  Database& db_;
  std::string scratch_dir_;
  std::vector<std::string> extra_dirs_;
  std::mutex view_mu_;  // serializes view (re)definitions
  std::mutex prepared_mu_;
  std::map<std::string, std::string> prepared_;  // PREPARE name -> statement text
};

// Puts every file under local folder `dir` into the lake as <prefix><relative path>
// (through the object store, so it is indexed and durable); appends the keys to *keys.
absl::Status UploadTree(ObjectStore& store, const std::string& dir, const std::string& bucket, const std::string& prefix,
                        const std::string& content_type, std::vector<std::string>* keys);
// Registers, in table `table` (a Glue Table document with DatabaseName), the partitions
// that the objects `keys` written under s3://bucket/prefix (the table's location) belong
// to: the k=v folders between the prefix and the file name. Existing ones are kept.
absl::Status RegisterPartitions(Catalog& catalog, const Json& table, const std::string& bucket, const std::string& prefix,
                                const std::vector<std::string>& keys);
// Removes a local folder tree (scratch output).
void RemoveTree(const std::string& path);
// "s3://bucket/prefix/" -> bucket, prefix (without the leading '/'); error otherwise.
absl::StatusOr<std::pair<std::string, std::string>> ParseS3Location(const std::string& location);
// DuckDB type name -> Athena's result type name ("BIGINT" -> "bigint").
std::string AthenaType(const std::string& duck);
std::string QuoteIdent(std::string_view name);
// Partition projection (TBLPROPERTIES projection.*): whether the table uses it, and the
// partitions (values, location) it has in the lake.
bool UsesProjection(const Json& table);
absl::StatusOr<std::vector<std::pair<std::vector<std::string>, std::string>>> ProjectedPartitions(const Json& table,
                                                                                                 ObjectStore& store);
// The SQL of a Glue VIRTUAL_VIEW table (decoding Athena's "/* Presto View: ... */" form).
std::string ViewSql(const Json& view);
// Maps a DuckDB error to Athena's wording ("TABLE_NOT_FOUND: ...").
absl::Status AthenaError(const absl::Status& st, const std::string& db);
// The Glue StorageDescriptor/format fields for a file format name (PARQUET, JSON, TEXTFILE).
absl::StatusOr<Json> FormatDescriptor(const std::string& format, const std::string& field_delimiter);
// Quoted date_parse/date_format formats translated to DuckDB's.
std::string TranslateFormats(const std::string& sql);

}  // namespace sluice::athena
