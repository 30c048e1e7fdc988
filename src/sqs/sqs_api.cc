// The SQS route: the JSON protocol (awsJson1_0, X-Amz-Target AmazonSQS.<Action>) and the
// query protocol (Action=<Action>, XML replies), both decoded into the JSON shapes
// Sqs::Call takes.
#include "base/strings.h"
#include "http/json_api.h"
#include "http/query_api.h"
#include "sqs/errors.h"
#include "sqs/sqs.h"

namespace sluice {
namespace {

using Json = nlohmann::json;

std::string Endpoint(const HttpRequest& req) {
  std::string host = req.HeaderOr("host");
  return StrCat("http://", host.empty() ? std::string("localhost:4566") : host);
}

// ----- query parameters → JSON input

bool StartsWith(std::string_view s, std::string_view prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

Json MessageAttributeMap(const QueryParams& p, const std::string& prefix) {
  Json out = Json::object();
  for (const auto& item : p.StructPrefixes(prefix, "")) {
    const std::string* name = p.Find(item + ".Name");
    if (!name) continue;
    Json v = Json::object();
    for (const char* f : {"DataType", "StringValue", "BinaryValue"}) {
      if (const std::string* x = p.Find(StrCat(item, ".Value.", f))) v[f] = *x;
    }
    out[*name] = std::move(v);
  }
  return out;
}

Json DecodeLevel(const QueryParams& p, const std::string& pre, const std::string& action) {
  Json j = Json::object();
  for (auto it = p.all().lower_bound(pre); it != p.all().end() && StartsWith(it->first, pre); ++it) {
    std::string rest = it->first.substr(pre.size());
    if (rest.find('.') == std::string::npos && rest != "Action" && rest != "Version") j[rest] = it->second;
  }
  auto pairs = [&](const char* name, const char* key, const char* value, const char* out) {
    Json m = Json::object();
    for (const auto& item : p.StructPrefixes(pre + name, "")) {
      const std::string* k = p.Find(StrCat(item, ".", key));
      if (k) m[*k] = p.Get(StrCat(item, ".", value));
    }
    if (!m.empty()) j[out] = std::move(m);
  };
  pairs("Attribute", "Name", "Value", "Attributes");
  pairs("Tag", "Key", "Value", action == "CreateQueue" ? "tags" : "Tags");
  auto list = [&](const char* name, const char* out) {
    auto v = p.List(pre + name, "");
    if (!v.empty()) j[out] = v;
  };
  list("AttributeName", "AttributeNames");
  list("MessageSystemAttributeName", "MessageSystemAttributeNames");
  list("MessageAttributeName", "MessageAttributeNames");
  list("TagKey", "TagKeys");
  if (Json m = MessageAttributeMap(p, pre + "MessageAttribute"); !m.empty()) j["MessageAttributes"] = std::move(m);
  if (Json m = MessageAttributeMap(p, pre + "MessageSystemAttribute"); !m.empty()) {
    j["MessageSystemAttributes"] = std::move(m);
  }
  if (pre.empty()) {
    for (const char* batch :
         {"SendMessageBatchRequestEntry", "DeleteMessageBatchRequestEntry", "ChangeMessageVisibilityBatchRequestEntry"}) {
      auto items = p.StructPrefixes(batch, "");
      if (items.empty()) continue;
      Json entries = Json::array();
      for (const auto& item : items) entries.push_back(DecodeLevel(p, item + ".", action));
      j["Entries"] = std::move(entries);
    }
  }
  return j;
}

// ----- JSON output → query XML

std::string Scalar(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return v.dump();
}

void RenderXml(std::string* out, const Json& obj, const std::string& action) {
  for (const auto& [k, v] : obj.items()) {
    if (v.is_array()) {
      std::string item = k == "QueueUrls" || k == "queueUrls" ? "QueueUrl"
                         : k == "Messages"                    ? "Message"
                         : k == "Failed"                      ? "BatchResultErrorEntry"
                         : k == "Results"                     ? "ListMessageMoveTasksResultEntry"
                         : k == "Successful"                  ? action + "ResultEntry"
                                                              : k;
      for (const auto& e : v) {
        if (e.is_object()) {
          StrAppend(out, "<", item, ">");
          RenderXml(out, e, action);
          StrAppend(out, "</", item, ">");
        } else {
          XmlElement(out, item, Scalar(e));
        }
      }
    } else if (v.is_object() && (k == "Attributes" || k == "Tags")) {
      const char* item = k == "Tags" ? "Tag" : "Attribute";
      const char* key = k == "Tags" ? "Key" : "Name";
      for (const auto& [name, value] : v.items()) {
        StrAppend(out, "<", item, ">");
        XmlElement(out, key, name);
        XmlElement(out, "Value", Scalar(value));
        StrAppend(out, "</", item, ">");
      }
    } else if (v.is_object() && k == "MessageAttributes") {
      for (const auto& [name, value] : v.items()) {
        StrAppend(out, "<MessageAttribute>");
        XmlElement(out, "Name", name);
        StrAppend(out, "<Value>");
        RenderXml(out, value, action);
        StrAppend(out, "</Value></MessageAttribute>");
      }
    } else if (v.is_object()) {
      StrAppend(out, "<", k, ">");
      RenderXml(out, v, action);
      StrAppend(out, "</", k, ">");
    } else {
      XmlElement(out, k, Scalar(v));
    }
  }
}

AwsError ToAwsError(const absl::Status& st, bool json) {
  std::string shape = SqsErrorCode(st);
  sqs::ErrorInfo info = sqs::InfoOf(shape);
  std::string message = std::string(st.message());
  if (shape == "InternalError") message = "Internal error: " + message;
  if (!json) return AwsError{info.status, info.query_code, message, {}};
  AwsError e{info.status, "com.amazonaws.sqs#" + shape, message, {}};
  e.With("x-amzn-query-error", StrCat(info.query_code, ";", info.sender ? "Sender" : "Receiver"));
  return e;
}

}  // namespace

ServiceRoute MakeSqsService(Sqs& sqs) {
  JsonServiceSpec json;
  json.signing_name = "sqs";
  json.target_prefix = "AmazonSQS";
  json.content_type = "application/x-amz-json-1.0";
  json.body_limit = 4 << 20;  // 1 MiB messages, base64 binary attributes, escaping
  json.dispatch = [&sqs](const std::string& action, const Json& in, const HttpRequest& req) {
    auto out = sqs.Call(action, in, Endpoint(req));
    JsonReply r;
    if (out.ok()) {
      r.body = std::move(*out);
    } else {
      r.error = ToAwsError(out.status(), true);
    }
    return r;
  };
  QueryServiceSpec query;
  query.signing_name = "sqs";
  query.xml_namespace = "http://queue.amazonaws.com/doc/2012-11-05/";
  query.body_limit = 4 << 20;
  query.dispatch = [&sqs](const std::string& action, const QueryParams& params, const HttpRequest& req) {
    Json in = DecodeLevel(params, "", action);
    if (!in.contains("QueueUrl") && std::count(req.path.begin(), req.path.end(), '/') == 2 && req.path.size() > 2) {
      in["QueueUrl"] = UriDecode(req.path);  // older clients address the queue by the request path
    }
    auto out = sqs.Call(action, in, Endpoint(req));
    QueryReply r;
    if (!out.ok()) {
      r.error = ToAwsError(out.status(), false);
      return r;
    }
    if (out->empty() && action != "ListQueues" && action != "ReceiveMessage" && action != "GetQueueAttributes" &&
        action != "ListQueueTags") {
      r.has_result = false;
      return r;
    }
    RenderXml(&r.result_xml, *out, action);
    return r;
  };
  return MakeJsonAndQueryService(MakeJsonService(std::move(json)), MakeQueryService(std::move(query)));
}

}  // namespace sluice
