#include "http/rest_json.h"

#include "gtest/gtest.h"

namespace sluice {
namespace {

HttpRequest Request(std::string method, std::string target) {
  HttpRequest r;
  r.method = std::move(method);
  r.target = target;
  auto q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) {
    r.raw_query = target.substr(q + 1);
    r.query = ParseQuery(r.raw_query);
  }
  return r;
}

RestRouter Lambda() {
  return RestRouter({{"GET", "/2015-03-31/functions/", "ListFunctions", 200},
                     {"GET", "/2015-03-31/functions/{FunctionName}", "GetFunction", 200},
                     {"POST", "/2015-03-31/functions/{FunctionName}/invocations", "Invoke", 200},
                     {"GET", "/2017-03-31/tags/{ARN}", "ListTags", 200},
                     {"GET", "/2018-10-31/layers", "ListLayers", 200},
                     {"GET", "/2018-10-31/layers?find=LayerVersion", "GetLayerVersionByArn", 200},
                     {"GET", "/x/{Key+}", "Greedy", 200}});
}

TEST(RestRouterTest, MatchesLabelsAndDecodesThem) {
  auto r = Lambda();
  auto m = r.Match(Request("POST", "/2015-03-31/functions/my%3Afn/invocations"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->operation->name, "Invoke");
  EXPECT_EQ(m->labels["FunctionName"], "my:fn");
  m = r.Match(Request("GET", "/2015-03-31/functions/"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->operation->name, "ListFunctions");
  m = r.Match(Request("GET", "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A0%3Afunction%3Af"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->labels["ARN"], "arn:aws:lambda:us-east-1:0:function:f");
}

TEST(RestRouterTest, RequiredQueryWinsAndGreedyLabelsKeepSlashes) {
  auto r = Lambda();
  EXPECT_EQ(r.Match(Request("GET", "/2018-10-31/layers?find=LayerVersion&Arn=x"))->operation->name,
            "GetLayerVersionByArn");
  EXPECT_EQ(r.Match(Request("GET", "/2018-10-31/layers"))->operation->name, "ListLayers");
  auto m = r.Match(Request("GET", "/x/a/b%20c"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->labels["Key"], "a/b c");
}

TEST(RestRouterTest, WrongMethodIsReportedAsPathMatch) {
  auto r = Lambda();
  bool path_matched = false;
  EXPECT_FALSE(r.Match(Request("DELETE", "/2015-03-31/functions/f/invocations"), &path_matched));
  EXPECT_TRUE(path_matched);
  EXPECT_FALSE(r.Match(Request("GET", "/nothing"), &path_matched));
  EXPECT_FALSE(path_matched);
}

}  // namespace
}  // namespace sluice
