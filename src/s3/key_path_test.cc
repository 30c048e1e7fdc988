#include "s3/key_path.h"

#include <vector>

#include "gtest/gtest.h"

namespace sluice {
namespace {

TEST(KeyPathTest, OrdinarySegmentsStayReadable) {
  EXPECT_EQ(SegmentName("event_date=2025-08-01", 0), "event_date=2025-08-01");
  EXPECT_EQ(SegmentName("part-0.parquet", 0), "part-0.parquet");
  EXPECT_EQ(SegmentName("데이터", 0), "데이터");
}

TEST(KeyPathTest, UnholdableSegmentsAreEscapedReversibly) {
  for (const std::string& seg : std::vector<std::string>{"", ".", "..", "%x", "a%b", std::string("nul\0byte", 8), std::string(200, 'z')}) {
    for (int variant : {0, 1, 7}) {
      std::string name = SegmentName(seg, variant);
      EXPECT_FALSE(name.empty());
      EXPECT_NE(name, ".");
      EXPECT_NE(name, "..");
      EXPECT_LE(name.size(), 255u);
      EXPECT_EQ(name.find('/'), std::string::npos);
      EXPECT_EQ(name.find('\0'), std::string::npos);
      EXPECT_EQ(DecodeSegmentName(name), seg) << name;
    }
  }
  EXPECT_EQ(SegmentName("..", 0), "%..");
  EXPECT_NE(SegmentName("a", 1), SegmentName("a", 0));
}

TEST(KeyPathTest, OverlongSegmentsAreHashedWithinTheNameLimit) {
  std::string seg(1000, 'x');
  std::string name = SegmentName(seg, 0);
  EXPECT_LE(name.size(), 255u);
  EXPECT_NE(SegmentName(std::string(1000, 'y'), 0), name);
}

}  // namespace
}  // namespace sluice
