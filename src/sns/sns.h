#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "http/message.h"
#include "http/router.h"

// Amazon SNS: topics (standard and FIFO), subscriptions (sqs, lambda, http, email,
// email-json), Publish/PublishBatch with message attributes, filter policies (the
// EventBridge pattern engine), raw delivery, retries and redrive to an SQS dead-letter
// queue. Definitions and accepted-but-undelivered messages live in <dir>/sns.db (SQLite):
// a publish returns only after its deliveries are durable, and a restart resumes them.
//
// Deliveries run on a pool of worker threads. SQS and Lambda are reached through
// callbacks that the composition root sets (SnsOptions), so this module depends on
// neither. Email notifications are appended to mbox files under <dir>/outbox/.
namespace sluice {

// One message attribute as Publish takes it. DataType: String, Number, Binary,
// String.Array (optionally with a custom suffix: "String.x", "Number.float").
struct SnsMessageAttribute {
  std::string data_type;
  std::string string_value;
  std::string binary_value;  // raw bytes (decoded from base64 on the wire)
};
using SnsMessageAttributes = std::map<std::string, SnsMessageAttribute>;

// What SNS hands to an SQS queue: the body (the JSON notification, or the raw message
// when the subscription has RawMessageDelivery), the message attributes (raw delivery
// only) and, for FIFO topics (or standard topics given one), the group and
// deduplication ids.
struct SqsDelivery {
  std::string body;
  SnsMessageAttributes message_attributes;
  std::string message_group_id;
  std::string message_deduplication_id;
};

// Sends one message to the queue `queue_arn`. NotFound/InvalidArgument/PermissionDenied
// are client errors (no retry: straight to the dead-letter queue); others are retried.
using SqsSender = std::function<absl::Status(const std::string& queue_arn, const SqsDelivery&)>;
// Invokes a function asynchronously (InvocationType Event) with `payload` (the SNS event
// JSON: {"Records":[{"EventSource":"aws:sns",...}]}). Errors are retried.
using LambdaInvoker = std::function<absl::Status(const std::string& function_arn, const std::string& payload)>;

struct SnsOptions {
  std::string region = "us-east-1";
  std::string account = "000000000000";
  // The endpoint that SubscribeURL/UnsubscribeURL point at ("http://127.0.0.1:4566").
  std::string endpoint = "http://127.0.0.1:4566";
  // Unset: Subscribe with protocol sqs (or lambda) fails with InvalidParameter saying the
  // service is not available in this Sluice, and RedrivePolicy cannot be set.
  SqsSender sqs_sender;
  LambdaInvoker lambda_invoker;
  int delivery_threads = 4;
  // Accepted deliveries not yet finished, at most; Publish fails with Throttled beyond.
  size_t max_pending_deliveries = 100000;
  // Multiplies every retry delay (tests use small values). 1.0 = the documented delays.
  double retry_delay_scale = 1.0;
  bool start_threads = true;  // false: no delivery workers (unit tests)
};

struct SnsPublishRequest {
  std::string message;
  std::string subject;
  std::string message_structure;  // "" or "json"
  SnsMessageAttributes message_attributes;
  std::string message_group_id;
  std::string message_deduplication_id;
};

struct SnsPublishResult {
  std::string message_id;
  std::string sequence_number;  // FIFO topics only
};

// Query-protocol reply pieces the API adapter renders (see sns_api.cc).
struct SnsSubscriptionInfo {
  std::string subscription_arn;  // "PendingConfirmation" while pending
  std::string owner, protocol, endpoint, topic_arn;
};

class Sns {
 public:
  static absl::StatusOr<std::unique_ptr<Sns>> Open(const std::string& dir, SnsOptions options);
  ~Sns();
  // Stops the delivery workers; unfinished deliveries stay in sns.db for the next Open.
  void Stop();
  // Where SubscribeURL/UnsubscribeURL point (set once the HTTP server has its port).
  void SetEndpoint(const std::string& endpoint);

  // Publishes to a topic in-process (EventBridge targets, Step Functions sns:publish, S3
  // notifications). Errors as the Publish action gives them (see SnsErrorCode).
  absl::StatusOr<SnsPublishResult> Publish(const std::string& topic_arn, SnsPublishRequest request);
  // Whether the topic exists (S3 validates notification destinations).
  bool TopicExists(const std::string& topic_arn);

  // The SNS actions, by query-protocol Action name, for the API adapter. Errors carry the
  // AWS code (SnsErrorCode).
  struct Impl;
  Impl& impl() { return *impl_; }

  // The SubscribeURL of an http/https subscription confirmation: an unsigned
  // GET /?Action=ConfirmSubscription&TopicArn=...&Token=... (as on AWS). The composition
  // root routes such requests here; the reply is the ConfirmSubscriptionResponse XML.
  HttpResponse HandleUnsignedConfirm(const HttpRequest& req);
  // Likewise the UnsubscribeURL: unsigned GET /?Action=Unsubscribe&SubscriptionArn=...
  HttpResponse HandleUnsignedUnsubscribe(const HttpRequest& req);

 private:
  explicit Sns(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The AWS error code of a Status from Sns ("NotFound", "InvalidParameter", ...) and its
// HTTP status.
std::string SnsErrorCode(const absl::Status& status);
int SnsErrorHttpStatus(const std::string& code);

// The route serving SNS (query protocol, signing name "sns").
ServiceRoute MakeSnsService(Sns& sns);

}  // namespace sluice
