#include "sns/sns.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <regex>

#include "absl/strings/cord.h"
#include "base/json.h"
#include "base/ids.h"
#include "base/strings.h"
#include "http/message.h"
#include "io/checksum.h"
#include "io/file.h"
#include "sns/engine.h"
#include "sns/envelope.h"
#include "sns/filter_policy.h"
#include "sns/http_client.h"
#include "spdlog/spdlog.h"

namespace sluice {
namespace {

using Json = nlohmann::json;

constexpr const char kCodePayload[] = "sluice.sns/code";
constexpr size_t kMaxMessageBytes = 256 * 1024;
constexpr size_t kMaxTags = 50;
constexpr absl::Duration kDedupWindow = absl::Minutes(5);
constexpr absl::Duration kHttpTimeout = absl::Seconds(15);

absl::Status NotFound(std::string message) { return SnsError("NotFound", std::move(message)); }

bool IsTopicAttribute(const std::string& name) {
  static const char* kNames[] = {
      "DeliveryPolicy", "DisplayName", "FifoTopic", "Policy", "SignatureVersion", "TracingConfig",
      "KmsMasterKeyId", "ContentBasedDeduplication", "ArchivePolicy", "FifoThroughputScope", "DataProtectionPolicy",
      "HTTPSuccessFeedbackRoleArn", "HTTPSuccessFeedbackSampleRate", "HTTPFailureFeedbackRoleArn",
      "SQSSuccessFeedbackRoleArn", "SQSSuccessFeedbackSampleRate", "SQSFailureFeedbackRoleArn",
      "LambdaSuccessFeedbackRoleArn", "LambdaSuccessFeedbackSampleRate", "LambdaFailureFeedbackRoleArn",
      "FirehoseSuccessFeedbackRoleArn", "FirehoseSuccessFeedbackSampleRate", "FirehoseFailureFeedbackRoleArn",
      "ApplicationSuccessFeedbackRoleArn", "ApplicationSuccessFeedbackSampleRate",
      "ApplicationFailureFeedbackRoleArn"};
  for (const char* n : kNames) {
    if (name == n) return true;
  }
  return false;
}

bool ValidTopicName(std::string_view name, bool fifo) {
  if (fifo) {
    if (!name.ends_with(".fifo")) return false;
    name.remove_suffix(5);
  }
  if (name.empty() || name.size() > (fifo ? 251u : 256u)) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; });
}

// arn:aws:sns:<region>:<account>:<name>
bool ParseTopicArn(const std::string& arn, std::string* name) {
  auto parts = Split(arn, ':');
  if (parts.size() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].empty()) return false;
  *name = std::string(parts[5]);
  return true;
}

bool IsTrue(const std::string& v) { return EqualsIgnoreCase(v, "true"); }

absl::Status CheckBool(const std::string& name, const std::string& v) {
  if (!EqualsIgnoreCase(v, "true") && !EqualsIgnoreCase(v, "false")) {
    return SnsInvalid(StrCat("Invalid parameter: Attributes Reason: ", name, ": Invalid value [", v,
                             "]. Must be true or false."));
  }
  return absl::OkStatus();
}

// MessageGroupId / MessageDeduplicationId: 1-128 of alphanumerics and punctuation.
bool ValidFifoId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 32 && c < 127; });
}

std::string SanitizeAddress(const std::string& address) {
  std::string out;
  for (char c : address) {
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '@' || c == '.' || c == '_' || c == '+' || c == '-' ? c : '_';
  }
  if (out.empty() || out[0] == '.') out = "_" + out;
  return out;
}

Json AttributesJson(const SnsMessageAttributes& attrs) {
  Json out = Json::object();
  for (const auto& [k, a] : attrs) {
    out[k] = {{"t", a.data_type}, {"s", a.string_value}, {"b", Base64Encode(a.binary_value)}};
  }
  return out;
}

SnsMessageAttributes AttributesFromJson(const Json& j) {
  SnsMessageAttributes out;
  if (!j.is_object()) return out;
  for (const auto& [k, v] : j.items()) {
    SnsMessageAttribute a;
    a.data_type = v.value("t", "");
    a.string_value = v.value("s", "");
    a.binary_value = Base64Decode(v.value("b", "")).value_or("");
    out[k] = std::move(a);
  }
  return out;
}

Json DeliveryJson(const SnsDelivery& d) {
  return {{"kind", d.kind},
          {"sub", d.subscription_arn},
          {"topic", d.topic_arn},
          {"id", d.message_id},
          {"message", d.message},
          {"subject", d.subject},
          {"group", d.group_id},
          {"dedup", d.dedup_id},
          {"seq", d.sequence_number},
          {"attrs", AttributesJson(d.attributes)},
          {"ts", absl::ToUnixMillis(d.timestamp)},
          {"order", d.order_key}};
}

std::unique_ptr<SnsDelivery> DeliveryFromJson(const Json& j) {
  auto d = std::make_unique<SnsDelivery>();
  d->kind = j.value("kind", "notification");
  d->subscription_arn = j.value("sub", "");
  d->topic_arn = j.value("topic", "");
  d->message_id = j.value("id", "");
  d->message = j.value("message", "");
  d->subject = j.value("subject", "");
  d->group_id = j.value("group", "");
  d->dedup_id = j.value("dedup", "");
  d->sequence_number = j.value("seq", "");
  d->attributes = AttributesFromJson(j.value("attrs", Json::object()));
  d->timestamp = absl::FromUnixMillis(j.value("ts", int64_t{0}));
  d->order_key = j.value("order", "");
  return d;
}

// The retry schedule of a delivery: AWS's delivery-policy phases (immediate retries, retries
// at the minimum delay, a backoff phase from minimum to maximum, retries at the maximum).
struct RetryPolicy {
  int num_retries = 3;
  int no_delay = 0;
  int min_delay_retries = 0;
  int max_delay_retries = 0;
  double min_delay = 20;
  double max_delay = 20;
  std::string backoff = "linear";
};

// http/https: AWS's default policy. AWS-managed endpoints (sqs, lambda) and the outbox:
// 3 immediate retries, 2 after 1 s, 10 backing off to 60 s, then 35 at 60 s (about 40
// minutes in all; AWS keeps trying for days).
RetryPolicy DefaultPolicy(const std::string& protocol) {
  if (protocol == "http" || protocol == "https") return RetryPolicy{};
  return RetryPolicy{50, 3, 2, 35, 1, 60, "exponential"};
}

void ReadPolicy(const Json& j, RetryPolicy* p) {
  if (!j.is_object()) return;
  p->num_retries = j.value("numRetries", p->num_retries);
  p->no_delay = j.value("numNoDelayRetries", p->no_delay);
  p->min_delay_retries = j.value("numMinDelayRetries", p->min_delay_retries);
  p->max_delay_retries = j.value("numMaxDelayRetries", p->max_delay_retries);
  p->min_delay = j.value("minDelayTarget", p->min_delay);
  p->max_delay = j.value("maxDelayTarget", p->max_delay);
  p->backoff = j.value("backoffFunction", p->backoff);
}

// The delay before retry number `retry` (1-based), or nullopt when retries are exhausted.
std::optional<double> RetryDelay(const RetryPolicy& p, int retry) {
  if (retry > p.num_retries) return std::nullopt;
  if (retry <= p.no_delay) return 0.0;
  if (retry <= p.no_delay + p.min_delay_retries) return p.min_delay;
  if (retry > p.num_retries - p.max_delay_retries) return p.max_delay;
  int steps = p.num_retries - p.no_delay - p.min_delay_retries - p.max_delay_retries;
  int i = retry - p.no_delay - p.min_delay_retries;
  double f = steps <= 0 ? 1.0 : static_cast<double>(i) / steps;
  double lo = std::max(p.min_delay, 0.0), hi = std::max(p.max_delay, lo);
  if (p.backoff == "exponential" && lo > 0) return lo * std::pow(hi / lo, f);
  if (p.backoff == "geometric") return lo + (hi - lo) * f * f;
  if (p.backoff == "arithmetic") return lo + (hi - lo) * f * (f + 1) / 2;
  return lo + (hi - lo) * f;
}

const char* kEffectiveDeliveryPolicy =
    R"({"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,)"
    R"("numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},)"
    R"("disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}})";

