#pragma once

#include <functional>
#include <map>
#include <shared_mutex>
#include <string>

#include "nlohmann/json.hpp"
#include "s3/store.h"

// S3 event notifications: each bucket's NotificationConfiguration (kept in the bucket's
// configuration as XML) and the events object changes send. With EventBridgeConfiguration,
// every change goes to the default event bus as "Object Created", "Object Deleted" or
// "Object Tags Added" with AWS's detail shape. Queue, topic and Lambda destinations are
// refused until those services exist. Thread-safe.
namespace sluice {

// Delivers an event (source, detail-type, resources, detail) to an EventBridge bus.
using EventSink = std::function<void(const std::string& bus, nlohmann::json event)>;

class Notifications {
 public:
  // Listens to `store` (which must outlive this object).
  Notifications(ObjectStore& store, std::string region);
  // REQUIRES: before requests are served.
  void SetEventBridge(EventSink sink) { eventbridge_ = std::move(sink); }

  // PutBucketNotificationConfiguration: InvalidArgument (with the S3 error code in the
  // status) for XML S3 would refuse.
  absl::Status Put(const std::string& bucket, const std::string& xml);
  // GetBucketNotificationConfiguration's document.
  absl::StatusOr<std::string> Get(const std::string& bucket);
  // A bucket was deleted: a new bucket of the same name starts without notifications.
  void Forget(const std::string& bucket);

 private:
  void OnChange(const ObjectChange& change);
  bool EventBridgeEnabled(const std::string& bucket);

  ObjectStore& store_;
  std::string region_;
  EventSink eventbridge_;
  std::shared_mutex mu_;
  std::map<std::string, bool> enabled_;  // bucket -> EventBridgeConfiguration present (cache)
};

}  // namespace sluice
