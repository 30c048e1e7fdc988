#include "http/router.h"

#include "base/strings.h"

namespace sluice {

bool BufferedOperation::OnBody(std::string_view data) {
  if (body_.size() + data.size() > limit_) {
    too_large_ = true;
    return false;
  }
  body_.append(data);
  return true;
}

HttpResponse BufferedOperation::Finish() {
  if (too_large_) {
    return RenderError(protocol_,
                       AwsError{413, "RequestEntityTooLarge",
                                StrCat("The request body is larger than ", limit_, " bytes."), {}},
                       request_id_);
  }
  return fn_(std::move(body_));
}

void Router::AddService(ServiceRoute route) { services_.push_back(std::move(route)); }

void Router::AddInternal(std::string method, std::string path, InternalHandler handler) {
  internal_.push_back({std::move(method), std::move(path), std::move(handler)});
}

const InternalHandler* Router::FindInternal(const HttpRequest& req) const {
  if (req.Header("authorization") || req.HasQuery("X-Amz-Signature")) return nullptr;
  for (const auto& i : internal_) {
    if (i.method == req.method && i.path == req.path) return &i.handler;
  }
  return nullptr;
}

const ServiceRoute* Router::FindService(const HttpRequest& req, std::string* name) const {
  if (const std::string* target = req.Header("x-amz-target")) {
    std::string_view prefix = std::string_view(*target).substr(0, target->find('.'));
    for (const auto& s : services_) {
      for (const auto& p : s.target_prefixes) {
        if (p == prefix) return &s;
      }
    }
    *name = std::string(prefix);
    return nullptr;
  }
  std::string service = "s3";
  if (auto scope = FindCredentialScope(req)) service = scope->service;
  for (const auto& s : services_) {
    if (s.signing_name == service) return &s;
  }
  *name = service;
  return nullptr;
}

std::vector<std::string> Router::ServiceNames() const {
  std::vector<std::string> out;
  for (const auto& s : services_) out.push_back(s.signing_name);
  return out;
}

}  // namespace sluice
