#include "s3/notifications.h"

#include <algorithm>
#include <atomic>
#include <set>

#include "absl/time/clock.h"
#include "base/ids.h"
#include "base/strings.h"
#include "http/aws_error.h"
#include "http/message.h"
#include "pugixml.hpp"
#include "spdlog/spdlog.h"

namespace sluice {
namespace {

constexpr const char kNamespace[] = "http://s3.amazonaws.com/doc/2006-03-01/";
constexpr const char kEmpty[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></NotificationConfiguration>";

// The sequencer of an outbox row: grows with the commits of a key, and is the same when a
// row is delivered again.
std::string Sequencer(const OutboxEntry& e) {
  uint64_t v = static_cast<uint64_t>(absl::ToUnixMicros(e.time)) * 16 + static_cast<uint64_t>(e.id & 15);
  char buf[24];
  snprintf(buf, sizeof buf, "%016llX", static_cast<unsigned long long>(v));
  return buf;
}

// A fresh sequencer-like id (test events' RequestId).
std::string Sequencer() {
  static std::atomic<uint64_t> counter{0};
  uint64_t v = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())) * 16 + (counter.fetch_add(1) & 15);
  char buf[24];
  snprintf(buf, sizeof buf, "%016llX", static_cast<unsigned long long>(v));
  return buf;
}

absl::Status Malformed(std::string_view why) {
  return S3Error(absl::StatusCode::kInvalidArgument, "MalformedXML",
                 StrCat("The XML you provided was not well-formed or did not validate against our published schema",
                        why.empty() ? "" : ": ", why));
}

// The event types S3 accepts in a queue/topic/Lambda configuration.
bool KnownEvent(const std::string& e) {
  static const char* kEvents[] = {
      "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post", "s3:ObjectCreated:Copy",
      "s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete",
      "s3:ObjectRemoved:DeleteMarkerCreated", "s3:ObjectTagging:*", "s3:ObjectTagging:Put",
      "s3:ObjectTagging:Delete", "s3:ObjectRestore:*", "s3:ObjectRestore:Post", "s3:ObjectRestore:Completed",
      "s3:ObjectRestore:Delete", "s3:ReducedRedundancyLostObject", "s3:Replication:*",
      "s3:LifecycleExpiration:*", "s3:LifecycleExpiration:Delete", "s3:LifecycleExpiration:DeleteMarkerCreated",
      "s3:LifecycleTransition", "s3:IntelligentTiering", "s3:ObjectAcl:Put"};
  for (const char* k : kEvents) {
    if (e == k) return true;
  }
  return false;
}

// "ObjectCreated:Put" for a change, as the record's eventName says.
std::string EventName(const ObjectChange& c) {
  switch (c.kind) {
    case ObjectChange::Kind::kCreated:
      if (c.reason == "CopyObject") return "ObjectCreated:Copy";
      if (c.reason == "CompleteMultipartUpload") return "ObjectCreated:CompleteMultipartUpload";
      if (c.reason == "PostObject") return "ObjectCreated:Post";
      return "ObjectCreated:Put";
    case ObjectChange::Kind::kRemoved:
      return "ObjectRemoved:Delete";
    case ObjectChange::Kind::kTagsAdded:
      return "ObjectTagging:Put";
  }
  return "";
}

bool Matches(const std::vector<std::string>& events, const std::string& name) {
  std::string full = "s3:" + name;
  std::string family = full.substr(0, full.rfind(':')) + ":*";
  for (const auto& e : events) {
    if (e == full || e == family) return true;
  }
  return false;
}

}  // namespace

Notifications::Notifications(ObjectStore& store, std::string region) : store_(store), region_(std::move(region)) {
  store_.SetOutboxPlanner([this](const ObjectChange& c) { return Plan(c); });
  store_.SetListener([this](const ObjectChange&) { Wake(); });
}

Notifications::~Notifications() { Stop(); }

void Notifications::Start() {
  if (thread_.joinable()) return;
  stop_ = false;
  pending_ = true;  // rows a crash left
  thread_ = std::thread([this] { Dispatch(); });
}

