#include "lambda/lambda.h"

#include "lambda/service.h"

namespace sluice {

Lambda::Lambda(std::unique_ptr<lambda::LambdaService> service) : service_(std::move(service)) {}
Lambda::~Lambda() { Stop(); }

absl::StatusOr<std::unique_ptr<Lambda>> Lambda::Open(const std::string& dir, LambdaOptions options) {
  ASSIGN_OR_RETURN(auto service, lambda::LambdaService::Open(dir, std::move(options)));
  return std::unique_ptr<Lambda>(new Lambda(std::move(service)));
}

void Lambda::SetEndpoint(const std::string& endpoint) { service_->SetEndpoint(endpoint); }
void Lambda::Stop() { service_->Stop(); }

absl::StatusOr<LambdaInvokeResult> Lambda::Invoke(const std::string& function, std::string payload, InvocationType type,
                                                  bool tail_log) {
  return service_->Invoke(function, std::move(payload), type, tail_log);
}

absl::StatusOr<std::string> Lambda::FunctionArn(const std::string& function) { return service_->FunctionArn(function); }

std::string LambdaErrorCode(const absl::Status& status) {
  if (auto code = status.GetPayload("lambda-code")) return std::string(*code);
  return "ServiceException";
}

}  // namespace sluice
