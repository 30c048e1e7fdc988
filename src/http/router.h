#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/aws_error.h"
#include "http/message.h"
#include "http/sigv4.h"

// Routing of requests on the one endpoint to the service that answers them, and the
// Operation interface through which a service answers one request.
namespace sluice {

// One request's work inside a service. Created on a worker thread after the request's
// headers were read and its signature verified; then fed the body and finished, all on
// worker threads (one at a time: an Operation needs no locking of its own).
class Operation {
 public:
  virtual ~Operation() = default;
  // Receives the body (aws-chunked framing already removed) in pieces. Returns false to
  // stop reading; Finish() then reports why.
  virtual bool OnBody(std::string_view data) = 0;
  // The body was read completely and its signature/hash verified (or OnBody returned false).
  // Trailing headers of aws-chunked bodies have been merged into the request's headers.
  virtual HttpResponse Finish() = 0;
};

// An Operation for requests whose whole body fits in memory (up to `limit` bytes).
class BufferedOperation : public Operation {
 public:
  using Fn = std::function<HttpResponse(std::string body)>;
  BufferedOperation(Fn fn, size_t limit, AwsProtocol protocol, std::string request_id)
      : fn_(std::move(fn)), limit_(limit), protocol_(protocol), request_id_(std::move(request_id)) {}
  bool OnBody(std::string_view data) override;
  HttpResponse Finish() override;

 private:
  Fn fn_;
  size_t limit_;
  AwsProtocol protocol_;
  std::string request_id_;
  std::string body_;
  bool too_large_ = false;
};

// Creates the Operation for an authenticated request. The request outlives the Operation.
using ServiceHandler = std::function<std::unique_ptr<Operation>(HttpRequest& req, const SigV4Auth& auth)>;

struct ServiceRoute {
  std::string signing_name;                  // "s3": the service in the credential scope
  AwsProtocol protocol = AwsProtocol::kRestXml;
  std::vector<std::string> target_prefixes;  // X-Amz-Target prefixes ("Kinesis_20131202")
  bool raw_uri = false;                      // S3 signs the path as sent
  // The largest request body the service accepts (0: no limit of its own). Bodies read
  // before authentication (all but S3's) are capped at this too; larger ones are refused
  // from Content-Length, before they are read.
  uint64_t body_limit = 0;
  ServiceHandler handler;
};

// Unauthenticated endpoints of Sluice itself (/health, /metrics, /console).
using InternalHandler = std::function<HttpResponse(const HttpRequest& req)>;

// Maps requests to services. Built before the server starts; read-only (and so
// thread-safe) afterwards.
class Router {
 public:
  void AddService(ServiceRoute route);
  // `path` is matched exactly, only for requests that carry no signature.
  void AddInternal(std::string method, std::string path, InternalHandler handler);

  const InternalHandler* FindInternal(const HttpRequest& req) const;
  // By X-Amz-Target, then the credential scope's service, then S3 (path-style requests).
  // Null when the request names a service that is not registered; `*name` says which.
  const ServiceRoute* FindService(const HttpRequest& req, std::string* name) const;
  std::vector<std::string> ServiceNames() const;

 private:
  struct Internal {
    std::string method, path;
    InternalHandler handler;
  };
  std::vector<ServiceRoute> services_;
  std::vector<Internal> internal_;
};

// The protocol a request to `service` is answered in: the route's, except that JSON
// requests (X-Amz-Target) to a route serving both protocols (SQS) get JSON. With no
// route, the caller's protocol is guessed from the request: X-Amz-Target or a JSON
// content type: JSON; a form body or an Action parameter: query; else rest-json (JSON errors).
AwsProtocol CallerProtocol(const HttpRequest& req, const ServiceRoute* service);

// The 500 a service answers when it failed unexpectedly: InternalError (rest-xml, S3),
// InternalFailure (JSON and query protocols).
AwsError InternalAwsError(AwsProtocol protocol);

// 501 NotImplemented for a service Sluice does not have, in the caller's protocol, with a
// message naming the service (`name`: its signing name or X-Amz-Target prefix) and the
// `available` ones.
HttpResponse NotImplementedService(const HttpRequest& req, const std::string& name,
                                   const std::vector<std::string>& available);

}  // namespace sluice
