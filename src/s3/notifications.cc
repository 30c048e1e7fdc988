#include "s3/notifications.h"

#include <atomic>

#include "absl/time/clock.h"
#include "base/strings.h"
#include "pugixml.hpp"

namespace sluice {
namespace {

constexpr const char kEmpty[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></NotificationConfiguration>";

// S3's sequencer: a hex string that grows with every change of a key.
std::string Sequencer() {
  static std::atomic<uint64_t> counter{0};
  uint64_t v = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())) * 16 + (counter.fetch_add(1) & 15);
  char buf[24];
  snprintf(buf, sizeof buf, "%016llX", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

Notifications::Notifications(ObjectStore& store, std::string region) : store_(store), region_(std::move(region)) {
  store_.SetListener([this](const ObjectChange& c) { OnChange(c); });
}

absl::Status Notifications::Put(const std::string& bucket, const std::string& xml) {
  pugi::xml_document doc;
  pugi::xml_node root;
  if (!doc.load_buffer(xml.data(), xml.size()) || !(root = doc.child("NotificationConfiguration"))) {
    return S3Error(absl::StatusCode::kInvalidArgument, "MalformedXML",
                   "The XML you provided was not well-formed or did not validate against our published schema");
  }
  bool eventbridge = false;
  std::vector<std::string> unsupported;
  for (pugi::xml_node n : root.children()) {
    std::string name = n.name();
    if (name == "EventBridgeConfiguration") {
      eventbridge = true;
    } else if (name == "QueueConfiguration" || name == "TopicConfiguration" || name == "CloudFunctionConfiguration" ||
               name == "LambdaFunctionConfiguration") {
      std::string arn = n.child_value("Queue");
      if (arn.empty()) arn = n.child_value("Topic");
      if (arn.empty()) arn = n.child_value("CloudFunction");
      unsupported.push_back(arn.empty() ? name : arn);
    } else if (n.type() == pugi::node_element) {
      return S3Error(absl::StatusCode::kInvalidArgument, "MalformedXML",
                     StrCat("Unknown element ", name, " in NotificationConfiguration"));
    }
  }
  if (!unsupported.empty()) {
    // What S3 says when it cannot reach a destination; Sluice has no SQS, SNS or Lambda yet.
    return S3Error(absl::StatusCode::kInvalidArgument, "InvalidArgument",
                   StrCat("Unable to validate the following destination configurations: ", Join(unsupported, ", "),
                          " (Sluice delivers bucket notifications to EventBridge only, until its SQS, SNS and Lambda "
                          "services exist)"));
  }
  std::string stored = eventbridge ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                     "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                                     "<EventBridgeConfiguration></EventBridgeConfiguration></NotificationConfiguration>"
                                   : "";
  RETURN_IF_ERROR(store_.SetBucketConfig(bucket, "notification", stored));
  std::unique_lock lock(mu_);
  enabled_[bucket] = eventbridge;
  return absl::OkStatus();
}

absl::StatusOr<std::string> Notifications::Get(const std::string& bucket) {
  ASSIGN_OR_RETURN(std::string xml, store_.GetBucketConfig(bucket, "notification"));
  return xml.empty() ? std::string(kEmpty) : xml;
}

void Notifications::Forget(const std::string& bucket) {
  std::unique_lock lock(mu_);
  enabled_.erase(bucket);
}

bool Notifications::EventBridgeEnabled(const std::string& bucket) {
  {
    std::shared_lock lock(mu_);
    auto it = enabled_.find(bucket);
    if (it != enabled_.end()) return it->second;
  }
  auto xml = store_.GetBucketConfig(bucket, "notification");
  bool on = xml.ok() && xml->find("EventBridgeConfiguration") != std::string::npos;
  std::unique_lock lock(mu_);
  enabled_[bucket] = on;
  return on;
}

void Notifications::OnChange(const ObjectChange& c) {
  if (!eventbridge_ || !EventBridgeEnabled(c.bucket)) return;
  nlohmann::json object = {{"key", c.key}, {"sequencer", Sequencer()}};
  std::string type;
  nlohmann::json detail = {{"version", "0"}, {"bucket", {{"name", c.bucket}}}};
  switch (c.kind) {
    case ObjectChange::Kind::kCreated:
      type = "Object Created";
      object["size"] = c.size;
      object["etag"] = c.etag;
      break;
    case ObjectChange::Kind::kRemoved:
      type = "Object Deleted";
      detail["deletion-type"] = "Permanently Deleted";
      break;
    case ObjectChange::Kind::kTagsAdded:
      type = "Object Tags Added";
      object["etag"] = c.etag;
      break;
  }
  detail["object"] = object;
  detail["request-id"] = c.request_id.empty() ? Sequencer() : c.request_id;
  detail["requester"] = "000000000000";
  detail["source-ip-address"] = c.source_ip.empty() ? "127.0.0.1" : c.source_ip;
  detail["reason"] = c.reason;
  eventbridge_("default", {{"source", "aws.s3"}, {"detail-type", type},
                           {"resources", {StrCat("arn:aws:s3:::", c.bucket)}}, {"detail", detail}});
}

}  // namespace sluice