absl::Status ValidateDeliveryPolicy(const std::string& value, bool topic) {
  Json j = ParseJson(value);
  if (!j.is_object()) return SnsInvalid("Invalid parameter: DeliveryPolicy: failed to parse JSON.");
  const Json* policy = nullptr;
  if (topic) {
    if (j.contains("http") && j["http"].is_object() && j["http"].contains("defaultHealthyRetryPolicy")) {
      policy = &j["http"]["defaultHealthyRetryPolicy"];
    }
  } else if (j.contains("healthyRetryPolicy")) {
    policy = &j["healthyRetryPolicy"];
  }
  if (!policy) return absl::OkStatus();
  RetryPolicy p;
  ReadPolicy(*policy, &p);
  if (p.min_delay < 1 || p.max_delay > 3600 || p.min_delay > p.max_delay) {
    return SnsInvalid("Invalid parameter: DeliveryPolicy: minDelayTarget must be between 1 and maxDelayTarget, and maxDelayTarget at most 3600");
  }
  if (p.num_retries < 0 || p.num_retries > 100 || p.no_delay < 0 || p.min_delay_retries < 0 || p.max_delay_retries < 0 ||
      p.no_delay + p.min_delay_retries + p.max_delay_retries > p.num_retries) {
    return SnsInvalid("Invalid parameter: DeliveryPolicy: numRetries must be between 0 and 100 and at least the sum of the other retry counts");
  }
  static const char* kFns[] = {"linear", "arithmetic", "geometric", "exponential"};
  if (std::none_of(std::begin(kFns), std::end(kFns), [&](const char* f) { return p.backoff == f; })) {
    return SnsInvalid("Invalid parameter: DeliveryPolicy: backoffFunction must be linear, arithmetic, geometric or exponential");
  }
  return absl::OkStatus();
}

bool IsJsonNumber(const std::string& s) {
  static const std::regex kNumber(R"(-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)");
  return std::regex_match(s, kNumber);
}

absl::Status ValidateAttributes(const SnsMessageAttributes& attrs, size_t* bytes) {
  static const std::regex kName("[A-Za-z0-9_.\\-]+");
  for (const auto& [name, a] : attrs) {
    if (name.empty() || name.size() > 256 || !std::regex_match(name, kName) || name.front() == '.' ||
        name.back() == '.' || name.find("..") != std::string::npos || AsciiLower(name).starts_with("aws.") ||
        AsciiLower(name).starts_with("amazon.")) {
      return SnsInvalid(StrCat("Invalid parameter: MessageAttributes Reason: Message attribute name '", name,
                               "' is not valid"));
    }
    if (a.data_type.empty()) {
      return SnsInvalid(StrCat("Invalid parameter: The message attribute '", name,
                               "' must contain non-empty message attribute type."));
    }
    std::string_view base = std::string_view(a.data_type).substr(0, a.data_type.find('.'));
    bool binary = base == "Binary";
    if (base != "String" && base != "Number" && !binary) {
      return SnsInvalid(StrCat("Invalid parameter: The message attribute '", name,
                               "' has an invalid message attribute type, the set of supported type prefixes is "
                               "Binary, Number, and String."));
    }
    if (binary ? a.binary_value.empty() : a.string_value.empty()) {
      return SnsInvalid(StrCat("Invalid parameter: The message attribute '", name,
                               "' must contain non-empty message attribute value for message attribute type '",
                               a.data_type, "'."));
    }
    if (base == "Number" && !IsJsonNumber(a.string_value)) {
      return SnsInvalid(StrCat("Invalid parameter: Could not cast message attribute '", name, "' value to number."));
    }
    if (a.data_type == "String.Array") {
      Json arr = ParseJson(a.string_value);
      bool ok = arr.is_array() && std::all_of(arr.begin(), arr.end(), [](const Json& v) {
                  return v.is_string() || v.is_number() || v.is_boolean() || v.is_null();
                });
      if (!ok) {
        return SnsInvalid(StrCat("Invalid parameter: The message attribute '", name,
                                 "' with type 'String.Array' must be a JSON array of strings, numbers, true, false "
                                 "or null."));
      }
    }
    *bytes += name.size() + a.data_type.size() + (binary ? a.binary_value.size() : a.string_value.size());
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SnsError(std::string_view code, std::string message) {
  absl::StatusCode sc = code == "NotFound" || code == "ResourceNotFound" ? absl::StatusCode::kNotFound
                        : code == "InternalError"                        ? absl::StatusCode::kInternal
                        : code == "Throttled"                            ? absl::StatusCode::kResourceExhausted
                                                                         : absl::StatusCode::kInvalidArgument;
  absl::Status st(sc, message);
  st.SetPayload(kCodePayload, absl::Cord(std::string(code)));
  return st;
}

std::string SnsErrorCode(const absl::Status& status) {
  if (auto p = status.GetPayload(kCodePayload)) return std::string(*p);
  if (absl::IsNotFound(status)) return "NotFound";
  if (absl::IsInvalidArgument(status)) return "InvalidParameter";
  return "InternalError";
}

int SnsErrorHttpStatus(const std::string& code) {
  if (code == "NotFound" || code == "ResourceNotFound") return 404;
  if (code == "Throttled") return 429;
  if (code == "InternalError") return 500;
  if (code == "AuthorizationError" || code == "FilterPolicyLimitExceeded" || code == "SubscriptionLimitExceeded" ||
      code == "TopicLimitExceeded") {
    return 403;
  }
  return 400;
}

// ---------------------------------------------------------------------------------------
// Lifecycle

Sns::Sns(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Sns::~Sns() { Stop(); }

absl::StatusOr<std::unique_ptr<Sns>> Sns::Open(const std::string& dir, SnsOptions options) {
  RETURN_IF_ERROR(MakeDirs(dir));
  RETURN_IF_ERROR(MakeDirs(dir + "/outbox"));
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->endpoint = options.endpoint;
  impl->options = std::move(options);
  {
    ASSIGN_OR_RETURN(auto db, SqliteDb::Open(dir + "/sns.db"));
    RETURN_IF_ERROR(db->Exec(
        "CREATE TABLE IF NOT EXISTS topics(arn TEXT PRIMARY KEY, doc TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS subscriptions(arn TEXT PRIMARY KEY, doc TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS deliveries(id INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT NULL);"));
  }
  ASSIGN_OR_RETURN(impl->writer, SqliteGroupWriter::Open(dir + "/sns.db"));
  RETURN_IF_ERROR(impl->Load());
  Impl* raw = impl.get();
  if (raw->options.start_threads) {
    for (int i = 0; i < std::max(1, raw->options.delivery_threads); ++i) {
      raw->workers.emplace_back([raw] { raw->WorkerLoop(); });
    }
  }
  return std::unique_ptr<Sns>(new Sns(std::move(impl)));
}

void Sns::Stop() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->queue_mu);
    impl_->stop = true;
  }
  impl_->queue_cv.notify_all();
  for (auto& t : impl_->workers) t.join();
  impl_->workers.clear();
}

void Sns::SetEndpoint(const std::string& endpoint) {
  std::lock_guard lock(impl_->endpoint_mu);
  impl_->endpoint = endpoint;
}

absl::StatusOr<SnsPublishResult> Sns::Publish(const std::string& topic_arn, SnsPublishRequest request) {
  return impl_->Publish(topic_arn, std::move(request));
}

bool Sns::TopicExists(const std::string& topic_arn) { return impl_->GetTopicAttributes(topic_arn).ok(); }

std::string Sns::Impl::Endpoint() {
  std::lock_guard lock(endpoint_mu);
  std::string e = endpoint;
  while (!e.empty() && e.back() == '/') e.pop_back();
  return e;
}

std::string Sns::Impl::TopicArn(const std::string& name) const {
  return StrCat("arn:aws:sns:", options.region, ":", options.account, ":", name);
}

std::string Sns::Impl::OutboxPath(const std::string& address, std::string_view ext) {
  return StrCat(dir, "/outbox/", SanitizeAddress(address), ext);
}

