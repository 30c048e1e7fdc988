#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <memory>
#include <vector>
#include <shared_mutex>
#include <string>

#include "nlohmann/json.hpp"
#include "s3/store.h"

// S3 event notifications: each bucket's NotificationConfiguration (kept in the bucket's
// configuration as XML) and the events object changes send. With EventBridgeConfiguration,
// every change goes to the default event bus as "Object Created", "Object Deleted" or
// "Object Tags Added" with AWS's detail shape. Queue and topic configurations send S3's
// event message ({"Records": [...]}, eventVersion 2.1) for the event types and key
// prefix/suffix filters they name, and an s3:TestEvent when they are configured; Lambda
// function configurations get the same message (an asynchronous invoke). Thread-safe.
//
// Durability: a change's deliveries are planned before it commits and recorded in the S3
// index's outbox in the same transaction as the object's row (buckets without a
// configuration add nothing). A dispatcher thread (Start()) delivers outbox rows and removes
// a row only once every destination accepted it, retrying with backoff; rows left by a
// crash are delivered after restart: at least once, in commit order per key.
namespace sluice {

// Delivers an event (source, detail-type, resources, detail) to an EventBridge bus; OK once
// the bus has it durably.
using EventSink = std::function<absl::Status(const std::string& bus, nlohmann::json event)>;
// Sends S3's message to a queue or topic ARN; `exists` says whether a destination does.
struct MessageSink {
  std::function<absl::Status(const std::string& arn, const std::string& message)> send;
  std::function<bool(const std::string& arn)> exists;
};

class Notifications {
 public:
  // Listens to `store` (which must outlive this object).
  Notifications(ObjectStore& store, std::string region);
  ~Notifications();
  // Starts delivering the outbox (rows a crash left, then new changes). REQUIRES: the sinks
  // are set and the services behind them are ready.
  void Start();
  // Stops the dispatcher (undelivered rows stay in the outbox). Idempotent.
  void Stop();
  // Attempts per outbox row and its age before the dispatcher gives up on it (logged), as
  // EventBridge's default retry policy; backoff doubles from 1 s up to kMaxBackoff.
  static constexpr int kMaxAttempts = 185;
  static constexpr absl::Duration kMaxAge = absl::Hours(24);
  static constexpr absl::Duration kMaxBackoff = absl::Seconds(60);
  // REQUIRES: before requests are served.
  void SetEventBridge(EventSink sink) { eventbridge_ = std::move(sink); }
  void SetQueues(MessageSink sink) { queues_ = std::move(sink); }
  void SetTopics(MessageSink sink) { topics_ = std::move(sink); }
  void SetFunctions(MessageSink sink) { functions_ = std::move(sink); }  // Lambda, invoked async

  // PutBucketNotificationConfiguration: InvalidArgument (with the S3 error code in the
  // status) for XML S3 would refuse.
  absl::Status Put(const std::string& bucket, const std::string& xml);
  // GetBucketNotificationConfiguration's document.
  absl::StatusOr<std::string> Get(const std::string& bucket);
  // A bucket was deleted: a new bucket of the same name starts without notifications.
  void Forget(const std::string& bucket);

 private:
  // One QueueConfiguration or TopicConfiguration.
  struct Destination {
    std::string id;
    bool topic = false;
    bool function = false;  // LambdaFunctionConfiguration
    std::string arn;
    std::vector<std::string> events;  // "s3:ObjectCreated:*", "s3:ObjectRemoved:Delete", ...
    std::string prefix, suffix;
  };
  struct BucketConfig {
    bool eventbridge = false;
    std::vector<Destination> destinations;
  };
  // The outbox document for a change: [{"t": "events"} | {"t": "queue"|"topic"|"function",
  // "arn": ..., "id": configuration id}, ...], or "" when nothing is owed.
  std::string Plan(const ObjectChange& change);
  void Wake();
  void Dispatch();
  // One pass over the outbox; returns when the next retry is due.
  absl::Time Pass();
  absl::Status Deliver(const OutboxEntry& e, const nlohmann::json& target);
  std::string Record(const OutboxEntry& e, const std::string& config_id);
  std::shared_ptr<const BucketConfig> ConfigOf(const std::string& bucket);
  static absl::StatusOr<BucketConfig> Parse(const std::string& xml, std::string* normalized);
  nlohmann::json EventBridgeEvent(const OutboxEntry& e);

  ObjectStore& store_;
  std::string region_;
  EventSink eventbridge_;
  MessageSink queues_, topics_, functions_;
  std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const BucketConfig>> configs_;  // cache of the stored XML, parsed

  // The dispatcher.
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool pending_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  struct Retry {
    int attempts = 0;
    absl::Time next;
  };
  std::map<int64_t, Retry> retries_;  // by outbox row; dispatcher thread only
};

}  // namespace sluice
