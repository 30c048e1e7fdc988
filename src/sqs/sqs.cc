#include "sqs/sqs.h"

#include "sqs/service.h"

namespace sluice {

Sqs::Sqs(std::unique_ptr<sqs::SqsService> service) : service_(std::move(service)) {}
Sqs::~Sqs() = default;

absl::StatusOr<std::unique_ptr<Sqs>> Sqs::Open(const std::string& dir, SqsOptions options) {
  ASSIGN_OR_RETURN(auto service, sqs::SqsService::Open(dir, std::move(options)));
  return std::unique_ptr<Sqs>(new Sqs(std::move(service)));
}

void Sqs::Stop() { service_->Stop(); }

absl::StatusOr<nlohmann::json> Sqs::Call(const std::string& action, const nlohmann::json& input,
                                         const std::string& endpoint) {
  return service_->Call(action, input, endpoint);
}

absl::StatusOr<SqsSentMessage> Sqs::Send(const std::string& queue_arn, SqsSendRequest request) {
  return service_->Send(queue_arn, std::move(request));
}

std::optional<std::string> Sqs::QueueArnFromUrl(const std::string& url) const { return service_->QueueArnFromUrl(url); }

bool Sqs::QueueExists(const std::string& queue_arn) const { return service_->QueueExists(queue_arn); }

void Sqs::RunTimers(absl::Time now) { service_->RunTimers(now); }

}  // namespace sluice