absl::Status Sns::Impl::Load() {
  ASSIGN_OR_RETURN(auto db, SqliteDb::Open(dir + "/sns.db"));
  ASSIGN_OR_RETURN(SqliteStmt * st, db->Prepare("SELECT doc FROM topics"));
  st->Reset();
  while (true) {
    ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    Json j = ParseJson(st->Text(0), kMaxStoredJsonDepth);
    if (!j.is_object()) continue;
    auto t = std::make_unique<SnsTopic>();
    t->arn = j.value("arn", "");
    t->name = j.value("name", "");
    t->fifo = t->name.ends_with(".fifo");
    t->attributes = j.value("attributes", StringMap{});
    t->tags = j.value("tags", StringMap{});
    t->deleted_subscriptions = j.value("deleted", int64_t{0});
    t->attribute_filters = events::PatternSet(sns::FilterPolicyLimits());
    t->body_filters = events::PatternSet(sns::FilterPolicyLimits());
    topics[t->arn] = std::move(t);
  }
  std::vector<std::unique_ptr<SnsSubscription>> subs;
  ASSIGN_OR_RETURN(st, db->Prepare("SELECT doc FROM subscriptions"));
  st->Reset();
  while (true) {
    ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    Json j = ParseJson(st->Text(0), kMaxStoredJsonDepth);
    if (!j.is_object()) continue;
    auto s = std::make_unique<SnsSubscription>();
    s->arn = j.value("arn", "");
    s->topic_arn = j.value("topic", "");
    s->protocol = j.value("protocol", "");
    s->endpoint = j.value("endpoint", "");
    s->owner = j.value("owner", options.account);
    s->token = j.value("token", "");
    s->pending = j.value("pending", false);
    s->authenticated = j.value("authenticated", false);
    s->seq = j.value("seq", uint64_t{0});
    s->attributes = j.value("attributes", StringMap{});
    subs.push_back(std::move(s));
  }
  std::sort(subs.begin(), subs.end(), [](const auto& a, const auto& b) { return a->seq < b->seq; });
  for (auto& s : subs) {
    auto it = topics.find(s->topic_arn);
    if (it == topics.end()) continue;
    next_seq = std::max(next_seq, s->seq + 1);
    it->second->subscriptions.push_back(s->arn);
    if (auto st2 = CompileFilter(*it->second, *s); !st2.ok()) {
      spdlog::warn("sns: filter policy of {} no longer compiles: {}", s->arn, std::string(st2.message()));
    }
    subscriptions[s->arn] = std::move(s);
  }
  ASSIGN_OR_RETURN(st, db->Prepare("SELECT id, doc FROM deliveries ORDER BY id"));
  st->Reset();
  size_t resumed = 0;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st->Step());
    if (!row) break;
    Json j = ParseJson(st->Text(1), kMaxStoredJsonDepth);
    if (!j.is_object()) continue;
    auto d = DeliveryFromJson(j);
    d->row = st->Int(0);
    d->due = absl::Now();
    ++resumed;
    Enqueue(std::move(d));
  }
  if (resumed) spdlog::info("sns: resuming {} undelivered message(s)", resumed);
  return absl::OkStatus();
}

absl::Status Sns::Impl::SaveTopic(const SnsTopic& t) {
  Json j = {{"arn", t.arn},
            {"name", t.name},
            {"attributes", t.attributes},
            {"tags", t.tags},
            {"deleted", t.deleted_subscriptions}};
  std::string doc = j.dump();
  std::string arn = t.arn;
  return writer->Write([arn, doc](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStmt * st, db.Prepare("INSERT OR REPLACE INTO topics(arn, doc) VALUES (?, ?)"));
    return st->Bind(1, arn).Bind(2, doc).Run();
  });
}

absl::Status Sns::Impl::SaveSubscription(const SnsSubscription& s) {
  Json j = {{"arn", s.arn},           {"topic", s.topic_arn},         {"protocol", s.protocol},
            {"endpoint", s.endpoint}, {"owner", s.owner},             {"token", s.token},
            {"pending", s.pending},   {"authenticated", s.authenticated}, {"seq", s.seq},
            {"attributes", s.attributes}};
  std::string doc = j.dump();
  std::string arn = s.arn;
  return writer->Write([arn, doc](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStmt * st, db.Prepare("INSERT OR REPLACE INTO subscriptions(arn, doc) VALUES (?, ?)"));
    return st->Bind(1, arn).Bind(2, doc).Run();
  });
}

