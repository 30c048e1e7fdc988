#pragma once

#include <string>

#include "base/status.h"

// SQS errors as Status values: the error shape name ("QueueDoesNotExist") travels in a
// payload; the API adapter maps it to the HTTP status and the query-protocol code.
namespace sluice::sqs {

absl::Status Error(const std::string& shape, const std::string& message);
// The common errors, with AWS's messages.
absl::Status NoQueue();
absl::Status InvalidParameter(const std::string& message);
absl::Status MissingParameter(const std::string& name);

struct ErrorInfo {
  int status = 400;
  std::string query_code;  // "AWS.SimpleQueueService.NonExistentQueue"
  bool sender = true;
};
ErrorInfo InfoOf(const std::string& shape);

}  // namespace sluice::sqs
