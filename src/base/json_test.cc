#include "base/json.h"

#include <string>

#include "gtest/gtest.h"

namespace sluice {
namespace {

TEST(JsonTest, ParsesOrdinaryDocuments) {
  auto j = ParseJson(R"({"a":[1,{"b":"x"}]})");
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["a"][1]["b"], "x");
}

TEST(JsonTest, SyntaxErrorIsDiscardedNotThrown) {
  JsonParseError e;
  EXPECT_TRUE(ParseJson("{\"a\":", &e).is_discarded());
  EXPECT_EQ(e, JsonParseError::kSyntax);
}

TEST(JsonTest, DeepNestingIsRefusedWithoutRecursion) {
  std::string deep(100000, '[');
  JsonParseError e;
  EXPECT_TRUE(ParseJson(deep, &e).is_discarded());
  EXPECT_EQ(e, JsonParseError::kTooDeep);
  std::string ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  EXPECT_FALSE(ParseJson(ok).is_discarded());
  std::string over = "[" + ok + "]";
  EXPECT_TRUE(ParseJson(over).is_discarded());
}

TEST(JsonTest, BracketsInsideStringsDoNotCount) {
  std::string s = "{\"k\":\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"}";
  EXPECT_FALSE(ParseJson(s).is_discarded());
}

}  // namespace
}  // namespace sluice