absl::Status Sns::Impl::CompileFilter(SnsTopic& topic, SnsSubscription& sub) {
  if (sub.filter_id) {
    topic.attribute_filters.Remove(sub.filter_id);
    topic.body_filters.Remove(sub.filter_id);
    topic.filter_owner.erase(sub.filter_id);
    sub.filter_id = 0;
  }
  auto it = sub.attributes.find("FilterPolicy");
  if (it == sub.attributes.end() || it->second.empty()) return absl::OkStatus();
  bool body = sub.attributes.contains("FilterPolicyScope") && sub.attributes["FilterPolicyScope"] == "MessageBody";
  ASSIGN_OR_RETURN(std::string pattern, sns::FilterPolicyToPattern(it->second, body ? sns::FilterScope::kMessageBody
                                                                                      : sns::FilterScope::kMessageAttributes));
  uint64_t id = next_filter_id++;
  RETURN_IF_ERROR((body ? topic.body_filters : topic.attribute_filters).Add(id, pattern));
  sub.filter_id = id;
  topic.filter_owner[id] = sub.arn;
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// Topics

absl::StatusOr<std::string> Sns::Impl::CreateTopic(const std::string& name, const StringMap& attributes,
                                                   const StringMap& tags) {
  bool fifo = attributes.contains("FifoTopic") && IsTrue(attributes.at("FifoTopic"));
  if (attributes.contains("FifoTopic")) RETURN_IF_ERROR(CheckBool("FifoTopic", attributes.at("FifoTopic")));
  if (fifo && !ValidTopicName(name, true)) {
    return SnsInvalid(
        "Invalid parameter: Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase "
        "ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.");
  }
  if (!fifo && !ValidTopicName(name, false)) return SnsInvalid("Invalid parameter: Topic Name");
  for (const auto& [k, v] : attributes) {
    if (!IsTopicAttribute(k)) return SnsInvalid(StrCat("Invalid parameter: Attributes Reason: Unknown attribute ", k));
    if (k == "ContentBasedDeduplication") {
      RETURN_IF_ERROR(CheckBool(k, v));
      if (!fifo && IsTrue(v)) {
        return SnsInvalid("Invalid parameter: Attributes Reason: Content-based deduplication can only be set for FIFO topics");
      }
    }
    if (k == "DeliveryPolicy") RETURN_IF_ERROR(ValidateDeliveryPolicy(v, true));
  }
  if (tags.size() > kMaxTags) return SnsError("TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded");
  std::string arn = TopicArn(name);
  std::unique_lock lock(mu);
  if (auto it = topics.find(arn); it != topics.end()) {
    const SnsTopic& t = *it->second;
    for (const auto& [k, v] : attributes) {
      auto cur = t.attributes.find(k);
      std::string have = cur == t.attributes.end() ? (k == "FifoTopic" || k == "ContentBasedDeduplication" ? "false" : "")
                                                   : cur->second;
      if (AsciiLower(have) != AsciiLower(v) && !(k == "FifoTopic" && IsTrue(v) == t.fifo)) {
        return SnsInvalid("Invalid parameter: Attributes Reason: Topic already exists with different attributes");
      }
    }
    for (const auto& [k, v] : tags) {
      auto cur = t.tags.find(k);
      if (cur == t.tags.end() || cur->second != v) {
        return SnsInvalid("Invalid parameter: Tags Reason: Topic already exists with different tags");
      }
    }
    return arn;
  }
  auto t = std::make_unique<SnsTopic>();
  t->arn = arn;
  t->name = name;
  t->fifo = fifo;
  t->attributes = attributes;
  if (fifo) t->attributes["FifoTopic"] = "true";
  t->tags = tags;
  t->attribute_filters = events::PatternSet(sns::FilterPolicyLimits());
  t->body_filters = events::PatternSet(sns::FilterPolicyLimits());
  RETURN_IF_ERROR(SaveTopic(*t));
  topics[arn] = std::move(t);
  return arn;
}

absl::Status Sns::Impl::DeleteTopic(const std::string& arn) {
  std::string name;
  if (!ParseTopicArn(arn, &name)) return SnsInvalid("Invalid parameter: TopicArn");
  std::unique_lock lock(mu);
  auto it = topics.find(arn);
  if (it == topics.end()) return absl::OkStatus();  // idempotent, as on AWS
  std::vector<std::string> subs = it->second->subscriptions;
  RETURN_IF_ERROR(writer->Write([arn, subs](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStmt * st, db.Prepare("DELETE FROM topics WHERE arn = ?"));
    RETURN_IF_ERROR(st->Bind(1, arn).Run());
    ASSIGN_OR_RETURN(SqliteStmt * ds, db.Prepare("DELETE FROM subscriptions WHERE arn = ?"));
    for (const auto& s : subs) RETURN_IF_ERROR(ds->Bind(1, s).Run());
    return absl::OkStatus();
  }));
  for (const auto& s : subs) subscriptions.erase(s);
  topics.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<StringMap> Sns::Impl::GetTopicAttributes(const std::string& arn) {
  std::string name;
  if (!ParseTopicArn(arn, &name)) return SnsInvalid("Invalid parameter: TopicArn");
  std::shared_lock lock(mu);
  auto it = topics.find(arn);
  if (it == topics.end()) return NotFound("Topic does not exist");
  const SnsTopic& t = *it->second;
  StringMap out = t.attributes;
  out["TopicArn"] = t.arn;
  out["Owner"] = options.account;
  if (!out.contains("Policy")) {
    out["Policy"] = Json{{"Version", "2008-10-17"},
                         {"Id", "__default_policy_ID"},
                         {"Statement",
                          Json::array({{{"Sid", "__default_statement_ID"},
                                        {"Effect", "Allow"},
                                        {"Principal", {{"AWS", "*"}}},
                                        {"Action", Json::array({"SNS:GetTopicAttributes", "SNS:SetTopicAttributes",
                                                                "SNS:AddPermission", "SNS:RemovePermission",
                                                                "SNS:DeleteTopic", "SNS:Subscribe",
                                                                "SNS:ListSubscriptionsByTopic", "SNS:Publish"})},
                                        {"Resource", t.arn},
                                        {"Condition", {{"StringEquals", {{"AWS:SourceOwner", options.account}}}}}}})}}
                        .dump();
  }
  if (!out.contains("DisplayName")) out["DisplayName"] = "";
  int confirmed = 0, pending = 0;
  for (const auto& s : t.subscriptions) {
    auto sit = subscriptions.find(s);
    if (sit == subscriptions.end()) continue;
    (sit->second->pending ? pending : confirmed)++;
  }
  out["SubscriptionsConfirmed"] = std::to_string(confirmed);
  out["SubscriptionsPending"] = std::to_string(pending);
  out["SubscriptionsDeleted"] = std::to_string(t.deleted_subscriptions);
  out["EffectiveDeliveryPolicy"] = out.contains("DeliveryPolicy") ? out["DeliveryPolicy"] : kEffectiveDeliveryPolicy;
  if (t.fifo) {
    out["FifoTopic"] = "true";
    if (!out.contains("ContentBasedDeduplication")) out["ContentBasedDeduplication"] = "false";
  }
  return out;
}

absl::Status Sns::Impl::SetTopicAttribute(const std::string& arn, const std::string& name, const std::string& value) {
  std::string tname;
  if (!ParseTopicArn(arn, &tname)) return SnsInvalid("Invalid parameter: TopicArn");
  if (!IsTopicAttribute(name) || name == "FifoTopic") return SnsInvalid("Invalid parameter: AttributeName");
  std::unique_lock lock(mu);
  auto it = topics.find(arn);
  if (it == topics.end()) return NotFound("Topic does not exist");
  SnsTopic& t = *it->second;
  if (name == "ContentBasedDeduplication") {
    RETURN_IF_ERROR(CheckBool(name, value));
    if (!t.fifo) return SnsInvalid("Invalid parameter: ContentBasedDeduplication Reason: Content-based deduplication can only be set for FIFO topics");
  }
  if (name == "DeliveryPolicy" && !value.empty()) RETURN_IF_ERROR(ValidateDeliveryPolicy(value, true));
  StringMap before = t.attributes;
  if (value.empty() && name != "DisplayName") {
    t.attributes.erase(name);
  } else {
    t.attributes[name] = value;
  }
  if (absl::Status st = SaveTopic(t); !st.ok()) {
    t.attributes = std::move(before);
    return st;
  }
  return absl::OkStatus();
}

std::vector<std::string> Sns::Impl::ListTopics(const std::string& after, size_t limit, std::string* next) {
  std::shared_lock lock(mu);
  std::vector<std::string> out;
  next->clear();
  for (auto it = after.empty() ? topics.begin() : topics.upper_bound(after); it != topics.end(); ++it) {
    if (out.size() == limit) {
      *next = out.back();
      break;
    }
    out.push_back(it->first);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Tags

absl::Status Sns::Impl::TagResource(const std::string& arn, const StringMap& tags) {
  for (const auto& [k, v] : tags) {
    if (k.empty() || k.size() > 128 || v.size() > 256) {
      return SnsInvalid("Invalid parameter: Tags Reason: Tag keys must be 1-128 characters and values at most 256");
    }
  }
  std::unique_lock lock(mu);
  auto it = topics.find(arn);
  if (it == topics.end()) return SnsError("ResourceNotFound", "Resource does not exist");
  SnsTopic& t = *it->second;
  StringMap merged = t.tags;
  for (const auto& [k, v] : tags) merged[k] = v;
  if (merged.size() > kMaxTags) return SnsError("TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded");
  std::swap(t.tags, merged);
  if (absl::Status st = SaveTopic(t); !st.ok()) {
    std::swap(t.tags, merged);
    return st;
  }
  return absl::OkStatus();
}

absl::Status Sns::Impl::UntagResource(const std::string& arn, const std::vector<std::string>& keys) {
  std::unique_lock lock(mu);
  auto it = topics.find(arn);
  if (it == topics.end()) return SnsError("ResourceNotFound", "Resource does not exist");
  SnsTopic& t = *it->second;
  StringMap kept = t.tags;
  for (const auto& k : keys) kept.erase(k);
  std::swap(t.tags, kept);
  if (absl::Status st = SaveTopic(t); !st.ok()) {
    std::swap(t.tags, kept);
    return st;
  }
  return absl::OkStatus();
}

absl::StatusOr<StringMap> Sns::Impl::ListTags(const std::string& arn) {
  std::shared_lock lock(mu);
  auto it = topics.find(arn);
  if (it == topics.end()) return SnsError("ResourceNotFound", "Resource does not exist");
  return it->second->tags;
}

// ---------------------------------------------------------------------------------------
// Subscriptions

namespace {

absl::Status ValidateSubscriptionAttribute(const std::string& protocol, const std::string& name,
                                           const std::string& value, bool have_sqs) {
  if (name == "RawMessageDelivery") {
    RETURN_IF_ERROR(CheckBool(name, value));
    if (IsTrue(value) && protocol != "sqs" && protocol != "http" && protocol != "https" && protocol != "firehose") {
      return SnsInvalid(StrCat("Invalid parameter: Attributes Reason: Delivery protocol [", protocol,
                               "] does not support raw message delivery."));
    }
    return absl::OkStatus();
  }
  if (name == "FilterPolicyScope") {
    if (value != "MessageAttributes" && value != "MessageBody") {
      return SnsInvalid(StrCat("Invalid parameter: FilterPolicyScope: Invalid value [", value,
                               "]. Please use either MessageBody or MessageAttributes"));
    }
    return absl::OkStatus();
  }
  if (name == "FilterPolicy") return absl::OkStatus();  // compiled with its scope by the caller
  if (name == "DeliveryPolicy") return value.empty() ? absl::OkStatus() : ValidateDeliveryPolicy(value, false);
  if (name == "RedrivePolicy") {
    if (value.empty()) return absl::OkStatus();
    Json j = ParseJson(value);
    if (!j.is_object() || !j.contains("deadLetterTargetArn") || !j["deadLetterTargetArn"].is_string()) {
      return SnsInvalid("Invalid parameter: RedrivePolicy: deadLetterTargetArn is missing");
    }
    std::string dlq = j["deadLetterTargetArn"].get<std::string>();
    auto parts = Split(dlq, ':');
    if (parts.size() != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[5].empty()) {
      return SnsInvalid("Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn");
    }
    if (!have_sqs) return SnsInvalid("Invalid parameter: RedrivePolicy: SQS is not available in this Sluice");
    return absl::OkStatus();
  }
  if (name == "SubscriptionRoleArn") return absl::OkStatus();
  return SnsInvalid("Invalid parameter: AttributeName");
}

}  // namespace

absl::StatusOr<std::string> Sns::Impl::Subscribe(const std::string& topic_arn, const std::string& protocol,
                                                 const std::string& endpoint, const StringMap& attributes,
                                                 bool return_arn) {
  std::string name;
  if (!ParseTopicArn(topic_arn, &name)) return SnsInvalid("Invalid parameter: TopicArn");
  static const char* kProtocols[] = {"http", "https", "email", "email-json", "sms", "sqs", "lambda", "application", "firehose"};
  if (std::none_of(std::begin(kProtocols), std::end(kProtocols), [&](const char* p) { return protocol == p; })) {
    return SnsInvalid(StrCat("Invalid parameter: Amazon SNS does not support this protocol string: ", protocol));
  }
  if (protocol == "application" || protocol == "firehose") {
    return SnsInvalid(StrCat("Invalid parameter: Protocol Reason: ", protocol,
                             " subscriptions are not available in this Sluice"));
  }
  if (protocol == "http" || protocol == "https") {
    auto target = sns::ParseHttpUrl(endpoint);
    if (!target.ok() || target->tls != (protocol == "https")) {
      return SnsInvalid("Invalid parameter: Endpoint must match the specified protocol");
    }
  } else if (protocol == "email" || protocol == "email-json") {
    auto at = endpoint.find('@');
    if (at == std::string::npos || at == 0 || at + 1 == endpoint.size() || endpoint.find_first_of(" \t\r\n/\\") != std::string::npos) {
      return SnsInvalid("Invalid parameter: Email address");
    }
  } else if (protocol == "sms") {
    static const std::regex kPhone(R"(\+?[1-9][0-9]{1,14})");
    if (!std::regex_match(endpoint, kPhone)) return SnsInvalid("Invalid SMS endpoint: " + endpoint);
  } else if (protocol == "sqs") {
    auto parts = Split(endpoint, ':');
    if (parts.size() != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[5].empty()) {
      return SnsInvalid("Invalid parameter: SQS endpoint ARN");
    }
    if (!options.sqs_sender) return SnsInvalid("Invalid parameter: Endpoint Reason: SQS is not available in this Sluice");
  } else if (protocol == "lambda") {
    auto parts = Split(endpoint, ':');
    if (parts.size() < 7 || parts[0] != "arn" || parts[2] != "lambda" || parts[5] != "function") {
      return SnsInvalid("Invalid parameter: Lambda endpoint ARN");
    }
    if (!options.lambda_invoker) {
      return SnsInvalid("Invalid parameter: Endpoint Reason: Lambda is not available in this Sluice");
    }
  }
  for (const auto& [k, v] : attributes) {
    RETURN_IF_ERROR(ValidateSubscriptionAttribute(protocol, k, v, static_cast<bool>(options.sqs_sender)));
  }
  std::unique_lock lock(mu);
  auto tit = topics.find(topic_arn);
  if (tit == topics.end()) return NotFound("Topic does not exist");
  SnsTopic& topic = *tit->second;
  if (topic.fifo && protocol != "sqs") {
    return SnsInvalid(StrCat("Invalid parameter: Invalid protocol type: ", protocol,
                             " Reason: FIFO topics only support Amazon SQS endpoints"));
  }
  if (!topic.fifo && protocol == "sqs" && endpoint.ends_with(".fifo")) {
    return SnsInvalid("Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics");
  }
  for (const auto& s : topic.subscriptions) {
    SnsSubscription& existing = *subscriptions.at(s);
    if (existing.protocol != protocol || existing.endpoint != endpoint) continue;
    for (const auto& [k, v] : attributes) {
      auto cur = existing.attributes.find(k);
      if (cur == existing.attributes.end() ? !v.empty() && !(k == "RawMessageDelivery" && !IsTrue(v)) : cur->second != v) {
        return SnsInvalid("Invalid parameter: Attributes Reason: Subscription already exists with different attributes");
      }
    }
    if (existing.pending) {
      QueueConfirmation(existing);  // resend, as AWS does
      return return_arn ? existing.arn : "pending confirmation";
    }
    return existing.arn;
  }
  auto sub = std::make_unique<SnsSubscription>();
  sub->arn = StrCat(topic_arn, ":", NewUuid());
  sub->topic_arn = topic_arn;
  sub->protocol = protocol;
  sub->endpoint = endpoint;
  sub->owner = options.account;
  sub->seq = next_seq++;
  for (const auto& [k, v] : attributes) {
    if (!v.empty()) sub->attributes[k] = v;
  }
  // Endpoints that AWS owns or that need no handshake here are confirmed at once; http(s)
  // and email wait for ConfirmSubscription with the token sent to them.
  sub->pending = protocol == "http" || protocol == "https" || protocol == "email" || protocol == "email-json";
  if (sub->pending) sub->token = RandomHex(64) + RandomHex(64) + RandomHex(56);
  if (absl::Status st = CompileFilter(topic, *sub); !st.ok()) return SnsInvalid(std::string(st.message()));
  if (absl::Status st = SaveSubscription(*sub); !st.ok()) {
    CompileFilter(topic, *sub).IgnoreError();
    return st;
  }
  std::string arn = sub->arn;
  bool pending = sub->pending;
  topic.subscriptions.push_back(arn);
  subscriptions[arn] = std::move(sub);
  if (pending) {
    QueueConfirmation(*subscriptions[arn]);
    return return_arn ? arn : "pending confirmation";
  }
  return arn;
}

void Sns::Impl::QueueConfirmation(const SnsSubscription& sub) {
  std::vector<std::unique_ptr<SnsDelivery>> batch;
  auto d = std::make_unique<SnsDelivery>();
  d->kind = "confirmation";
  d->subscription_arn = sub.arn;
  d->topic_arn = sub.topic_arn;
  d->message_id = NewUuid();
  d->timestamp = absl::Now();
  batch.push_back(std::move(d));
  if (absl::Status st = PersistDeliveries(batch); !st.ok()) {
    spdlog::warn("sns: cannot queue the confirmation of {}: {}", sub.arn, std::string(st.message()));
    return;
  }
  for (auto& b : batch) Enqueue(std::move(b));
}

absl::StatusOr<std::string> Sns::Impl::ConfirmSubscription(const std::string& topic_arn, const std::string& token) {
  std::string name;
  if (!ParseTopicArn(topic_arn, &name)) return SnsInvalid("Invalid parameter: TopicArn");
  std::unique_lock lock(mu);
  auto tit = topics.find(topic_arn);
  if (tit == topics.end()) return NotFound("Topic does not exist");
  for (const auto& s : tit->second->subscriptions) {
    SnsSubscription& sub = *subscriptions.at(s);
    if (sub.token.empty() || sub.token != token) continue;
    if (!sub.pending) return sub.arn;
    sub.pending = false;
    if (absl::Status st = SaveSubscription(sub); !st.ok()) {
      sub.pending = true;
      return st;
    }
    return sub.arn;
  }
  return SnsInvalid("Invalid token");
}

absl::Status Sns::Impl::Unsubscribe(const std::string& arn) {
  auto parts = Split(arn, ':');
  if (parts.size() != 7 || parts[0] != "arn" || parts[2] != "sns") return SnsInvalid("Invalid parameter: SubscriptionArn");
  std::unique_lock lock(mu);
  auto it = subscriptions.find(arn);
  if (it == subscriptions.end()) return NotFound("Subscription does not exist");
  SnsSubscription& sub = *it->second;
  RETURN_IF_ERROR(writer->Write([arn](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStmt * st, db.Prepare("DELETE FROM subscriptions WHERE arn = ?"));
    return st->Bind(1, arn).Run();
  }));
  if (auto tit = topics.find(sub.topic_arn); tit != topics.end()) {
    SnsTopic& t = *tit->second;
    sub.attributes.erase("FilterPolicy");
    CompileFilter(t, sub).IgnoreError();
    std::erase(t.subscriptions, arn);
    ++t.deleted_subscriptions;
    SaveTopic(t).IgnoreError();
  }
  subscriptions.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SnsSubscriptionInfo>> Sns::Impl::ListSubscriptions(const std::string& topic_arn,
                                                                              const std::string& token, size_t limit,
                                                                              std::string* next) {
  uint64_t after = 0;
  if (!token.empty() && !ParseNumber(token, &after)) return SnsInvalid("Invalid parameter: NextToken");
  std::shared_lock lock(mu);
  std::vector<const SnsSubscription*> subs;
  if (!topic_arn.empty()) {
    std::string name;
    if (!ParseTopicArn(topic_arn, &name)) return SnsInvalid("Invalid parameter: TopicArn");
    auto tit = topics.find(topic_arn);
    if (tit == topics.end()) return NotFound("Topic does not exist");
    for (const auto& s : tit->second->subscriptions) subs.push_back(subscriptions.at(s).get());
  } else {
    for (const auto& [arn, s] : subscriptions) subs.push_back(s.get());
  }
  std::sort(subs.begin(), subs.end(), [](auto* a, auto* b) { return a->seq < b->seq; });
  std::vector<SnsSubscriptionInfo> out;
  next->clear();
  uint64_t last = 0;
  for (const SnsSubscription* s : subs) {
    if (s->seq <= after) continue;
    if (out.size() == limit) {
      *next = std::to_string(last);  // the seq of the last subscription returned
      break;
    }
    out.push_back({s->pending ? "PendingConfirmation" : s->arn, s->owner, s->protocol, s->endpoint, s->topic_arn});
    last = s->seq;
  }
  return out;
}

absl::StatusOr<StringMap> Sns::Impl::GetSubscriptionAttributes(const std::string& arn) {
  auto parts = Split(arn, ':');
  if (parts.size() != 7 || parts[0] != "arn" || parts[2] != "sns") return SnsInvalid("Invalid parameter: SubscriptionArn");
  std::shared_lock lock(mu);
  auto it = subscriptions.find(arn);
  if (it == subscriptions.end()) return NotFound("Subscription does not exist");
  const SnsSubscription& s = *it->second;
  StringMap out = s.attributes;
  out["SubscriptionArn"] = s.arn;
  out["TopicArn"] = s.topic_arn;
  out["Owner"] = s.owner;
  out["Protocol"] = s.protocol;
  out["Endpoint"] = s.endpoint;
  out["ConfirmationWasAuthenticated"] = s.authenticated || !s.pending ? "true" : "false";
  out["PendingConfirmation"] = s.pending ? "true" : "false";
  out["SubscriptionPrincipal"] = StrCat("arn:aws:iam::", options.account, ":root");
  if (!out.contains("RawMessageDelivery")) out["RawMessageDelivery"] = "false";
  if (out.contains("FilterPolicy") && !out.contains("FilterPolicyScope")) out["FilterPolicyScope"] = "MessageAttributes";
  if (!out.contains("FilterPolicy")) out.erase("FilterPolicyScope");
  if (s.protocol == "http" || s.protocol == "https") {
    Json eff = Json::parse(kEffectiveDeliveryPolicy)["http"];
    Json policy = {{"healthyRetryPolicy", eff["defaultHealthyRetryPolicy"]}};
    if (auto d = s.attributes.find("DeliveryPolicy"); d != s.attributes.end()) {
      Json mine = ParseJson(d->second);
      if (mine.is_object()) policy.update(mine);
    }
    out["EffectiveDeliveryPolicy"] = policy.dump();
  }
  return out;
}

absl::Status Sns::Impl::SetSubscriptionAttribute(const std::string& arn, const std::string& name,
                                                 const std::string& value) {
  auto parts = Split(arn, ':');
  if (parts.size() != 7 || parts[0] != "arn" || parts[2] != "sns") return SnsInvalid("Invalid parameter: SubscriptionArn");
  std::unique_lock lock(mu);
  auto it = subscriptions.find(arn);
  if (it == subscriptions.end()) return NotFound("Subscription does not exist");
  SnsSubscription& s = *it->second;
  RETURN_IF_ERROR(ValidateSubscriptionAttribute(s.protocol, name, value, static_cast<bool>(options.sqs_sender)));
  StringMap before = s.attributes;
  if (value.empty()) {
    s.attributes.erase(name);
  } else {
    s.attributes[name] = value;
  }
  SnsTopic& topic = *topics.at(s.topic_arn);
  if (name == "FilterPolicy" || name == "FilterPolicyScope") {
    if (absl::Status st = CompileFilter(topic, s); !st.ok()) {
      s.attributes = before;
      CompileFilter(topic, s).IgnoreError();
      return SnsInvalid(std::string(st.message()));
    }
  }
  if (absl::Status st = SaveSubscription(s); !st.ok()) {
    s.attributes = before;
    CompileFilter(topic, s).IgnoreError();
    return st;
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// Publishing

absl::StatusOr<SnsPublishResult> Sns::Impl::Publish(const std::string& topic_arn, SnsPublishRequest req) {
  std::string name;
  if (!ParseTopicArn(topic_arn, &name)) return SnsInvalid("Invalid parameter: TopicArn");
  if (req.message.empty()) return SnsInvalid("Invalid parameter: Empty message");
  size_t bytes = req.message.size();
  RETURN_IF_ERROR(ValidateAttributes(req.message_attributes, &bytes));
  if (bytes > kMaxMessageBytes) return SnsInvalid("Invalid parameter: Message too long");
  if (!req.subject.empty()) {
    bool bad = req.subject.size() >= 100 ||
               std::any_of(req.subject.begin(), req.subject.end(), [](char c) { return static_cast<unsigned char>(c) < 32; });
    if (bad) return SnsInvalid("Invalid parameter: Subject");
  }
  Json structured;
  if (!req.message_structure.empty()) {
    if (req.message_structure != "json") return SnsInvalid("Invalid parameter: MessageStructure");
    structured = ParseJson(req.message);
    if (!structured.is_object()) {
      return SnsInvalid("Invalid parameter: Message Structure - JSON message body failed to parse");
    }
    if (!structured.contains("default") || !structured["default"].is_string()) {
      return SnsInvalid("Invalid parameter: Message Structure - No default entry in JSON message body");
    }
  }
  std::shared_lock lock(mu);
  auto tit = topics.find(topic_arn);
  if (tit == topics.end()) return NotFound("Topic does not exist");
  SnsTopic& topic = *tit->second;
  if (!req.message_group_id.empty() && !ValidFifoId(req.message_group_id)) {
    return SnsInvalid("Invalid parameter: MessageGroupId Reason: MessageGroupId can contain up to 128 alphanumeric and punctuation characters");
  }
  if (topic.fifo) {
    if (req.message_group_id.empty()) return SnsInvalid("Invalid parameter: The MessageGroupId parameter is required for FIFO topics");
    if (!req.message_deduplication_id.empty() && !ValidFifoId(req.message_deduplication_id)) {
      return SnsInvalid("Invalid parameter: MessageDeduplicationId Reason: MessageDeduplicationId can contain up to 128 alphanumeric and punctuation characters");
    }
    if (req.message_deduplication_id.empty()) {
      auto cbd = topic.attributes.find("ContentBasedDeduplication");
      if (cbd == topic.attributes.end() || !IsTrue(cbd->second)) {
        return SnsInvalid("Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly");
      }
      req.message_deduplication_id = HexEncode(Sha256(req.message));
    }
  } else if (!req.message_deduplication_id.empty()) {
    return SnsInvalid("Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type");
  }

  SnsPublishResult result;
  result.message_id = NewUuid();
  absl::Time now = absl::Now();
  std::string dedup_key;
  if (topic.fifo) {
    uint64_t seq = static_cast<uint64_t>(absl::ToUnixMicros(now)) * 1000;
    uint64_t last = last_sequence.load();
    while (true) {
      uint64_t want = std::max(seq, last + 1);
      if (last_sequence.compare_exchange_weak(last, want)) {
        seq = want;
        break;
      }
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(seq));
    result.sequence_number = buf;
    bool group_scope = topic.attributes.contains("FifoThroughputScope") &&
                       topic.attributes.at("FifoThroughputScope") == "MessageGroup";
    dedup_key = StrCat(topic_arn, "\n", group_scope ? req.message_group_id : "", "\n", req.message_deduplication_id);
    std::lock_guard dl(dedup_mu);
    for (auto it = dedup.begin(); it != dedup.end();) {
      it = it->second.expires < now ? dedup.erase(it) : std::next(it);
    }
    if (auto it = dedup.find(dedup_key); it != dedup.end()) return it->second.result;  // accepted, not delivered again
  }

  // Which subscriptions want the message.
  std::vector<uint64_t> matched;
  auto fields = sns::AttributesToFields(req.message_attributes);
  if (topic.attribute_filters.size()) topic.attribute_filters.MatchFields(fields, &matched);
  if (topic.body_filters.size()) {
    // A body that is not a JSON object matches no body-scope policy.
    topic.body_filters.Match(structured.is_object() ? structured["default"].get<std::string>() : req.message, &matched)
        .IgnoreError();
  }
  std::vector<std::unique_ptr<SnsDelivery>> batch;
  for (const auto& arn : topic.subscriptions) {
    const SnsSubscription& sub = *subscriptions.at(arn);
    if (sub.pending) continue;
    if (sub.filter_id && std::find(matched.begin(), matched.end(), sub.filter_id) == matched.end()) continue;
    auto d = std::make_unique<SnsDelivery>();
    d->kind = "notification";
    d->subscription_arn = arn;
    d->topic_arn = topic_arn;
    d->message_id = result.message_id;
    d->message = req.message;
    if (structured.is_object()) {
      const Json& m = structured.contains(sub.protocol) && structured[sub.protocol].is_string() ? structured[sub.protocol]
                                                                                                 : structured["default"];
      d->message = m.get<std::string>();
    }
    d->subject = req.subject;
    d->group_id = req.message_group_id;
    d->dedup_id = req.message_deduplication_id;
    d->sequence_number = result.sequence_number;
    d->attributes = req.message_attributes;
    d->timestamp = now;
    if (topic.fifo) d->order_key = StrCat(arn, "\n", req.message_group_id);
    batch.push_back(std::move(d));
  }
  if (!batch.empty()) {
    {
      std::lock_guard ql(queue_mu);
      if (pending + batch.size() > options.max_pending_deliveries) return SnsError("Throttled", "Rate exceeded");
    }
    RETURN_IF_ERROR(PersistDeliveries(batch));
  }
  bool fifo = topic.fifo;
  lock.unlock();
  if (fifo) {
    std::lock_guard dl(dedup_mu);
    dedup[dedup_key] = {result, now + kDedupWindow};
  }
  for (auto& d : batch) Enqueue(std::move(d));
  return result;
}

absl::StatusOr<SnsPublishResult> Sns::Impl::PublishSms(const std::string& phone, const SnsPublishRequest& request) {
  static const std::regex kPhone(R"(\+?[1-9][0-9]{1,14})");
  if (!std::regex_match(phone, kPhone)) {
    return SnsInvalid(StrCat("Invalid parameter: PhoneNumber Reason: ", phone, " is not valid to publish to"));
  }
  if (request.message.empty()) return SnsInvalid("Invalid parameter: Empty message");
  if (request.message.size() > 1600) return SnsInvalid("Invalid parameter: Message too long");
  SnsPublishResult result;
  result.message_id = NewUuid();
  std::string line = Json{{"MessageId", result.message_id}, {"Timestamp", sns::SnsTimestamp(absl::Now())},
                          {"PhoneNumber", phone}, {"Message", request.message}}.dump() + "\n";
  std::string path = OutboxPath(phone, ".sms.jsonl");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("open", path, errno);
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return SnsError("InternalError", "cannot write the SMS outbox");
  return result;
}

absl::Status Sns::Impl::PersistDeliveries(std::vector<std::unique_ptr<SnsDelivery>>& batch) {
  std::vector<std::string> docs;
  for (const auto& d : batch) docs.push_back(DeliveryJson(*d).dump());
  std::vector<int64_t> rows(docs.size());
  RETURN_IF_ERROR(writer->Write([&docs, &rows](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStmt * st, db.Prepare("INSERT INTO deliveries(doc) VALUES (?)"));
    for (size_t i = 0; i < docs.size(); ++i) {
      RETURN_IF_ERROR(st->Bind(1, docs[i]).Run());
      rows[i] = sqlite3_last_insert_rowid(db.raw());
    }
    return absl::OkStatus();
  }));
  absl::Time now = absl::Now();
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i]->row = rows[i];
    batch[i]->due = now;
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// Delivery

void Sns::Impl::Enqueue(std::unique_ptr<SnsDelivery> d) {
  {
    std::lock_guard lock(queue_mu);
    ++pending;
    if (!d->order_key.empty()) {
      auto it = ordered.find(d->order_key);
      if (it != ordered.end()) {
        it->second.push_back(std::move(d));
        return;
      }
      ordered[d->order_key];  // this one is now the head of its key
    }
    absl::Time due = d->due;
    ready.emplace(due, std::move(d));
  }
  queue_cv.notify_one();
}

void Sns::Impl::WorkerLoop() {
  std::unique_lock lock(queue_mu);
  while (!stop) {
    if (ready.empty()) {
      queue_cv.wait(lock);
      continue;
    }
    absl::Time due = ready.begin()->first;
    absl::Time now = absl::Now();
    if (due > now) {
      queue_cv.wait_for(lock, absl::ToChronoNanoseconds(std::min(due - now, absl::Seconds(1))));
      continue;
    }
    auto d = std::move(ready.begin()->second);
    ready.erase(ready.begin());
    lock.unlock();
    Deliver(std::move(d));
    lock.lock();
  }
}

void Sns::Impl::Finish(SnsDelivery& d) {
  int64_t row = d.row;
  absl::Status st = writer->Write([row](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStmt * s, db.Prepare("DELETE FROM deliveries WHERE id = ?"));
    return s->Bind(1, row).Run();
  });
  if (!st.ok()) spdlog::warn("sns: cannot remove delivered message {}: {}", d.message_id, std::string(st.message()));
  bool notify = false;
  {
    std::lock_guard lock(queue_mu);
    --pending;
    if (!d.order_key.empty()) {
      auto it = ordered.find(d.order_key);
      if (it != ordered.end()) {
        if (it->second.empty()) {
          ordered.erase(it);
        } else {
          auto next = std::move(it->second.front());
          it->second.pop_front();
          next->due = std::max(next->due, absl::Now());
          absl::Time due = next->due;
          ready.emplace(due, std::move(next));
          notify = true;
        }
      }
    }
  }
  if (notify) queue_cv.notify_one();
}

void Sns::Impl::Deliver(std::unique_ptr<SnsDelivery> d) {
  // A snapshot of what the delivery needs, so no lock is held while it runs.
  std::string protocol, endpoint, token;
  StringMap attrs;
  std::string topic_policy;
  bool fifo = false;
  {
    std::shared_lock lock(mu);
    auto it = subscriptions.find(d->subscription_arn);
    bool gone = it == subscriptions.end() || (d->kind == "confirmation" ? !it->second->pending : it->second->pending);
    if (gone) {
      lock.unlock();
      Finish(*d);
      return;
    }
    protocol = it->second->protocol;
    endpoint = it->second->endpoint;
    token = it->second->token;
    attrs = it->second->attributes;
    if (auto t = topics.find(d->topic_arn); t != topics.end()) {
      fifo = t->second->fifo;
      if (auto p = t->second->attributes.find("DeliveryPolicy"); p != t->second->attributes.end()) topic_policy = p->second;
    }
  }
  std::string base = Endpoint();
  sns::Envelope env;
  env.message_id = d->message_id;
  env.topic_arn = d->topic_arn;
  env.timestamp = d->timestamp;
  env.signing_cert_url = base + "/SimpleNotificationService-sluice.pem";
  bool confirmation = d->kind == "confirmation";
  std::string subscribe_url = StrCat(base, "/?Action=ConfirmSubscription&TopicArn=", UriEncode(d->topic_arn, false),
                                     "&Token=", token);
  if (confirmation) {
    env.type = "SubscriptionConfirmation";
    env.token = token;
    env.subscribe_url = subscribe_url;
    env.message = StrCat("You have chosen to subscribe to the topic ", d->topic_arn,
                         ".\nTo confirm the subscription, visit the SubscribeURL included in this message.");
  } else {
    env.type = "Notification";
    env.subject = d->subject;
    env.message = d->message;
    env.sequence_number = d->sequence_number;
    env.unsubscribe_url = StrCat(base, "/?Action=Unsubscribe&SubscriptionArn=", UriEncode(d->subscription_arn, false));
    env.message_attributes = d->attributes;
  }
  bool raw = !confirmation && attrs.contains("RawMessageDelivery") && IsTrue(attrs["RawMessageDelivery"]);
  std::string payload = raw ? d->message : sns::RenderEnvelope(env);

  absl::Status result;
  bool client_error = false;
  if (protocol == "sqs") {
    SqsDelivery out;
    out.body = payload;
    if (raw) out.message_attributes = d->attributes;
    out.message_group_id = d->group_id;
    out.message_deduplication_id = fifo ? d->dedup_id : "";
    result = options.sqs_sender ? options.sqs_sender(endpoint, out) : absl::UnavailableError("SQS is not available");
    client_error = absl::IsNotFound(result) || absl::IsInvalidArgument(result) || absl::IsPermissionDenied(result);
  } else if (protocol == "lambda") {
    result = options.lambda_invoker ? options.lambda_invoker(endpoint, sns::RenderLambdaEvent(env, d->subscription_arn))
                                    : absl::UnavailableError("Lambda is not available");
    client_error = absl::IsNotFound(result) || absl::IsPermissionDenied(result);
  } else if (protocol == "http" || protocol == "https") {
    auto target = sns::ParseHttpUrl(endpoint);
    if (!target.ok()) {
      result = target.status();
      client_error = true;
    } else {
      std::vector<std::pair<std::string, std::string>> headers = {
          {"Content-Type", "text/plain; charset=UTF-8"},
          {"User-Agent", "Amazon Simple Notification Service Agent"},
          {"x-amz-sns-message-type", env.type},
          {"x-amz-sns-message-id", d->message_id},
          {"x-amz-sns-topic-arn", d->topic_arn},
      };
      if (!confirmation) headers.emplace_back("x-amz-sns-subscription-arn", d->subscription_arn);
      if (raw) headers.emplace_back("x-amz-sns-rawdelivery", "true");
      auto status = sns::HttpPost(*target, headers, payload, kHttpTimeout);
      if (!status.ok()) {
        result = status.status();
      } else if (*status < 200 || *status > 299) {
        result = absl::UnavailableError(StrCat("endpoint answered HTTP ", *status));
      }
    }
  } else if (protocol == "email" || protocol == "email-json" || protocol == "sms") {
    std::string entry;
    std::string path;
    if (protocol == "sms") {
      path = OutboxPath(endpoint, ".sms.jsonl");
      entry = Json{{"MessageId", d->message_id}, {"Timestamp", sns::SnsTimestamp(d->timestamp)},
                   {"PhoneNumber", endpoint}, {"Message", d->message}}.dump() + "\n";
    } else {
      path = OutboxPath(endpoint, ".mbox");
      std::string subject, body;
      if (confirmation) {
        subject = "AWS Notification - Subscription Confirmation";
        body = protocol == "email-json"
                   ? payload
                   : StrCat("You have chosen to subscribe to the topic:\n", d->topic_arn,
                            "\n\nTo confirm this subscription, click or visit the link below (If this was in error no "
                            "action is necessary):\n", subscribe_url, "\n");
      } else {
        subject = d->subject.empty() ? "AWS Notification Message" : d->subject;
        body = protocol == "email-json"
                   ? payload
                   : StrCat(d->message, "\n\n--\nIf you wish to stop receiving notifications from this topic, please "
                            "click or visit the link below to unsubscribe:\n", env.unsubscribe_url, "\n");
      }
      entry = sns::RenderMboxEntry("no-reply@sns.amazonaws.com", endpoint, subject, body, d->timestamp);
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      result = ErrnoStatus("open", path, errno);
    } else {
      if (::write(fd, entry.data(), entry.size()) != static_cast<ssize_t>(entry.size()) || ::fsync(fd) != 0) {
        result = ErrnoStatus("write", path, errno);
      }
      ::close(fd);
    }
  } else {
    result = absl::UnimplementedError(StrCat("protocol ", protocol, " is not delivered by this Sluice"));
    client_error = true;
  }
  ++d->attempts;
  if (result.ok()) {
    Finish(*d);
    return;
  }

  if (!client_error) {
    RetryPolicy policy = DefaultPolicy(protocol);
    if (protocol == "http" || protocol == "https") {
      Json tp = ParseJson(topic_policy.empty() ? "{}" : topic_policy);
      bool no_overrides = false;
      if (tp.is_object() && tp.contains("http") && tp["http"].is_object()) {
        if (tp["http"].contains("defaultHealthyRetryPolicy")) ReadPolicy(tp["http"]["defaultHealthyRetryPolicy"], &policy);
        no_overrides = tp["http"].value("disableSubscriptionOverrides", false);
      }
      if (!no_overrides && attrs.contains("DeliveryPolicy")) {
        Json sp = ParseJson(attrs["DeliveryPolicy"]);
        if (sp.is_object() && sp.contains("healthyRetryPolicy")) ReadPolicy(sp["healthyRetryPolicy"], &policy);
      }
    }
    if (auto delay = RetryDelay(policy, d->attempts)) {
      d->due = absl::Now() + absl::Seconds(*delay * options.retry_delay_scale);
      spdlog::info("sns: delivery of {} to {} failed (attempt {}): {}; retrying in {:.1f}s", d->message_id,
                   d->subscription_arn, d->attempts, std::string(result.message()), *delay * options.retry_delay_scale);
      {
        std::lock_guard lock(queue_mu);
        absl::Time due = d->due;
        ready.emplace(due, std::move(d));
      }
      queue_cv.notify_one();
      return;
    }
  }
  // Out of retries (or a client error): the subscription's dead-letter queue, else dropped.
  std::string dlq;
  if (!confirmation && attrs.contains("RedrivePolicy")) {
    Json rp = ParseJson(attrs["RedrivePolicy"]);
    if (rp.is_object()) dlq = rp.value("deadLetterTargetArn", "");
  }
  if (!dlq.empty() && options.sqs_sender) {
    SqsDelivery out;
    out.body = payload;
    if (raw) out.message_attributes = d->attributes;
    out.message_group_id = dlq.ends_with(".fifo") ? (d->group_id.empty() ? "sns-dlq" : d->group_id) : "";
    out.message_deduplication_id = dlq.ends_with(".fifo") ? d->message_id : "";
    absl::Status st = options.sqs_sender(dlq, out);
    if (st.ok()) {
      spdlog::warn("sns: message {} for {} moved to dead-letter queue {} after {} attempt(s): {}", d->message_id,
                   d->subscription_arn, dlq, d->attempts, std::string(result.message()));
    } else {
      spdlog::warn("sns: message {} for {} dropped: delivery failed ({}) and the dead-letter queue {} refused it: {}",
                   d->message_id, d->subscription_arn, std::string(result.message()), dlq, std::string(st.message()));
    }
  } else {
    spdlog::warn("sns: {} {} for {} dropped after {} attempt(s): {}", confirmation ? "confirmation" : "message",
                 d->message_id, d->subscription_arn, d->attempts, std::string(result.message()));
  }
  Finish(*d);
}

// ---------------------------------------------------------------------------------------
// Unsigned SubscribeURL / UnsubscribeURL

namespace {

HttpResponse XmlReply(const std::string& action, const std::string& result_xml, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.SetHeader("Content-Type", "text/xml");
  std::string id = NewUuid();
  r.body = StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<", action,
                  "Response xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><", action, "Result>", result_xml,
                  "</", action, "Result><ResponseMetadata><RequestId>", id, "</RequestId></ResponseMetadata></",
                  action, "Response>");
  return r;
}

HttpResponse ErrorReply(const absl::Status& st) {
  std::string code = SnsErrorCode(st);
  HttpResponse r;
  r.status = SnsErrorHttpStatus(code);
  r.SetHeader("Content-Type", "text/xml");
  r.body = StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">"
                  "<Error><Type>Sender</Type><Code>", XmlEscape(code), "</Code><Message>",
                  XmlEscape(std::string(st.message())), "</Message></Error><RequestId>", NewUuid(),
                  "</RequestId></ErrorResponse>");
  return r;
}

}  // namespace

HttpResponse Sns::HandleUnsignedConfirm(const HttpRequest& req) {
  const std::string* topic = req.Query("TopicArn");
  const std::string* token = req.Query("Token");
  if (!topic || !token) return ErrorReply(SnsInvalid("Invalid parameter: TopicArn or Token"));
  auto arn = impl_->ConfirmSubscription(*topic, *token);
  if (!arn.ok()) return ErrorReply(arn.status());
  return XmlReply("ConfirmSubscription", StrCat("<SubscriptionArn>", XmlEscape(*arn), "</SubscriptionArn>"));
}

HttpResponse Sns::HandleUnsignedUnsubscribe(const HttpRequest& req) {
  const std::string* arn = req.Query("SubscriptionArn");
  if (!arn) return ErrorReply(SnsInvalid("Invalid parameter: SubscriptionArn"));
  if (absl::Status st = impl_->Unsubscribe(*arn); !st.ok()) return ErrorReply(st);
  return XmlReply("Unsubscribe", "");
}

}  // namespace sluice