void Notifications::Stop() {
  {
    std::lock_guard lock(wake_mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Notifications::Wake() {
  {
    std::lock_guard lock(wake_mu_);
    pending_ = true;
  }
  wake_.notify_one();
}

void Notifications::Dispatch() {
  absl::Time next = absl::InfiniteFuture();
  for (;;) {
    {
      std::unique_lock lock(wake_mu_);
      if (!stop_ && !pending_) {
        if (next == absl::InfiniteFuture()) {
          wake_.wait(lock, [&] { return stop_ || pending_; });
        } else {
          wake_.wait_for(lock, absl::ToChronoNanoseconds(std::max(next - absl::Now(), absl::ZeroDuration())),
                         [&] { return stop_ || pending_; });
        }
      }
      if (stop_) return;
      pending_ = false;
    }
    // No exception leaves this thread: a pass that throws is logged and tried again.
    try {
      next = Pass();
    } catch (const std::exception& e) {
      spdlog::error("s3 notification dispatcher: {}", e.what());
      next = absl::Now() + absl::Seconds(1);
    } catch (...) {
      spdlog::error("s3 notification dispatcher: unknown exception");
      next = absl::Now() + absl::Seconds(1);
    }
  }
}

absl::Time Notifications::Pass() {
  constexpr int kBatch = 256;
  absl::Time now = absl::Now();
  absl::Time next = absl::InfiniteFuture();
  std::set<std::string> blocked;  // keys with an earlier row still owed: later rows wait (order per key)
  std::vector<int64_t> done;
  auto flush = [&] {
    if (auto st = store_.DeleteOutbox(done); !st.ok()) {
      spdlog::error("s3 notification outbox: removing delivered rows failed (they are delivered again): {}",
                    std::string(st.message()));
      next = std::min(next, now + absl::Seconds(1));
    }
    done.clear();
  };
  int64_t after = 0;
  while (!stop_) {
    auto rows = store_.ReadOutbox(after, kBatch);
    if (!rows.ok()) {
      spdlog::error("s3 notification outbox: {}", std::string(rows.status().message()));
      next = std::min(next, now + absl::Seconds(1));
      break;
    }
    for (const OutboxEntry& e : *rows) {
      if (stop_) break;
      after = e.id;
      std::string key = StrCat(e.change.bucket, "/", e.change.key);
      if (blocked.contains(key)) continue;
      auto retry = retries_.find(e.id);
      if (retry != retries_.end() && retry->second.next > now) {
        blocked.insert(key);
        next = std::min(next, retry->second.next);
        continue;
      }
      nlohmann::json targets = nlohmann::json::parse(e.targets, nullptr, false);
      nlohmann::json remaining = nlohmann::json::array();
      std::string error;
      if (!targets.is_array()) {
        spdlog::error("s3 notification outbox: row {} is unreadable; dropped", e.id);
        targets = nlohmann::json::array();
      }
      for (const auto& t : targets) {
        absl::Status st;
        try {
          st = Deliver(e, t);
        } catch (const std::exception& ex) {
          st = absl::InternalError(ex.what());
        }
        if (!st.ok()) {
          remaining.push_back(t);
          error = std::string(st.message());
        }
      }
      if (remaining.empty()) {
        retries_.erase(e.id);
        done.push_back(e.id);
        continue;
      }
      Retry& r = retries_[e.id];
      ++r.attempts;
      if (r.attempts >= kMaxAttempts || now - e.time > kMaxAge) {
        spdlog::error("s3 notification: giving up on {} of s3://{}/{} after {} attempts: {}", e.change.reason,
                      e.change.bucket, e.change.key, r.attempts, error);
        retries_.erase(e.id);
        done.push_back(e.id);
        continue;
      }
      spdlog::warn("s3 notification: {} of s3://{}/{} failed (attempt {}, retried): {}", e.change.reason,
                   e.change.bucket, e.change.key, r.attempts, error);
      if (remaining.size() < targets.size()) {
        if (auto st = store_.UpdateOutbox(e.id, remaining.dump()); !st.ok()) {
          spdlog::warn("s3 notification outbox: {}", std::string(st.message()));
        }
      }
      r.next = now + std::min(absl::Seconds(1) * (int64_t{1} << std::min(r.attempts - 1, 16)), kMaxBackoff);
      next = std::min(next, r.next);
      blocked.insert(key);
    }
    if (!done.empty()) flush();
    if (static_cast<int>(rows->size()) < kBatch) break;
  }
  return next;
}

absl::StatusOr<Notifications::BucketConfig> Notifications::Parse(const std::string& xml, std::string* normalized) {
  pugi::xml_document doc;
  pugi::xml_node root;
  // As s3::LoadXml: whitespace-only text (a filter value of " ") is data.
  if (!doc.load_buffer(xml.data(), xml.size(), pugi::parse_default | pugi::parse_ws_pcdata_single) ||
      !(root = doc.child("NotificationConfiguration"))) {
    return Malformed("");
  }
  BucketConfig config;
  std::string out = StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<NotificationConfiguration xmlns=\"",
                           kNamespace, "\">");
  for (pugi::xml_node n : root.children()) {
    if (n.type() != pugi::node_element) continue;
    std::string name = n.name();
    if (name == "EventBridgeConfiguration") {
      config.eventbridge = true;
      continue;
    }
    bool queue = name == "QueueConfiguration", topic = name == "TopicConfiguration";
    bool lambda = name == "CloudFunctionConfiguration" || name == "LambdaFunctionConfiguration";
    if (!queue && !topic && !lambda) return Malformed(StrCat("unknown element ", name));
    Destination d;
    d.topic = topic;
    d.id = n.child_value("Id");
    if (d.id.empty()) d.id = RandomHex(16);
    d.arn = n.child_value(queue ? "Queue" : topic ? "Topic" : (n.child("CloudFunction") ? "CloudFunction" : "LambdaFunctionArn"));
    if (d.arn.empty()) return Malformed(StrCat(name, " has no destination ARN"));
    d.function = lambda;
    for (pugi::xml_node e : n.children("Event")) {
      std::string ev = e.child_value();
      if (!KnownEvent(ev)) {
        return S3Error(absl::StatusCode::kInvalidArgument, "InvalidArgument",
                       StrCat("The event is not supported for notifications: ", ev));
      }
      d.events.push_back(ev);
    }
    if (d.events.empty()) return Malformed(StrCat(name, " names no Event"));
    for (pugi::xml_node rule : n.child("Filter").child("S3Key").children("FilterRule")) {
      std::string rule_name = AsciiLower(rule.child_value("Name"));
      std::string value = rule.child_value("Value");
      std::string* slot = rule_name == "prefix" ? &d.prefix : rule_name == "suffix" ? &d.suffix : nullptr;
      if (!slot) {
        return S3Error(absl::StatusCode::kInvalidArgument, "InvalidArgument",
                       StrCat("filter rule name must be either prefix or suffix"));
      }
      if (!slot->empty()) {
        return S3Error(absl::StatusCode::kInvalidArgument, "InvalidArgument",
                       StrCat("Cannot specify more than one ", rule_name, " rule in a filter."));
      }
      *slot = value;
    }
    // Two configurations may not share an event type for keys both can match.
    for (const auto& other : config.destinations) {
      bool prefixes_overlap = d.prefix.starts_with(other.prefix) || other.prefix.starts_with(d.prefix);
      bool suffixes_overlap = d.suffix.ends_with(other.suffix) || other.suffix.ends_with(d.suffix);
      bool events_overlap = false;
      for (const auto& a : d.events) {
        for (const auto& b : other.events) {
          std::string fa = a.substr(0, a.rfind(':')), fb = b.substr(0, b.rfind(':'));
          if (a == b || (fa == fb && (a.ends_with(":*") || b.ends_with(":*")))) events_overlap = true;
        }
      }
      if (prefixes_overlap && suffixes_overlap && events_overlap) {
        return S3Error(absl::StatusCode::kInvalidArgument, "InvalidArgument",
                       "Configurations overlap. Configurations on the same bucket cannot share a common event type.");
      }
    }
    const char* element = queue ? "Queue" : topic ? "Topic" : "CloudFunction";
    StrAppend(&out, "<", name, "><Id>", XmlEscape(d.id), "</Id><", element, ">", XmlEscape(d.arn), "</", element, ">");
    for (const auto& e : d.events) StrAppend(&out, "<Event>", XmlEscape(e), "</Event>");
    if (!d.prefix.empty() || !d.suffix.empty()) {
      StrAppend(&out, "<Filter><S3Key>");
      if (!d.prefix.empty()) StrAppend(&out, "<FilterRule><Name>Prefix</Name><Value>", XmlEscape(d.prefix), "</Value></FilterRule>");
      if (!d.suffix.empty()) StrAppend(&out, "<FilterRule><Name>Suffix</Name><Value>", XmlEscape(d.suffix), "</Value></FilterRule>");
      StrAppend(&out, "</S3Key></Filter>");
    }
    StrAppend(&out, "</", name, ">");
    config.destinations.push_back(std::move(d));
  }
  if (config.eventbridge) StrAppend(&out, "<EventBridgeConfiguration></EventBridgeConfiguration>");
  StrAppend(&out, "</NotificationConfiguration>");
  *normalized = config.eventbridge || !config.destinations.empty() ? out : "";
  return config;
}

absl::Status Notifications::Put(const std::string& bucket, const std::string& xml) {
  std::string stored;
  ASSIGN_OR_RETURN(BucketConfig config, Parse(xml, &stored));
  // S3 validates every destination (it must exist and accept S3's messages) before saving.
  std::vector<std::string> unreachable;
  for (const auto& d : config.destinations) {
    const MessageSink& sink = d.function ? functions_ : d.topic ? topics_ : queues_;
    if (!sink.exists || !sink.exists(d.arn)) unreachable.push_back(d.arn);
  }
  if (!unreachable.empty()) {
    return S3Error(absl::StatusCode::kInvalidArgument, "InvalidArgument",
                   StrCat("Unable to validate the following destination configurations: ", Join(unreachable, ", ")));
  }
  std::shared_ptr<const BucketConfig> previous = ConfigOf(bucket);
  RETURN_IF_ERROR(store_.SetBucketConfig(bucket, "notification", stored));
  {
    std::unique_lock lock(mu_);
    configs_[bucket] = std::make_shared<const BucketConfig>(config);
  }
  // S3 sends a test event to each destination it was not sending to before.
  for (const auto& d : config.destinations) {
    bool known = d.function;  // functions get no s3:TestEvent
    for (const auto& p : previous->destinations) known = known || p.arn == d.arn;
    if (known) continue;
    nlohmann::json test = {{"Service", "Amazon S3"},
                           {"Event", "s3:TestEvent"},
                           {"Time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone())},
                           {"Bucket", bucket},
                           {"RequestId", Sequencer()},
                           {"HostId", RandomHex(32)}};
    const MessageSink& sink = d.function ? functions_ : d.topic ? topics_ : queues_;
    if (auto st = sink.send(d.arn, test.dump()); !st.ok()) {
      spdlog::warn("s3 notification: test event to {} failed: {}", d.arn, std::string(st.message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Notifications::Get(const std::string& bucket) {
  ASSIGN_OR_RETURN(std::string xml, store_.GetBucketConfig(bucket, "notification"));
  return xml.empty() ? std::string(kEmpty) : xml;
}

void Notifications::Forget(const std::string& bucket) {
  std::unique_lock lock(mu_);
  configs_.erase(bucket);
}

std::shared_ptr<const Notifications::BucketConfig> Notifications::ConfigOf(const std::string& bucket) {
  {
    std::shared_lock lock(mu_);
    auto it = configs_.find(bucket);
    if (it != configs_.end()) return it->second;
  }
  auto config = std::make_shared<BucketConfig>();
  auto xml = store_.GetBucketConfig(bucket, "notification");
  std::string ignored;
  if (xml.ok() && !xml->empty()) {
    if (auto parsed = Parse(*xml, &ignored); parsed.ok()) {
      *config = std::move(*parsed);
    } else if (xml->find("EventBridgeConfiguration") != std::string::npos) {
      config->eventbridge = true;
    }
  }
  std::unique_lock lock(mu_);
  return configs_.emplace(bucket, std::move(config)).first->second;
}

std::string Notifications::Plan(const ObjectChange& c) {
  std::shared_ptr<const BucketConfig> config = ConfigOf(c.bucket);
  if (!config->eventbridge && config->destinations.empty()) return "";
  nlohmann::json targets = nlohmann::json::array();
  if (config->eventbridge) targets.push_back({{"t", "events"}});
  std::string name = EventName(c);
  for (const auto& d : config->destinations) {
    if (!Matches(d.events, name) || !c.key.starts_with(d.prefix) || !c.key.ends_with(d.suffix)) continue;
    targets.push_back({{"t", d.function ? "function" : d.topic ? "topic" : "queue"}, {"arn", d.arn}, {"id", d.id}});
  }
  return targets.empty() ? "" : targets.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::Status Notifications::Deliver(const OutboxEntry& e, const nlohmann::json& target) {
  std::string type = target.value("t", "");
  if (type == "events") {
    if (!eventbridge_) return absl::OkStatus();  // no EventBridge in this process
    return eventbridge_("default", EventBridgeEvent(e));
  }
  const MessageSink& sink = type == "function" ? functions_ : type == "topic" ? topics_ : queues_;
  if (!sink.send) return absl::OkStatus();
  return sink.send(target.value("arn", ""), Record(e, target.value("id", "")));
}

std::string Notifications::Record(const OutboxEntry& e, const std::string& config_id) {
  const ObjectChange& c = e.change;
  std::string name = EventName(c);
  std::string sequencer = Sequencer(e);
  std::string time = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", e.time, absl::UTCTimeZone());
  // S3 form-encodes keys in records: spaces become '+'.
  std::string key = UriEncode(c.key, true);
  size_t pos = 0;
  while ((pos = key.find("%20", pos)) != std::string::npos) key.replace(pos, 3, "+");
  nlohmann::json object = {{"key", key}, {"sequencer", sequencer}};
  if (c.kind != ObjectChange::Kind::kRemoved) {
    object["eTag"] = c.etag;
    if (c.kind == ObjectChange::Kind::kCreated) object["size"] = c.size;
  }
  nlohmann::json record = {
      {"eventVersion", "2.1"},
      {"eventSource", "aws:s3"},
      {"awsRegion", region_},
      {"eventTime", time},
      {"eventName", name},
      {"userIdentity", {{"principalId", "AWS:000000000000"}}},
      {"requestParameters", {{"sourceIPAddress", c.source_ip.empty() ? "127.0.0.1" : c.source_ip}}},
      {"responseElements",
       {{"x-amz-request-id", c.request_id.empty() ? sequencer : c.request_id}, {"x-amz-id-2", RandomHex(32)}}},
      {"s3",
       {{"s3SchemaVersion", "1.0"},
        {"configurationId", config_id},
        {"bucket",
         {{"name", c.bucket}, {"ownerIdentity", {{"principalId", "000000000000"}}}, {"arn", "arn:aws:s3:::" + c.bucket}}},
        {"object", object}}}};
  return nlohmann::json{{"Records", {record}}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json Notifications::EventBridgeEvent(const OutboxEntry& e) {
  const ObjectChange& c = e.change;
  nlohmann::json object = {{"key", c.key}, {"sequencer", Sequencer(e)}};
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
  detail["request-id"] = c.request_id.empty() ? Sequencer(e) : c.request_id;
  detail["requester"] = "000000000000";
  detail["source-ip-address"] = c.source_ip.empty() ? "127.0.0.1" : c.source_ip;
  detail["reason"] = c.reason;
  return {{"source", "aws.s3"}, {"detail-type", type}, {"resources", {StrCat("arn:aws:s3:::", c.bucket)}},
          {"detail", detail}};
}

}  // namespace sluice
