#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "http/router.h"
#include "nlohmann/json.hpp"

// AWS Lambda: functions whose code really runs. Definitions live in <dir>/lambda.db
// (SQLite), code is unpacked under <dir>/functions/<name>/<revision>/, logs are kept per
// function under <dir>/logs/<name>/ (log group /aws/lambda/<name>). Invocations run in
// worker processes that speak the Lambda Runtime API to Sluice (see worker.h): the zip's
// `bootstrap` for provided.al2/al2023, Sluice's own bootstrap for python3.x.
//
// Other services invoke functions through Lambda::Invoke (EventBridge targets, S3 and SNS
// notifications, Step Functions tasks); asynchronous invocations are durable in lambda.db
// before they are accepted. Thread-safe.
namespace sluice {

// Reads an S3 object for CreateFunction/UpdateFunctionCode with S3Bucket/S3Key.
using LambdaCodeFetcher =
    std::function<absl::StatusOr<std::string>(const std::string& bucket, const std::string& key, const std::string& version)>;
// Sends an asynchronous invocation's record to a destination ARN (sqs, sns, lambda, events).
using LambdaDestinationSender = std::function<absl::Status(const std::string& arn, const std::string& body)>;

struct LambdaOptions {
  std::string region = "us-east-1";
  std::string account = "000000000000";
  std::string python = "python3";  // runs python3.x functions
  std::string node = "node";       // nodejs functions are refused when this is not found
  // Credentials workers get (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).
  std::string access_key = "test", secret_key = "test";
  LambdaCodeFetcher code_fetcher;
  // The in-process SQS API (AmazonSQS.<action> in JSON shapes) that event source mappings
  // poll; unset, CreateEventSourceMapping is refused.
  std::function<absl::StatusOr<nlohmann::json>(const std::string& action, const nlohmann::json& input)> sqs_call;
  LambdaDestinationSender destination_sender;
  // Concurrent executions of all functions (AWS's account limit is 1000; a laptop is smaller).
  int concurrency_limit = 64;
  // Multiplies the retry delays of asynchronous invocations (1 min, then 2 min).
  double retry_delay_scale = 1.0;
  bool start_threads = true;  // false: no asynchronous dispatcher (unit tests)
};

enum class InvocationType { kRequestResponse, kEvent, kDryRun };

struct LambdaInvokeResult {
  int status = 200;               // 200, 202 (Event) or 204 (DryRun)
  std::string payload;            // the response or the error payload
  std::string function_error;     // "" or "Unhandled"
  std::string log_tail;           // the invocation's log, last 4 KB (sync only)
  std::string executed_version = "$LATEST";
};

namespace lambda {
class LambdaService;
}

class Lambda {
 public:
  static absl::StatusOr<std::unique_ptr<Lambda>> Open(const std::string& dir, LambdaOptions options);
  ~Lambda();
  // Where workers' AWS_ENDPOINT_URL points (set once the HTTP server has its port); the
  // asynchronous dispatcher starts then.
  void SetEndpoint(const std::string& endpoint);
  // Kills every worker and stops the dispatcher; accepted asynchronous invocations stay in
  // lambda.db for the next Open. Idempotent.
  void Stop();

  // Invokes `function` (a name, an ARN or a partial ARN, optionally with a qualifier).
  // Errors carry Lambda's error code (LambdaErrorCode).
  absl::StatusOr<LambdaInvokeResult> Invoke(const std::string& function, std::string payload, InvocationType type,
                                            bool tail_log = false);
  // The function's ARN if it exists.
  absl::StatusOr<std::string> FunctionArn(const std::string& function);

  lambda::LambdaService& service() { return *service_; }

 private:
  explicit Lambda(std::unique_ptr<lambda::LambdaService> service);
  std::unique_ptr<lambda::LambdaService> service_;
};

// The AWS error code of a Status from Lambda ("ResourceNotFoundException", ...).
std::string LambdaErrorCode(const absl::Status& status);

// The REST-JSON route (signing name "lambda") over `lambda`, which must outlive it.
ServiceRoute MakeLambdaService(Lambda& lambda);

}  // namespace sluice
