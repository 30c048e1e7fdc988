#include "sns/filter_policy.h"

#include <algorithm>

#include "gtest/gtest.h"

namespace sluice::sns {
namespace {

using events::PatternSet;

std::string ErrorOf(std::string_view policy, FilterScope scope = FilterScope::kMessageAttributes) {
  auto r = FilterPolicyToPattern(policy, scope);
  return r.ok() ? "" : std::string(r.status().message());
}

bool MatchesAttributes(std::string_view policy, const SnsMessageAttributes& attrs) {
  auto pattern = FilterPolicyToPattern(policy, FilterScope::kMessageAttributes);
  EXPECT_TRUE(pattern.ok()) << pattern.status();
  PatternSet set(FilterPolicyLimits());
  EXPECT_TRUE(set.Add(7, *pattern).ok());
  std::vector<uint64_t> out;
  set.MatchFields(AttributesToFields(attrs), &out);
  return std::find(out.begin(), out.end(), 7u) != out.end();
}

SnsMessageAttribute Str(std::string v) { return {"String", std::move(v), ""}; }
SnsMessageAttribute Num(std::string v) { return {"Number", std::move(v), ""}; }
SnsMessageAttribute Arr(std::string v) { return {"String.Array", std::move(v), ""}; }

TEST(FilterPolicy, ValidPoliciesPassThroughUnchanged) {
  std::string p = R"({"store":["example_corp"],"price":[{"numeric":[">",0,"<=",150]}]})";
  auto r = FilterPolicyToPattern(p, FilterScope::kMessageAttributes);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, p);
}

TEST(FilterPolicy, MoreThanFiveKeysIsRejectedWithAwsMessage) {
  EXPECT_EQ(ErrorOf(R"({"a":["1"],"b":["1"],"c":["1"],"d":["1"],"e":["1"],"f":["1"]})"),
            "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys");
}

TEST(FilterPolicy, MoreThan150CombinationsIsTooComplex) {
  // 10 * 4 * 4 = 160 combinations.
  EXPECT_EQ(ErrorOf(R"({"a":["1","2","3","4","5","6","7","8","9","10"],"b":["1","2","3","4"],"c":["1","2","3","4"]})"),
            "Invalid parameter: FilterPolicy: Filter policy is too complex");
  // 10 * 5 * 3 = 150 is allowed.
  EXPECT_EQ(ErrorOf(R"({"a":["1","2","3","4","5","6","7","8","9","10"],"b":["1","2","3","4","5"],"c":["1","2","3"]})"), "");
}

TEST(FilterPolicy, OrBranchesAddTheirCombinations) {
  EXPECT_EQ(ErrorOf(R"({"a":["1"],"$or":[{"b":["1","2"]},{"c":["1","2","3"]}]})"), "");
}

TEST(FilterPolicy, EmptyArraysAreRejected) {
  EXPECT_EQ(ErrorOf(R"({"Amount":[]})").rfind("Invalid parameter: FilterPolicy: Empty arrays are not allowed", 0), 0u)
      << ErrorOf(R"({"Amount":[]})");
}

TEST(FilterPolicy, NestedPoliciesNeedMessageBodyScope) {
  std::string p = R"({"order":{"status":["paid"]}})";
  EXPECT_EQ(ErrorOf(p), "Invalid parameter: FilterPolicy: Filter policy scope MessageAttributes does not support nested filter policy");
  EXPECT_EQ(ErrorOf(p, FilterScope::kMessageBody), "");
}

TEST(FilterPolicy, WildcardIsNotAnSnsOperator) {
  EXPECT_EQ(ErrorOf(R"({"a":[{"wildcard":"x*"}]})"), "Invalid parameter: FilterPolicy: Unrecognized match type wildcard");
}

TEST(FilterPolicy, SyntaxErrorsCarryTheEngineReason) {
  std::string e = ErrorOf(R"({"a": ["x")");
  EXPECT_EQ(e.rfind("Invalid parameter: FilterPolicy: ", 0), 0u) << e;
  EXPECT_NE(e.find("line: 1"), std::string::npos) << e;
}

TEST(FilterPolicy, StringAttributesMatchExactPrefixAndAnythingBut) {
  EXPECT_TRUE(MatchesAttributes(R"({"store":["example_corp"]})", {{"store", Str("example_corp")}}));
  EXPECT_FALSE(MatchesAttributes(R"({"store":["example_corp"]})", {{"store", Str("other")}}));
  EXPECT_TRUE(MatchesAttributes(R"({"store":[{"prefix":"ex"}]})", {{"store", Str("example_corp")}}));
  EXPECT_TRUE(MatchesAttributes(R"({"store":[{"anything-but":["a","b"]}]})", {{"store", Str("c")}}));
  EXPECT_FALSE(MatchesAttributes(R"({"store":[{"anything-but":["a","b"]}]})", {}));
  EXPECT_TRUE(MatchesAttributes(R"({"store":[{"equals-ignore-case":"EXAMPLE"}]})", {{"store", Str("example")}}));
}

TEST(FilterPolicy, NumberAttributesMatchNumerically) {
  EXPECT_TRUE(MatchesAttributes(R"({"price":[{"numeric":[">",0,"<=",150]}]})", {{"price", Num("100")}}));
  EXPECT_FALSE(MatchesAttributes(R"({"price":[{"numeric":[">",0,"<=",150]}]})", {{"price", Num("151")}}));
  EXPECT_TRUE(MatchesAttributes(R"({"price":[300]})", {{"price", Num("3.0e2")}}));
  // A String attribute holding digits is not a number.
  EXPECT_FALSE(MatchesAttributes(R"({"price":[{"numeric":[">",0]}]})", {{"price", Str("100")}}));
}

TEST(FilterPolicy, StringArrayAttributesMatchAnyElement) {
  EXPECT_TRUE(MatchesAttributes(R"({"customer_interests":["rugby"]})", {{"customer_interests", Arr(R"(["soccer","rugby"])")}}));
  EXPECT_FALSE(MatchesAttributes(R"({"customer_interests":["golf"]})", {{"customer_interests", Arr(R"(["soccer","rugby"])")}}));
}

TEST(FilterPolicy, ExistsAndBinaryAttributes) {
  EXPECT_TRUE(MatchesAttributes(R"({"store":[{"exists":true}]})", {{"store", Str("x")}}));
  EXPECT_TRUE(MatchesAttributes(R"({"store":[{"exists":false}]})", {{"other", Str("x")}}));
  // Binary attributes take no part in filtering.
  EXPECT_TRUE(MatchesAttributes(R"({"blob":[{"exists":false}]})", {{"blob", {"Binary", "", "\x01\x02"}}}));
}

TEST(FilterPolicy, CidrMatchesAddresses) {
  EXPECT_TRUE(MatchesAttributes(R"({"source_ip":[{"cidr":"10.0.0.0/24"}]})", {{"source_ip", Str("10.0.0.255")}}));
  EXPECT_FALSE(MatchesAttributes(R"({"source_ip":[{"cidr":"10.0.0.0/24"}]})", {{"source_ip", Str("10.0.1.1")}}));
}

TEST(FilterPolicy, BodyScopeMatchesNestedJson) {
  auto pattern = FilterPolicyToPattern(R"({"order":{"status":["paid"]}})", FilterScope::kMessageBody);
  ASSERT_TRUE(pattern.ok());
  PatternSet set(FilterPolicyLimits());
  ASSERT_TRUE(set.Add(1, *pattern).ok());
  std::vector<uint64_t> out;
  ASSERT_TRUE(set.Match(R"({"order":{"status":"paid","id":3}})", &out).ok());
  EXPECT_EQ(out.size(), 1u);
  out.clear();
  ASSERT_TRUE(set.Match(R"({"order":{"status":"open"}})", &out).ok());
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace sluice::sns
