#include "http/query_api.h"

#include <algorithm>
#include <memory>

#include "base/strings.h"
#include "http/message.h"

namespace sluice {

const std::string* QueryParams::Find(std::string_view name) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? nullptr : &it->second;
}

std::string QueryParams::Get(std::string_view name, std::string_view fallback) const {
  const std::string* v = Find(name);
  return v ? *v : std::string(fallback);
}

namespace {

std::string ItemPrefix(std::string_view prefix, std::string_view member, int n) {
  return member.empty() ? StrCat(prefix, ".", n) : StrCat(prefix, ".", member, ".", n);
}

}  // namespace

std::vector<std::string> QueryParams::List(std::string_view prefix, std::string_view member) const {
  std::vector<std::string> out;
  for (int n = 1;; ++n) {
    const std::string* v = Find(ItemPrefix(prefix, member, n));
    if (!v) break;
    out.push_back(*v);
  }
  return out;
}

std::vector<std::string> QueryParams::StructPrefixes(std::string_view prefix, std::string_view member) const {
  std::vector<std::string> out;
  for (int n = 1;; ++n) {
    std::string p = ItemPrefix(prefix, member, n) + ".";
    auto it = values_.lower_bound(p);
    if (it == values_.end() || it->first.compare(0, p.size(), p) != 0) break;
    p.pop_back();
    out.push_back(std::move(p));
  }
  return out;
}

std::map<std::string, std::string> QueryParams::Map(std::string_view prefix, std::string_view entry,
                                                    std::string_view key, std::string_view value) const {
  std::map<std::string, std::string> out;
  for (const auto& p : StructPrefixes(prefix, entry)) {
    const std::string* k = Find(StrCat(p, ".", key));
    if (!k) continue;
    out[*k] = Get(StrCat(p, ".", value));
  }
  return out;
}

std::map<std::string, std::string> ParseForm(std::string_view body) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t amp = body.find('&', pos);
    if (amp == std::string_view::npos) amp = body.size();
    std::string_view pair = body.substr(pos, amp - pos);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      std::string name = UriDecode(pair.substr(0, eq), true);
      std::string value = eq == std::string_view::npos ? "" : UriDecode(pair.substr(eq + 1), true);
      out.emplace(std::move(name), std::move(value));  // the first occurrence wins
    }
    pos = amp + 1;
  }
  return out;
}

void XmlElement(std::string* out, std::string_view tag, std::string_view text) {
  StrAppend(out, "<", tag, ">", XmlEscape(text), "</", tag, ">");
}

ServiceRoute MakeQueryService(QueryServiceSpec spec) {
  ServiceRoute route;
  route.signing_name = spec.signing_name;
  route.protocol = AwsProtocol::kQuery;
  route.body_limit = spec.body_limit;
  auto shared = std::make_shared<QueryServiceSpec>(std::move(spec));
  route.handler = [shared](HttpRequest& req, const SigV4Auth&) -> std::unique_ptr<Operation> {
    std::string request_id = req.request_id;
    const HttpRequest* request = &req;
    return std::make_unique<BufferedOperation>(
        [shared, request_id, request](std::string body) {
          std::map<std::string, std::string> values;
          if (request->method == "POST") {
            values = ParseForm(body);
          } else if (request->method != "GET") {
            return RenderError(AwsProtocol::kQuery,
                               AwsError{400, "InvalidAction", "Query protocol requests must be POST or GET.", {}},
                               request_id);
          }
          for (const auto& [k, v] : request->query) values.emplace(k, v);
          QueryParams params(std::move(values));
          std::string action = params.Get("Action");
          if (action.empty()) {
            return RenderError(AwsProtocol::kQuery,
                               AwsError{400, "MissingAction", "The request must contain the parameter Action.", {}},
                               request_id);
          }
          QueryReply reply = shared->dispatch(action, params, *request);
          if (reply.error) return RenderError(AwsProtocol::kQuery, *reply.error, request_id);
          HttpResponse r;
          r.SetHeader("Content-Type", "text/xml");
          r.SetHeader("x-amzn-RequestId", request_id);
          r.SetHeader("x-amz-request-id", request_id);
          std::string out = StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<", action, "Response xmlns=\"",
                                   shared->xml_namespace, "\">");
          if (reply.has_result) StrAppend(&out, "<", action, "Result>", reply.result_xml, "</", action, "Result>");
          StrAppend(&out, "<ResponseMetadata><RequestId>", request_id, "</RequestId></ResponseMetadata></", action,
                    "Response>");
          r.body = std::move(out);
          return r;
        },
        shared->body_limit, AwsProtocol::kQuery, request_id);
  };
  return route;
}

ServiceRoute MakeJsonAndQueryService(ServiceRoute json, ServiceRoute query) {
  ServiceRoute route;
  route.signing_name = query.signing_name;
  route.protocol = AwsProtocol::kQuery;
  route.target_prefixes = json.target_prefixes;
  route.body_limit = std::max(json.body_limit, query.body_limit);
  route.handler = [json_handler = std::move(json.handler), query_handler = std::move(query.handler)](
                      HttpRequest& req, const SigV4Auth& auth) -> std::unique_ptr<Operation> {
    if (req.Header("x-amz-target")) return json_handler(req, auth);
    return query_handler(req, auth);
  };
  return route;
}

}  // namespace sluice
