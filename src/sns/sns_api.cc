// The SNS query-protocol adapter: decodes the form parameters of each action, calls the
// engine (engine.h) and renders AWS's XML.

#include <set>

#include "base/strings.h"
#include "http/query_api.h"
#include "io/checksum.h"
#include "sns/engine.h"
#include "sns/sns.h"

namespace sluice {
namespace {

constexpr size_t kPageSize = 100;
constexpr size_t kMaxBatchEntries = 10;
constexpr size_t kMaxBatchBytes = 256 * 1024;

QueryReply ErrorOf(const absl::Status& st) {
  std::string code = SnsErrorCode(st);
  return QueryReply::Error(SnsErrorHttpStatus(code), code, std::string(st.message()));
}

QueryReply Result(std::string xml) {
  QueryReply r;
  r.result_xml = std::move(xml);
  return r;
}

QueryReply Empty() {
  QueryReply r;
  r.has_result = false;
  return r;
}

std::string MapXml(std::string_view tag, const StringMap& m) {
  std::string out = StrCat("<", tag, ">");
  for (const auto& [k, v] : m) {
    out += "<entry>";
    XmlElement(&out, "key", k);
    XmlElement(&out, "value", v);
    out += "</entry>";
  }
  StrAppend(&out, "</", tag, ">");
  return out;
}

StringMap Tags(const QueryParams& p) {
  StringMap tags;
  for (const auto& prefix : p.StructPrefixes("Tags")) tags[p.Get(prefix + ".Key")] = p.Get(prefix + ".Value");
  return tags;
}

absl::StatusOr<SnsMessageAttributes> MessageAttributes(const QueryParams& p, const std::string& prefix) {
  SnsMessageAttributes out;
  for (const auto& e : p.StructPrefixes(prefix, "entry")) {
    SnsMessageAttribute a;
    std::string name = p.Get(e + ".Name");
    a.data_type = p.Get(e + ".Value.DataType");
    a.string_value = p.Get(e + ".Value.StringValue");
    if (const std::string* b = p.Find(e + ".Value.BinaryValue")) {
      auto decoded = Base64Decode(*b);
      if (!decoded) return SnsInvalid(StrCat("Invalid parameter: The message attribute '", name, "' has an invalid binary value."));
      a.binary_value = std::move(*decoded);
    }
    out[name] = std::move(a);
  }
  return out;
}

SnsPublishRequest PublishRequestOf(const QueryParams& p, const std::string& prefix, SnsMessageAttributes attrs) {
  SnsPublishRequest r;
  r.message = p.Get(prefix + "Message");
  r.subject = p.Get(prefix + "Subject");
  r.message_structure = p.Get(prefix + "MessageStructure");
  r.message_attributes = std::move(attrs);
  r.message_group_id = p.Get(prefix + "MessageGroupId");
  r.message_deduplication_id = p.Get(prefix + "MessageDeduplicationId");
  return r;
}

std::string PublishResultXml(const SnsPublishResult& r) {
  std::string out;
  XmlElement(&out, "MessageId", r.message_id);
  if (!r.sequence_number.empty()) XmlElement(&out, "SequenceNumber", r.sequence_number);
  return out;
}

QueryReply Missing(const std::string& name) {
  return ErrorOf(SnsInvalid(StrCat("Invalid parameter: ", name, " Reason: no value for required parameter")));
}

QueryReply Publish(Sns::Impl& sns, const QueryParams& p) {
  std::string topic = p.Get("TopicArn"), target = p.Get("TargetArn"), phone = p.Get("PhoneNumber");
  int given = !topic.empty() + !target.empty() + !phone.empty();
  if (given == 0) return ErrorOf(SnsInvalid("Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter"));
  if (given > 1) {
    return ErrorOf(SnsInvalid("Invalid parameter: TopicArn or TargetArn or PhoneNumber Reason: Only one of these parameters may be specified"));
  }
  auto attrs = MessageAttributes(p, "MessageAttributes");
  if (!attrs.ok()) return ErrorOf(attrs.status());
  SnsPublishRequest req = PublishRequestOf(p, "", std::move(*attrs));
  if (!phone.empty()) {
    auto r = sns.PublishSms(phone, req);
    return r.ok() ? Result(PublishResultXml(*r)) : ErrorOf(r.status());
  }
  if (!target.empty()) {
    auto parts = Split(target, ':');
    if (parts.size() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].find('/') != std::string_view::npos) {
      return ErrorOf(SnsInvalid("Invalid parameter: TargetArn Reason: No endpoint found for the target arn specified"));
    }
    topic = target;
  }
  auto r = sns.Publish(topic, std::move(req));
  return r.ok() ? Result(PublishResultXml(*r)) : ErrorOf(r.status());
}

QueryReply PublishBatch(Sns::Impl& sns, const QueryParams& p) {
  std::string topic = p.Get("TopicArn");
  if (topic.empty()) return Missing("TopicArn");
  auto entries = p.StructPrefixes("PublishBatchRequestEntries");
  if (entries.empty()) return ErrorOf(SnsError("EmptyBatchRequest", "The batch request doesn't contain any entries."));
  if (entries.size() > kMaxBatchEntries) {
    return ErrorOf(SnsError("TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible."));
  }
  std::set<std::string> ids;
  size_t total = 0;
  for (const auto& e : entries) {
    std::string id = p.Get(e + ".Id");
    bool valid = !id.empty() && id.size() <= 80 &&
                 std::all_of(id.begin(), id.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; });
    if (!valid) {
      return ErrorOf(SnsError("InvalidBatchEntryId", "The Id of a batch entry in a batch request doesn't abide by the specification."));
    }
    if (!ids.insert(id).second) {
      return ErrorOf(SnsError("BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id."));
    }
    total += p.Get(e + ".Message").size();
    for (const auto& a : p.StructPrefixes(e + ".MessageAttributes", "entry")) {
      total += p.Get(a + ".Name").size() + p.Get(a + ".Value.DataType").size() + p.Get(a + ".Value.StringValue").size() +
               p.Get(a + ".Value.BinaryValue").size() * 3 / 4;
    }
  }
  if (total > kMaxBatchBytes) {
    return ErrorOf(SnsError("BatchRequestTooLong", "The length of all the messages put together is more than the limit."));
  }
  std::string ok_xml, failed_xml;
  for (const auto& e : entries) {
    std::string id = p.Get(e + ".Id");
    absl::StatusOr<SnsPublishResult> r;
    auto attrs = MessageAttributes(p, e + ".MessageAttributes");
    if (!attrs.ok()) {
      r = attrs.status();
    } else {
      r = sns.Publish(topic, PublishRequestOf(p, e + ".", std::move(*attrs)));
    }
    if (!r.ok() && SnsErrorCode(r.status()) == "NotFound") return ErrorOf(r.status());  // the topic: whole request
    if (r.ok()) {
      ok_xml += "<member>";
      XmlElement(&ok_xml, "Id", id);
      ok_xml += PublishResultXml(*r);
      ok_xml += "</member>";
    } else {
      std::string code = SnsErrorCode(r.status());
      failed_xml += "<member>";
      XmlElement(&failed_xml, "Id", id);
      XmlElement(&failed_xml, "Code", code);
      XmlElement(&failed_xml, "Message", std::string(r.status().message()));
      XmlElement(&failed_xml, "SenderFault", SnsErrorHttpStatus(code) < 500 ? "true" : "false");
      failed_xml += "</member>";
    }
  }
  return Result(StrCat("<Successful>", ok_xml, "</Successful><Failed>", failed_xml, "</Failed>"));
}

