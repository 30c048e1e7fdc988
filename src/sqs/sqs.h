#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "base/status.h"
#include "http/router.h"
#include "nlohmann/json.hpp"

// Amazon SQS: standard and FIFO queues, durable in SQLite, served on the JSON protocol
// (current SDKs) and the query protocol (older SDKs, the AWS CLI v2 of Debian 12).
//
// Other services (SNS fan-out, EventBridge targets, Step Functions sqs:sendMessage, S3
// notifications) send through Sqs::Send with a queue ARN; the HTTP route is
// MakeSqsService. Thread-safe. Open() loads every queue and message into memory (the
// index); every change is committed to <dir>/sqs.db before it is acknowledged.
namespace sluice {

struct SqsOptions {
  std::string region = "us-east-1";
  std::string account = "000000000000";
  // A timer thread expires retention, runs message move tasks and wakes long polls;
  // false in tests that call RunTimers() themselves.
  bool start_threads = true;
  // Long polls that may wait their full WaitTimeSeconds at once. Each waits on a worker
  // thread of the HTTP server (a pool of 32); polls beyond this many wait at most 1 s, so
  // long polls can never take the whole pool.
  int max_long_polls = 12;
};

// A message attribute value as SendMessage takes it.
struct SqsAttributeValue {
  std::string data_type;     // "String", "Number" or "Binary", optionally with a ".label"
  std::string string_value;  // String and Number
  std::string binary_value;  // Binary: the raw bytes
};

struct SqsSendRequest {
  std::string body;
  std::map<std::string, SqsAttributeValue> attributes;
  std::optional<int> delay_seconds;  // the queue's DelaySeconds when absent
  std::string group_id;              // FIFO queues
  std::string dedup_id;              // FIFO queues without ContentBasedDeduplication
  std::string trace_header;          // the AWSTraceHeader system attribute
};

struct SqsSentMessage {
  std::string message_id;
  std::string md5_of_body;
  std::string md5_of_attributes;  // "" without attributes
  std::string sequence_number;    // FIFO queues
};

namespace sqs {
class SqsService;
}

class Sqs {
 public:
  static absl::StatusOr<std::unique_ptr<Sqs>> Open(const std::string& dir, SqsOptions options);
  ~Sqs();
  // Stops the timer thread and ends long polls (they return what is there); requests are
  // still answered, without waiting. Call before stopping the HTTP server. Idempotent.
  void Stop();

  // The AmazonSQS.* actions, input and output in their JSON-protocol shapes. `endpoint`
  // ("http://127.0.0.1:4566") is the base of the queue URLs returned. Errors carry the
  // error shape name (SqsErrorCode: "QueueDoesNotExist", "InvalidAttributeValue", ...).
  absl::StatusOr<nlohmann::json> Call(const std::string& action, const nlohmann::json& input,
                                      const std::string& endpoint);

  // Sends one message to the queue `queue_arn` (arn:aws:sqs:<region>:<account>:<name>).
  absl::StatusOr<SqsSentMessage> Send(const std::string& queue_arn, SqsSendRequest request);
  // The ARN of the queue a URL (http://host/<account>/<name>, or a bare name) names.
  std::optional<std::string> QueueArnFromUrl(const std::string& url) const;
  bool QueueExists(const std::string& queue_arn) const;

  // Expires retention and runs move tasks due at `now` (the timer thread does this).
  void RunTimers(absl::Time now);

 private:
  explicit Sqs(std::unique_ptr<sqs::SqsService> service);
  std::unique_ptr<sqs::SqsService> service_;
};

// The error shape a Status from Sqs carries ("QueueDoesNotExist"); "InternalError" otherwise.
std::string SqsErrorCode(const absl::Status& status);

// The SQS route over `sqs` (which must outlive it): the JSON protocol (X-Amz-Target
// AmazonSQS.<Action>) and the query protocol (Action=<Action>) on one route.
ServiceRoute MakeSqsService(Sqs& sqs);

}  // namespace sluice
