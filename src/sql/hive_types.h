#pragma once

#include <string>

#include "base/status.h"

// Hive/Glue column types and DuckDB types, both ways (no DuckDB API involved).
namespace sluice {

// "array<string>" -> "VARCHAR[]", "struct<a:int>" -> STRUCT("a" INTEGER), "decimal(10,2)" -> DECIMAL(10,2).
absl::StatusOr<std::string> HiveToDuckType(const std::string& hive);
// "BIGINT" -> "bigint", "VARCHAR" -> "string", "INTEGER[]" -> "array<int>".
std::string DuckToHiveType(const std::string& duck);

}  // namespace sluice
