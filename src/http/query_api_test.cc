#include "http/query_api.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(QueryApi, ParseFormDecodesPlusAndPercent) {
  auto form = ParseForm("Action=Publish&Message=hello+world%21&Empty=&Flag&Message=second");
  EXPECT_EQ(form["Action"], "Publish");
  EXPECT_EQ(form["Message"], "hello world!");  // the first occurrence wins
  EXPECT_EQ(form["Empty"], "");
  EXPECT_TRUE(form.count("Flag"));
}

TEST(QueryApi, ListsStopAtTheFirstGap) {
  QueryParams p(ParseForm("AttributeName.1=All&AttributeName.2=Policy&AttributeName.4=X&"
                          "TagKeys.member.1=a&TagKeys.member.2=b"));
  EXPECT_EQ(p.List("AttributeName", ""), (std::vector<std::string>{"All", "Policy"}));
  EXPECT_EQ(p.List("TagKeys"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(p.List("Missing").empty());
}

TEST(QueryApi, StructsAndMaps) {
  QueryParams p(ParseForm(
      "Attributes.entry.1.key=DisplayName&Attributes.entry.1.value=Ops&"
      "Attributes.entry.2.key=Policy&Attributes.entry.2.value=%7B%7D&"
      "MessageAttribute.1.Name=color&MessageAttribute.1.Value.StringValue=red&MessageAttribute.1.Value.DataType=String&"
      "MessageAttribute.2.Name=n&MessageAttribute.2.Value.StringValue=3&MessageAttribute.2.Value.DataType=Number"));
  auto attrs = p.Map("Attributes");
  EXPECT_EQ(attrs.size(), 2u);
  EXPECT_EQ(attrs["Policy"], "{}");
  auto items = p.StructPrefixes("MessageAttribute", "");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0], "MessageAttribute.1");
  EXPECT_EQ(p.Get(items[1] + ".Value.DataType"), "Number");
  auto named = p.Map("MessageAttribute", "", "Name", "Value.StringValue");
  EXPECT_EQ(named["color"], "red");
}

TEST(QueryApi, XmlElementEscapes) {
  std::string out;
  XmlElement(&out, "Message", "a<b&\"c\"");
  EXPECT_EQ(out, "<Message>a&lt;b&amp;&quot;c&quot;</Message>");
}

}  // namespace
}  // namespace sluice
