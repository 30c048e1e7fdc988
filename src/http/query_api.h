#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/aws_error.h"
#include "http/router.h"

// Services on the AWS query protocol (SNS, and SQS for older clients): POST / with a
// form-encoded body "Action=<Action>&Version=<date>&Name.member.1=..." (or the same
// parameters in a GET query string), replies in XML:
//   <ActionResponse xmlns="ns"><ActionResult>...</ActionResult>
//   <ResponseMetadata><RequestId>id</RequestId></ResponseMetadata></ActionResponse>
// A service supplies one dispatch function that returns the inner XML of <ActionResult>;
// this file does the protocol.
namespace sluice {

// The request's parameters, decoded, by name ("Attributes.entry.1.key").
class QueryParams {
 public:
  QueryParams() = default;
  explicit QueryParams(std::map<std::string, std::string> values) : values_(std::move(values)) {}
  const std::string* Find(std::string_view name) const;
  std::string Get(std::string_view name, std::string_view fallback = "") const;
  bool Has(std::string_view name) const { return Find(name) != nullptr; }
  // A list: "<prefix>.member.1", "<prefix>.member.2", ... (or "<prefix>.1", ... when
  // `member` is ""), in index order, stopping at the first gap.
  std::vector<std::string> List(std::string_view prefix, std::string_view member = "member") const;
  // The indexes n of "<prefix>.<n>.*" (or "<prefix>.member.<n>.*") present, ascending,
  // stopping at the first gap: structures in a list, each read with
  // Get(StrCat(prefix, ".", n, ".Field")).
  std::vector<std::string> StructPrefixes(std::string_view prefix, std::string_view member = "member") const;
  // A map: "<prefix>.entry.<n>.key"/".value" (or the given names), e.g. SNS Attributes.
  std::map<std::string, std::string> Map(std::string_view prefix, std::string_view entry = "entry",
                                         std::string_view key = "key", std::string_view value = "value") const;
  const std::map<std::string, std::string>& all() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
};

struct QueryReply {
  std::string result_xml;   // inner XML of <ActionResult>
  bool has_result = true;   // false: the response has only ResponseMetadata
  std::optional<AwsError> error;

  static QueryReply Error(int status, std::string code, std::string message) {
    QueryReply r;
    r.error = AwsError{status, std::move(code), std::move(message), {}};
    return r;
  }
};

struct QueryServiceSpec {
  std::string signing_name;   // "sns"
  std::string xml_namespace;  // "http://sns.amazonaws.com/doc/2010-03-31/"
  size_t body_limit = 4 << 20;
  // Runs on a worker thread. `action` is the Action parameter.
  std::function<QueryReply(const std::string& action, const QueryParams& params, const HttpRequest& req)> dispatch;
};

ServiceRoute MakeQueryService(QueryServiceSpec spec);

// One route that answers both protocols of a service (SQS): requests with X-Amz-Target
// go to `json` (its target prefixes), the others to `query` (its signing name).
ServiceRoute MakeJsonAndQueryService(ServiceRoute json, ServiceRoute query);

// Decodes an application/x-www-form-urlencoded body ('+' is a space).
std::map<std::string, std::string> ParseForm(std::string_view body);

// Appends <tag>escaped text</tag>.
void XmlElement(std::string* out, std::string_view tag, std::string_view text);

}  // namespace sluice
