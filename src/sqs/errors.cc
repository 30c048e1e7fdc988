#include "sqs/errors.h"

#include <map>

#include "absl/strings/cord.h"
#include "sqs/sqs.h"

namespace sluice {
namespace sqs {
namespace {
constexpr const char kCodePayload[] = "sluice.sqs/code";
}  // namespace

absl::Status Error(const std::string& shape, const std::string& message) {
  absl::Status st(absl::StatusCode::kFailedPrecondition, message);
  st.SetPayload(kCodePayload, absl::Cord(shape));
  return st;
}

absl::Status NoQueue() { return Error("QueueDoesNotExist", "The specified queue does not exist."); }

absl::Status InvalidParameter(const std::string& message) { return Error("InvalidParameterValue", message); }

absl::Status MissingParameter(const std::string& name) {
  return Error("MissingParameter", "The request must contain the parameter " + name + ".");
}

ErrorInfo InfoOf(const std::string& shape) {
  static const std::map<std::string, ErrorInfo> kInfo = {
      {"QueueDoesNotExist", {400, "AWS.SimpleQueueService.NonExistentQueue"}},
      {"QueueNameExists", {400, "QueueAlreadyExists"}},
      {"QueueDeletedRecently", {400, "AWS.SimpleQueueService.QueueDeletedRecently"}},
      {"MessageNotInflight", {400, "AWS.SimpleQueueService.MessageNotInflight"}},
      {"TooManyEntriesInBatchRequest", {400, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"}},
      {"EmptyBatchRequest", {400, "AWS.SimpleQueueService.EmptyBatchRequest"}},
      {"BatchEntryIdsNotDistinct", {400, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"}},
      {"BatchRequestTooLong", {400, "AWS.SimpleQueueService.BatchRequestTooLong"}},
      {"InvalidBatchEntryId", {400, "AWS.SimpleQueueService.InvalidBatchEntryId"}},
      {"PurgeQueueInProgress", {403, "AWS.SimpleQueueService.PurgeQueueInProgress"}},
      {"UnsupportedOperation", {400, "AWS.SimpleQueueService.UnsupportedOperation"}},
      {"OverLimit", {403, "OverLimit"}},
      {"ResourceNotFoundException", {404, "ResourceNotFoundException"}},
      {"InternalError", {500, "InternalError", false}},
  };
  auto it = kInfo.find(shape);
  if (it != kInfo.end()) return it->second;
  return ErrorInfo{400, shape, true};
}

}  // namespace sqs

std::string SqsErrorCode(const absl::Status& status) {
  auto p = status.GetPayload(sqs::kCodePayload);
  if (p) return std::string(*p);
  return "InternalError";
}

}  // namespace sluice
