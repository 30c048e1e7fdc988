#pragma once

#include <map>
#include <string>

#include "events/events.h"
#include "http/router.h"
#include "nlohmann/json.hpp"
#include "s3/notifications.h"
#include "s3/store.h"
#include "sns/sns.h"
#include "sqs/sqs.h"
#include "states/states.h"

// Wiring between services, kept in the composition root so the module graph stays
// acyclic: Step Functions tasks call Glue, Athena, EventBridge and Step Functions through
// the same JSON routes the HTTP endpoint serves (no HTTP in between), and EventBridge
// delivers to Step Functions.
namespace sluice {

// The JSON-protocol routes by SDK service name ("glue", "athena", "eventbridge", "sfn")
// with their X-Amz-Target prefixes.
struct JsonRoutes {
  struct Entry {
    ServiceRoute route;
    std::string target_prefix;
    std::string error_prefix;  // "Glue": aws-sdk task errors are "Glue.<Exception>"
  };
  std::map<std::string, Entry> services;
  // Calls `action` of `service` in-process; errors are ASL errors "<Prefix>.<Code>".
  absl::StatusOr<nlohmann::json> Call(const std::string& service, const std::string& action,
                                      const nlohmann::json& input) const;
};

// Registers the optimized integrations (glue:startJobRun[.sync], athena:startQueryExecution
// [.sync], athena:getQueryResults, athena:stopQueryExecution, events:putEvents) and every
// route in `routes` as an aws-sdk service. `routes` must outlive `sfn`.
void RegisterStatesIntegrations(StepFunctions& sfn, const JsonRoutes& routes);
// Map ItemReader over the lake: s3:getObject (JSON array, JSON lines, CSV with a header row
// or given headers; MaxItems) and s3:listObjectsV2 (Key, Size, ETag, LastModified).
void RegisterItemReader(StepFunctions& sfn, ObjectStore& store);
// Map ResultWriter into the lake (s3:putObject): <Prefix>/<run id>/SUCCEEDED_0.json,
// FAILED_0.json and manifest.json, as AWS writes them.
void RegisterResultWriter(StepFunctions& sfn, ObjectStore& store);
// Lets EventBridge rules target state machines (StartExecution with the rendered input).
void RegisterEventsTargets(EventBridge& events, StepFunctions& sfn);

// SNS subscriptions of protocol sqs deliver through Sqs::Send.
SqsSender SnsToSqs(Sqs& sqs);
// SQS and SNS as EventBridge targets (and SQS as the targets' dead-letter queue), Step
// Functions sqs:sendMessage and sns:publish (+ .waitForTaskToken, aws-sdk:sns:publish), and
// S3 bucket notifications to queues and topics.
void RegisterMessaging(Sqs& sqs, Sns& sns, EventBridge& events, StepFunctions& sfn, Notifications& notifications);

}  // namespace sluice

#include "lambda/lambda.h"

namespace sluice {

// CreateFunction/UpdateFunctionCode with S3Bucket/S3Key read the object from the lake.
LambdaCodeFetcher LambdaCodeFromS3(ObjectStore& store);
// Asynchronous invocation records to SQS queues, SNS topics and EventBridge buses.
LambdaDestinationSender LambdaDestinations(Sqs& sqs, Sns& sns, EventBridge& events);
// Lambda as an EventBridge target (asynchronous invoke with the rendered input).
void RegisterLambdaTargets(Lambda& lambda, EventBridge& events, StepFunctions& sfn, Notifications& notifications);

}  // namespace sluice
