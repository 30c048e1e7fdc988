#include "pgwire/pg_types.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::pgwire {
namespace {

TEST(PgTypeOf, MapsDuckDbTypeNamesToPostgresOids) {
  struct Case {
    const char* duckdb;
    uint32_t oid;
    int16_t size;
    int32_t typmod;
  } cases[] = {
      {"BOOLEAN", 16, 1, -1},
      {"SMALLINT", 21, 2, -1},
      {"TINYINT", 21, 2, -1},
      {"INTEGER", 23, 4, -1},
      {"BIGINT", 20, 8, -1},
      {"HUGEINT", 1700, -1, -1},
      {"FLOAT", 700, 4, -1},
      {"REAL", 700, 4, -1},
      {"DOUBLE", 701, 8, -1},
      {"DECIMAL(18,2)", 1700, -1, (18 << 16 | 2) + 4},
      {"decimal(10, 0)", 1700, -1, (10 << 16) + 4},
      {"VARCHAR", 1043, -1, -1},
      {"VARCHAR(256)", 1043, -1, 260},
      {"TEXT", 25, -1, -1},
      {"DATE", 1082, 4, -1},
      {"TIMESTAMP", 1114, 8, -1},
      {"TIMESTAMP WITH TIME ZONE", 1184, 8, -1},
      {"TIMESTAMPTZ", 1184, 8, -1},
      {"TIME", 1083, 8, -1},
      {"INTERVAL", 1186, 16, -1},
      {"BLOB", 17, -1, -1},
      {"JSON", 114, -1, -1},
      {"UUID", 2950, 16, -1},
      {"INTEGER[]", 25, -1, -1},
      {"STRUCT(a INTEGER)", 25, -1, -1},
      {"MAP(VARCHAR, INTEGER)", 25, -1, -1},
      {"ENUM('a', 'b')", 25, -1, -1},
  };
  for (const Case& c : cases) {
    PgType t = PgTypeOf(c.duckdb);
    EXPECT_EQ(t.oid, c.oid) << c.duckdb;
    EXPECT_EQ(t.size, c.size) << c.duckdb;
    EXPECT_EQ(t.typmod, c.typmod) << c.duckdb;
  }
}

std::string Hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string r;
  for (unsigned char c : s) {
    r.push_back(d[c >> 4]);
    r.push_back(d[c & 15]);
  }
  return r;
}

TEST(EncodeBinary, EncodesCommonTypesFromText) {
  struct Case {
    uint32_t oid;
    const char* text;
    const char* hex;
  } cases[] = {
      {oid::kBool, "t", "01"},
      {oid::kBool, "false", "00"},
      {oid::kInt2, "-2", "fffe"},
      {oid::kInt4, "42", "0000002a"},
      {oid::kInt8, "-1", "ffffffffffffffff"},
      {oid::kFloat4, "1.5", "3fc00000"},
      {oid::kFloat8, "-2.5", "c004000000000000"},
      {oid::kFloat8, "Infinity", "7ff0000000000000"},
      {oid::kText, "hé", "68c3a9"},
      {oid::kDate, "2000-01-02", "00000001"},
      {oid::kDate, "1999-12-31", "ffffffff"},
      {oid::kTimestamp, "2000-01-01 00:00:01.5", "000000000016e360"},
      {oid::kTimestamptz, "2000-01-01 01:00:00+01", "0000000000000000"},
      {oid::kTime, "00:00:01", "00000000000f4240"},
      {oid::kInterval, "1 year 2 mons 3 days 00:00:01", "00000000000f4240000000030000000e"},
      {oid::kNumeric, "12345.678", "0003000100000003000109291a7c"},
      {oid::kNumeric, "-0.5", "0001ffff400000011388"},
      {oid::kNumeric, "0.00", "0000000000000002"},
      {oid::kBytea, "\\x0aff", "0aff"},
      {oid::kUuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc999c0b4ef8bb6d6bb9bd380a11"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::string> b = EncodeBinary(c.oid, c.text);
    ASSERT_TRUE(b.ok()) << c.text << ": " << b.status();
    EXPECT_EQ(Hex(*b), c.hex) << c.oid << " " << c.text;
  }
  EXPECT_FALSE(EncodeBinary(oid::kInt4, "abc").ok());
  EXPECT_FALSE(EncodeBinary(oid::kDate, "2020-13-01").ok());
  // Out of range values are errors, not overflows.
  EXPECT_FALSE(EncodeBinary(oid::kTimestamp, "999999999-01-01 00:00:00").ok());
  EXPECT_FALSE(EncodeBinary(oid::kDate, "999999999-01-01").ok());
  EXPECT_FALSE(EncodeBinary(oid::kInterval, "2000000000 years").ok());
  EXPECT_FALSE(EncodeBinary(oid::kInt2, "40000").ok());
}

TEST(DecodeBinary, RoundTripsThroughText) {
  struct Case {
    uint32_t oid;
    const char* text;
  } cases[] = {
      {oid::kBool, "true"},
      {oid::kInt2, "-7"},
      {oid::kInt4, "2147483647"},
      {oid::kInt8, "-9223372036854775808"},
      {oid::kFloat8, "0.1"},
      {oid::kFloat4, "1.5"},
      {oid::kText, "x"},
      {oid::kDate, "2024-02-29"},
      {oid::kDate, "0044-03-15 BC"},
      {oid::kTimestamp, "2024-02-29 13:14:15.123456"},
      {oid::kTimestamptz, "2024-02-29 13:14:15+00"},
      {oid::kTime, "23:59:59.5"},
      {oid::kInterval, "1 year 2 mons 3 days 04:05:06"},
      {oid::kNumeric, "12345.678"},
      {oid::kNumeric, "-0.0001"},
      {oid::kNumeric, "100000000"},
      {oid::kNumeric, "0"},
      {oid::kBytea, "\\x00ff10"},
      {oid::kUuid, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::string> b = EncodeBinary(c.oid, c.text);
    ASSERT_TRUE(b.ok()) << c.text << ": " << b.status();
    absl::StatusOr<std::string> t = DecodeBinary(c.oid, *b);
    ASSERT_TRUE(t.ok()) << c.text << ": " << t.status();
    EXPECT_EQ(*t, c.text) << c.oid;
  }
  EXPECT_FALSE(DecodeBinary(oid::kInt4, "abc").ok());
  EXPECT_FALSE(DecodeBinary(oid::kUnspecified, "abcd").ok());
}

}  // namespace
}  // namespace sluice::pgwire
