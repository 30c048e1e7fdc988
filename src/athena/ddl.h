#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

// Athena's Hive DDL and utility statements, parsed into plain structs. Anything that is not
// one of these is a query, handed to the SQL engine.
namespace sluice::athena {

struct Column {
  std::string name;
  std::string type;  // Hive type text, lower-case ("decimal(10,2)", "array<string>")
  std::string comment;
};

using Properties = std::vector<std::pair<std::string, std::string>>;

// A qualified name: [catalog.][db.]name ("" parts absent).
struct Name {
  std::string db, name;
};

struct CreateDatabase {
  std::string name;
  bool if_not_exists = false;
  std::string comment, location;
};

struct CreateTable {
  Name table;
  bool if_not_exists = false;
  std::vector<Column> columns, partition_keys;
  std::string comment;
  // ROW FORMAT
  std::string serde;            // SerDe class (ROW FORMAT SERDE '...')
  Properties serde_properties;  // WITH SERDEPROPERTIES, and DELIMITED's field.delim etc.
  std::string stored_as;        // PARQUET, TEXTFILE, JSON, ORC, AVRO, ... (upper-case)
  std::string input_format, output_format;
  std::string location;
  Properties table_properties;
};

struct PartitionSpec {
  std::vector<std::pair<std::string, std::string>> values;  // key, value
  std::string location;
};

struct AlterAddPartitions {
  Name table;
  bool if_not_exists = false;
  std::vector<PartitionSpec> partitions;
};

struct AlterDropPartitions {
  Name table;
  bool if_exists = false;
  std::vector<PartitionSpec> partitions;
};

struct MsckRepair {
  Name table;
};

struct Show {
  enum class What { kDatabases, kTables, kViews, kPartitions, kColumns, kCreateTable } what;
  Name target;          // table for partitions/columns/create table; db for tables
  std::string pattern;  // LIKE / quoted pattern
};

struct Describe {
  Name table;
};

struct Drop {
  bool database = false;  // DROP DATABASE/SCHEMA, else DROP TABLE
  bool view = false;      // DROP VIEW
  Name target;
  bool if_exists = false;
  bool cascade = false;
};

// CREATE TABLE name WITH (...) AS <query>, and INSERT INTO name [(cols)] <query>.
struct WriteQuery {
  Name table;
  bool if_not_exists = false;
  Properties properties;                     // format, external_location, write_compression, ...
  std::vector<std::string> partitioned_by;   // from partitioned_by = ARRAY['a', 'b']
  std::string query;                         // the SELECT, as written
  bool with_data = true;                     // false for WITH NO DATA
  bool or_replace = false;                   // CREATE OR REPLACE VIEW
  std::vector<std::string> using_values;     // EXECUTE ... USING: literal texts, in order
};

struct Statement {
  enum class Kind { kQuery, kCreateDatabase, kCreateTable, kAddPartitions, kDropPartitions, kMsckRepair, kShow,
                    kDescribe, kDrop, kCreateTableAs, kInsertInto, kCreateView, kPrepare, kExecute,
                    kDeallocate } kind = Kind::kQuery;
  WriteQuery write;
  CreateDatabase create_database;
  CreateTable create_table;
  AlterAddPartitions add_partitions;
  AlterDropPartitions drop_partitions;
  MsckRepair msck;
  Show show;
  Describe describe;
  Drop drop;
};

// Parses one statement (a trailing ';' and comments allowed). Errors name the position, as
// Athena's do: "line 1:15: mismatched input 'x'...".
absl::StatusOr<Statement> ParseStatement(const std::string& sql);

// Replaces each ? outside quotes with the next of `values` (SQL literal texts).
absl::StatusOr<std::string> BindParameters(const std::string& sql, const std::vector<std::string>& values);

// Removes -- and /* */ comments and a trailing ';'; errors when more than one statement.
absl::StatusOr<std::string> SingleStatement(const std::string& sql);

}  // namespace sluice::athena