QueryReply ListSubscriptions(Sns::Impl& sns, const QueryParams& p, bool by_topic) {
  std::string topic = by_topic ? p.Get("TopicArn") : "";
  if (by_topic && topic.empty()) return Missing("TopicArn");
  std::string next;
  auto subs = sns.ListSubscriptions(topic, p.Get("NextToken"), kPageSize, &next);
  if (!subs.ok()) return ErrorOf(subs.status());
  std::string out = "<Subscriptions>";
  for (const auto& s : *subs) {
    out += "<member>";
    XmlElement(&out, "SubscriptionArn", s.subscription_arn);
    XmlElement(&out, "Owner", s.owner);
    XmlElement(&out, "Protocol", s.protocol);
    XmlElement(&out, "Endpoint", s.endpoint);
    XmlElement(&out, "TopicArn", s.topic_arn);
    out += "</member>";
  }
  out += "</Subscriptions>";
  if (!next.empty()) XmlElement(&out, "NextToken", next);
  return Result(std::move(out));
}

QueryReply Dispatch(Sns::Impl& sns, const std::string& action, const QueryParams& p) {
  if (action == "CreateTopic") {
    if (!p.Has("Name")) return Missing("Name");
    auto arn = sns.CreateTopic(p.Get("Name"), p.Map("Attributes"), Tags(p));
    if (!arn.ok()) return ErrorOf(arn.status());
    std::string out;
    XmlElement(&out, "TopicArn", *arn);
    return Result(out);
  }
  if (action == "DeleteTopic") {
    if (!p.Has("TopicArn")) return Missing("TopicArn");
    absl::Status st = sns.DeleteTopic(p.Get("TopicArn"));
    return st.ok() ? Empty() : ErrorOf(st);
  }
  if (action == "GetTopicAttributes") {
    if (!p.Has("TopicArn")) return Missing("TopicArn");
    auto attrs = sns.GetTopicAttributes(p.Get("TopicArn"));
    return attrs.ok() ? Result(MapXml("Attributes", *attrs)) : ErrorOf(attrs.status());
  }
  if (action == "SetTopicAttributes") {
    if (!p.Has("TopicArn")) return Missing("TopicArn");
    if (!p.Has("AttributeName")) return Missing("AttributeName");
    absl::Status st = sns.SetTopicAttribute(p.Get("TopicArn"), p.Get("AttributeName"), p.Get("AttributeValue"));
    return st.ok() ? Empty() : ErrorOf(st);
  }
  if (action == "ListTopics") {
    std::string next;
    auto arns = sns.ListTopics(p.Get("NextToken"), kPageSize, &next);
    std::string out = "<Topics>";
    for (const auto& a : arns) {
      out += "<member>";
      XmlElement(&out, "TopicArn", a);
      out += "</member>";
    }
    out += "</Topics>";
    if (!next.empty()) XmlElement(&out, "NextToken", next);
    return Result(out);
  }
  if (action == "Subscribe") {
    if (!p.Has("TopicArn")) return Missing("TopicArn");
    if (!p.Has("Protocol")) return Missing("Protocol");
    std::string endpoint = p.Get("Endpoint");
    if (endpoint.empty()) return Missing("Endpoint");
    auto arn = sns.Subscribe(p.Get("TopicArn"), p.Get("Protocol"), endpoint, p.Map("Attributes"),
                             EqualsIgnoreCase(p.Get("ReturnSubscriptionArn"), "true"));
    if (!arn.ok()) return ErrorOf(arn.status());
    std::string out;
    XmlElement(&out, "SubscriptionArn", *arn);
    return Result(out);
  }
  if (action == "ConfirmSubscription") {
    if (!p.Has("TopicArn")) return Missing("TopicArn");
    if (!p.Has("Token")) return Missing("Token");
    auto arn = sns.ConfirmSubscription(p.Get("TopicArn"), p.Get("Token"));
    if (!arn.ok()) return ErrorOf(arn.status());
    std::string out;
    XmlElement(&out, "SubscriptionArn", *arn);
    return Result(out);
  }
  if (action == "Unsubscribe") {
    if (!p.Has("SubscriptionArn")) return Missing("SubscriptionArn");
    absl::Status st = sns.Unsubscribe(p.Get("SubscriptionArn"));
    return st.ok() ? Empty() : ErrorOf(st);
  }
  if (action == "ListSubscriptions") return ListSubscriptions(sns, p, false);
  if (action == "ListSubscriptionsByTopic") return ListSubscriptions(sns, p, true);
  if (action == "GetSubscriptionAttributes") {
    if (!p.Has("SubscriptionArn")) return Missing("SubscriptionArn");
    auto attrs = sns.GetSubscriptionAttributes(p.Get("SubscriptionArn"));
    return attrs.ok() ? Result(MapXml("Attributes", *attrs)) : ErrorOf(attrs.status());
  }
  if (action == "SetSubscriptionAttributes") {
    if (!p.Has("SubscriptionArn")) return Missing("SubscriptionArn");
    if (!p.Has("AttributeName")) return Missing("AttributeName");
    absl::Status st =
        sns.SetSubscriptionAttribute(p.Get("SubscriptionArn"), p.Get("AttributeName"), p.Get("AttributeValue"));
    return st.ok() ? Empty() : ErrorOf(st);
  }
  if (action == "Publish") return Publish(sns, p);
  if (action == "PublishBatch") return PublishBatch(sns, p);
  if (action == "TagResource") {
    if (!p.Has("ResourceArn")) return Missing("ResourceArn");
    absl::Status st = sns.TagResource(p.Get("ResourceArn"), Tags(p));
    return st.ok() ? Result("") : ErrorOf(st);
  }
  if (action == "UntagResource") {
    if (!p.Has("ResourceArn")) return Missing("ResourceArn");
    absl::Status st = sns.UntagResource(p.Get("ResourceArn"), p.List("TagKeys"));
    return st.ok() ? Result("") : ErrorOf(st);
  }
  if (action == "ListTagsForResource") {
    if (!p.Has("ResourceArn")) return Missing("ResourceArn");
    auto tags = sns.ListTags(p.Get("ResourceArn"));
    if (!tags.ok()) return ErrorOf(tags.status());
    std::string out = "<Tags>";
    for (const auto& [k, v] : *tags) {
      out += "<member>";
      XmlElement(&out, "Key", k);
      XmlElement(&out, "Value", v);
      out += "</member>";
    }
    out += "</Tags>";
    return Result(out);
  }
  return QueryReply::Error(400, "InvalidAction",
                           StrCat("The action ", action, " is not valid for this web service (or not implemented by Sluice)."));
}

}  // namespace

ServiceRoute MakeSnsService(Sns& sns) {
  QueryServiceSpec spec;
  spec.signing_name = "sns";
  spec.xml_namespace = "http://sns.amazonaws.com/doc/2010-03-31/";
  spec.body_limit = 4 << 20;  // ten 256 KiB messages, form-encoded
  Sns::Impl* impl = &sns.impl();
  spec.dispatch = [impl](const std::string& action, const QueryParams& params, const HttpRequest&) {
    return Dispatch(*impl, action, params);
  };
  return MakeQueryService(std::move(spec));
}

}  // namespace sluice
