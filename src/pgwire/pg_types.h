#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

// PostgreSQL types as the wire protocol sees them: the OID, size and type modifier a
// RowDescription reports for a DuckDB type name, and the binary format of the common
// types (results are encoded from PostgreSQL text; binary parameters are decoded to it).
// Private to pgwire/. Pure functions, thread-safe.
namespace sluice::pgwire {

namespace oid {
inline constexpr uint32_t kUnspecified = 0;
inline constexpr uint32_t kBool = 16;
inline constexpr uint32_t kBytea = 17;
inline constexpr uint32_t kName = 19;
inline constexpr uint32_t kInt8 = 20;
inline constexpr uint32_t kInt2 = 21;
inline constexpr uint32_t kInt4 = 23;
inline constexpr uint32_t kText = 25;
inline constexpr uint32_t kOid = 26;
inline constexpr uint32_t kJson = 114;
inline constexpr uint32_t kFloat4 = 700;
inline constexpr uint32_t kFloat8 = 701;
inline constexpr uint32_t kUnknown = 705;
inline constexpr uint32_t kBpchar = 1042;
inline constexpr uint32_t kVarchar = 1043;
inline constexpr uint32_t kDate = 1082;
inline constexpr uint32_t kTime = 1083;
inline constexpr uint32_t kTimestamp = 1114;
inline constexpr uint32_t kTimestamptz = 1184;
inline constexpr uint32_t kInterval = 1186;
inline constexpr uint32_t kTimetz = 1266;
inline constexpr uint32_t kNumeric = 1700;
inline constexpr uint32_t kUuid = 2950;
}  // namespace oid

struct PgType {
  uint32_t oid = oid::kText;
  int16_t size = -1;     // typlen: -1 variable
  int32_t typmod = -1;   // numeric: ((precision << 16) | scale) + 4
};

// The PostgreSQL type for a DuckDB type name ("INTEGER", "DECIMAL(18,2)", "VARCHAR",
// "TIMESTAMP WITH TIME ZONE", ...; case-insensitive). Anything without a PostgreSQL
// counterpart (LIST, STRUCT, MAP, ENUM, ...) is text.
PgType PgTypeOf(std::string_view duckdb_type);

// Whether values of `type_oid` can be sent in binary; others go out as text even when
// the client asked for binary (the RowDescription then says text).
bool HasBinaryFormat(uint32_t type_oid);

// The binary form of a PostgreSQL text value of type `type_oid`. REQUIRES:
// HasBinaryFormat(type_oid). Fails (22P03) on a value that does not parse.
absl::StatusOr<std::string> EncodeBinary(uint32_t type_oid, std::string_view text);

// The PostgreSQL text form of a binary parameter of type `type_oid`. Fails (22P03) on a
// wrong length or an unsupported type.
absl::StatusOr<std::string> DecodeBinary(uint32_t type_oid, std::string_view binary);

}  // namespace sluice::pgwire
