#include "http/router.h"

#include <algorithm>

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

AwsProtocol CallerProtocol(const HttpRequest& req, const ServiceRoute* service) {
  if (service) {
    if (service->protocol == AwsProtocol::kQuery && req.Header("x-amz-target")) return AwsProtocol::kJson;
    return service->protocol;
  }
  std::string content_type = AsciiLower(req.HeaderOr("content-type"));
  if (req.Header("x-amz-target") || content_type.find("json") != std::string::npos) return AwsProtocol::kJson;
  if (content_type.rfind("application/x-www-form-urlencoded", 0) == 0 || req.HasQuery("Action")) {
    return AwsProtocol::kQuery;
  }
  auto scope = FindCredentialScope(req);
  std::string service_name = scope ? scope->service : "";
  if (service_name == "s3" || service_name == "s3control") return AwsProtocol::kRestXml;
  // route53 and cloudfront (rest-xml) answer errors in the query protocol's <ErrorResponse>.
  if (service_name == "route53" || service_name == "cloudfront") return AwsProtocol::kQuery;
  return AwsProtocol::kJson;  // rest-json services (Lambda, API Gateway, ...) read JSON errors
}

AwsError InternalAwsError(AwsProtocol protocol) {
  if (protocol == AwsProtocol::kRestXml) {
    return AwsError{500, "InternalError", "We encountered an internal error. Please try again.", {}};
  }
  return AwsError{500, "InternalFailure",
                  "The request processing has failed because of an unknown error, exception or failure.", {}};
}

HttpResponse NotImplementedService(const HttpRequest& req, const std::string& name,
                                   const std::vector<std::string>& available) {
  std::string service = name;
  if (auto scope = FindCredentialScope(req); scope && !scope->service.empty()) service = scope->service;
  if (std::find(available.begin(), available.end(), service) != available.end()) {
    // A service Sluice has, asked for an X-Amz-Target it does not know.
    return RenderError(AwsProtocol::kJson,
                       AwsError{400, "UnknownOperationException",
                                StrCat("The X-Amz-Target '", req.HeaderOr("x-amz-target"),
                                       "' names no operation of the '", service, "' service."),
                                {}},
                       req.request_id);
  }
  AwsError error{501, "NotImplemented",
                 StrCat("The '", service, "' service is not available in Sluice (it serves: ",
                        Join(available, ", "), ")."),
                 {}};
  if (service == "ec2") {
    // The EC2 protocol's own error shape: <Response><Errors><Error>.
    HttpResponse r;
    r.status = error.status;
    r.SetHeader("x-amz-request-id", req.request_id);
    r.SetHeader("Content-Type", "text/xml");
    r.body = StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>", error.code,
                    "</Code><Message>", XmlEscape(error.message), "</Message></Error></Errors><RequestID>",
                    req.request_id, "</RequestID></Response>");
    return r;
  }
  return RenderError(CallerProtocol(req, nullptr), error, req.request_id);
}

std::vector<std::string> Router::ServiceNames() const {
  std::vector<std::string> out;
  for (const auto& s : services_) out.push_back(s.signing_name);
  return out;
}

}  // namespace sluice
