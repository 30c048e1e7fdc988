#pragma once

// Private to sns/: the state behind Sns (topics, subscriptions, the delivery queue),
// shared by sns.cc (the engine) and sns_api.cc (the query-protocol adapter).

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "events/pattern.h"
#include "io/sqlite.h"
#include "nlohmann/json.hpp"
#include "sns/sns.h"

namespace sluice {

using StringMap = std::map<std::string, std::string>;

struct SnsTopic {
  std::string arn, name;
  bool fifo = false;
  StringMap attributes;  // as set: DisplayName, Policy, DeliveryPolicy, ContentBasedDeduplication, ...
  StringMap tags;
  int64_t deleted_subscriptions = 0;
  std::vector<std::string> subscriptions;  // ARNs, in creation order
  // Compiled filter policies of the topic's subscriptions, by SnsSubscription::filter_id.
  events::PatternSet attribute_filters, body_filters;
  std::map<uint64_t, std::string> filter_owner;  // filter_id → subscription ARN
};

struct SnsSubscription {
  std::string arn, topic_arn, protocol, endpoint, owner, token;
  bool pending = false;
  bool authenticated = false;
  uint64_t seq = 0;        // creation order (ListSubscriptions paging), persisted
  uint64_t filter_id = 0;  // in the topic's PatternSets; 0 when no FilterPolicy
  StringMap attributes;    // FilterPolicy, FilterPolicyScope, RawMessageDelivery, RedrivePolicy, DeliveryPolicy, ...
};

// One message on its way to one subscription (or a subscription confirmation), persisted
// in `deliveries` from acceptance until it is delivered, dead-lettered or dropped.
struct SnsDelivery {
  int64_t row = 0;
  std::string kind;  // "notification" | "confirmation"
  std::string subscription_arn, topic_arn;
  std::string message_id, message, subject, group_id, dedup_id, sequence_number;
  SnsMessageAttributes attributes;
  absl::Time timestamp;
  int attempts = 0;       // tries made (not persisted: a restart starts the count again)
  std::string order_key;  // FIFO: subscription + group; deliveries with one key go in order
  absl::Time due;
};

struct Sns::Impl {
  std::string dir;
  SnsOptions options;
  std::mutex endpoint_mu;
  std::string endpoint;

  std::unique_ptr<SqliteGroupWriter> writer;

  std::shared_mutex mu;  // topics, subscriptions
  std::map<std::string, std::unique_ptr<SnsTopic>> topics;
  std::map<std::string, std::unique_ptr<SnsSubscription>> subscriptions;
  uint64_t next_seq = 1;
  uint64_t next_filter_id = 1;

  // FIFO deduplication (in memory, 5 minutes).
  struct Dedup {
    SnsPublishResult result;
    absl::Time expires;
  };
  std::mutex dedup_mu;
  std::map<std::string, Dedup> dedup;
  std::atomic<uint64_t> last_sequence{0};

  // The delivery queue: due deliveries by time; deliveries with an order key wait in
  // `ordered` behind the one of their key that is queued or running.
  std::mutex queue_mu;
  std::condition_variable queue_cv;
  std::multimap<absl::Time, std::unique_ptr<SnsDelivery>> ready;
  std::map<std::string, std::deque<std::unique_ptr<SnsDelivery>>> ordered;
  size_t pending = 0;
  bool stop = false;
  std::vector<std::thread> workers;

  // --- engine (sns.cc) ---
  absl::Status Load();
  std::string Endpoint();
  std::string TopicArn(const std::string& name) const;

  absl::StatusOr<std::string> CreateTopic(const std::string& name, const StringMap& attributes, const StringMap& tags);
  absl::Status DeleteTopic(const std::string& arn);
  absl::StatusOr<StringMap> GetTopicAttributes(const std::string& arn);
  absl::Status SetTopicAttribute(const std::string& arn, const std::string& name, const std::string& value);
  // Topic ARNs after `after` (exclusive), at most `limit`; *next is the token for more.
  std::vector<std::string> ListTopics(const std::string& after, size_t limit, std::string* next);

  absl::StatusOr<std::string> Subscribe(const std::string& topic_arn, const std::string& protocol,
                                        const std::string& endpoint, const StringMap& attributes, bool return_arn);
  absl::StatusOr<std::string> ConfirmSubscription(const std::string& topic_arn, const std::string& token);
  absl::Status Unsubscribe(const std::string& arn);
  absl::StatusOr<std::vector<SnsSubscriptionInfo>> ListSubscriptions(const std::string& topic_arn,
                                                                     const std::string& token, size_t limit,
                                                                     std::string* next);
  absl::StatusOr<StringMap> GetSubscriptionAttributes(const std::string& arn);
  absl::Status SetSubscriptionAttribute(const std::string& arn, const std::string& name, const std::string& value);

  absl::Status TagResource(const std::string& arn, const StringMap& tags);
  absl::Status UntagResource(const std::string& arn, const std::vector<std::string>& keys);
  absl::StatusOr<StringMap> ListTags(const std::string& arn);

  absl::StatusOr<SnsPublishResult> Publish(const std::string& topic_arn, SnsPublishRequest request);
  absl::StatusOr<SnsPublishResult> PublishSms(const std::string& phone, const SnsPublishRequest& request);

  // --- delivery (sns.cc) ---
  void Enqueue(std::unique_ptr<SnsDelivery> d);
  void WorkerLoop();
  void Deliver(std::unique_ptr<SnsDelivery> d);
  void Finish(SnsDelivery& d);
  absl::Status PersistDeliveries(std::vector<std::unique_ptr<SnsDelivery>>& batch);
  absl::Status SaveTopic(const SnsTopic& t);
  absl::Status SaveSubscription(const SnsSubscription& s);
  // REQUIRES: mu held exclusively.
  absl::Status CompileFilter(SnsTopic& topic, SnsSubscription& sub);
  void QueueConfirmation(const SnsSubscription& sub);  // REQUIRES: mu held
  std::string OutboxPath(const std::string& address, std::string_view ext);
};

// An error with its AWS code (see SnsErrorCode).
absl::Status SnsError(std::string_view code, std::string message);
inline absl::Status SnsInvalid(std::string message) { return SnsError("InvalidParameter", std::move(message)); }

}  // namespace sluice
