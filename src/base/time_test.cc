#include "base/time.h"

#include "gtest/gtest.h"

namespace sluice {
namespace {

TEST(TimeTest, FormatsRoundTrip) {
  absl::Time t = absl::FromUnixSeconds(1754049600);  // 2025-08-01T12:00:00Z
  EXPECT_EQ(FormatAmzDate(t), "20250801T120000Z");
  EXPECT_EQ(FormatIso8601(t), "2025-08-01T12:00:00.000Z");
  EXPECT_EQ(FormatHttpDate(t), "Fri, 01 Aug 2025 12:00:00 GMT");
  EXPECT_EQ(ParseAmzDate("20250801T120000Z"), t);
  EXPECT_EQ(ParseHttpDate("Fri, 01 Aug 2025 12:00:00 GMT"), t);
  EXPECT_EQ(ParseHttpDate("2025-08-01T12:00:00.000Z"), t);
}

TEST(TimeTest, RejectsGarbage) {
  EXPECT_FALSE(ParseAmzDate("2025-08-01"));
  EXPECT_FALSE(ParseAmzDate("20250801T120000"));
  EXPECT_FALSE(ParseHttpDate("yesterday"));
}

}  // namespace
}  // namespace sluice
