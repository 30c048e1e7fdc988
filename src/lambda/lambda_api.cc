// The REST-JSON adapter: routes requests by method and path (the botocore model's request
// URIs) to LambdaService, and renders Lambda's errors (x-amzn-ErrorType + JSON body).
#include <functional>
#include <map>
#include <set>

#include "base/json.h"
#include "base/strings.h"
#include "http/rest_json.h"
#include "io/checksum.h"
#include "lambda/lambda.h"
#include "lambda/service.h"

namespace sluice {
namespace {

using lambda::Json;

const std::vector<RestOperation>& Operations() {
  static const std::vector<RestOperation> ops = [] {
    std::vector<RestOperation> v = {
#include "lambda/operations.inc"
    };
    // Sluice's own: a function's log streams, for `sluice logs function`.
    v.push_back({"GET", "/sluice/2015-03-31/functions/{FunctionName}/logs", "GetFunctionLogs", 200});
    return v;
  }();
  return ops;
}

int HttpStatusOf(const std::string& code) {
  static const std::map<std::string, int> k = {
      {"ResourceNotFoundException", 404},      {"ResourceConflictException", 409},
      {"ValidationException", 400},            {"InvalidParameterValueException", 400},
      {"TooManyRequestsException", 429},       {"RequestTooLargeException", 413},
      {"RequestEntityTooLargeException", 413}, {"PreconditionFailedException", 412},
      {"InvalidRequestContentException", 400}, {"NotImplemented", 501},
      {"UnsupportedMediaTypeException", 415},  {"ServiceException", 500}};
  auto it = k.find(code);
  return it == k.end() ? 400 : it->second;
}

HttpResponse JsonResponse(int status, const Json& body, const std::string& request_id) {
  HttpResponse r;
  r.status = status;
  r.SetHeader("Content-Type", "application/json");
  r.SetHeader("x-amzn-RequestId", request_id);
  if (status != 204) r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

HttpResponse ErrorResponse(const std::string& code, const std::string& message, const std::string& request_id,
                           const std::string& reason = "") {
  Json body = {{"Type", HttpStatusOf(code) >= 500 ? "Service" : "User"}, {"message", message}};
  if (!reason.empty()) body["Reason"] = reason;
  HttpResponse r = JsonResponse(HttpStatusOf(code), body, request_id);
  r.SetHeader("x-amzn-ErrorType", code);
  return r;
}

HttpResponse StatusResponse(const absl::Status& st, const std::string& request_id) {
  std::string reason;
  if (auto p = st.GetPayload("lambda-reason")) reason = std::string(*p);
  return ErrorResponse(LambdaErrorCode(st), std::string(st.message()), request_id, reason);
}

struct Call {
  const HttpRequest& req;
  std::map<std::string, std::string>& labels;
  const std::string& body;
  std::string Label(const char* name) { return labels[name]; }
  absl::StatusOr<Json> JsonBody() {
    if (StripWhitespace(body).empty()) return Json::object();
    Json j = ParseJson(body);
    if (j.is_discarded() || !j.is_object()) {
      return lambda::LambdaStatus(absl::StatusCode::kInvalidArgument, "InvalidRequestContentException",
                                  "Could not parse request body into json");
    }
    return j;
  }
};

using Handler = std::function<HttpResponse(lambda::LambdaService&, Call&, int success)>;

// Wraps a service call returning Json (or a Status for bodiless replies).
template <typename Fn>
Handler WithJson(Fn fn) {
  return [fn](lambda::LambdaService& s, Call& c, int success) {
    absl::StatusOr<Json> in = c.JsonBody();
    if (!in.ok()) return StatusResponse(in.status(), c.req.request_id);
    absl::StatusOr<Json> out = fn(s, c, *in);
    if (!out.ok()) return StatusResponse(out.status(), c.req.request_id);
    return JsonResponse(success, *out, c.req.request_id);
  };
}

template <typename Fn>
Handler NoContent(Fn fn) {
  return [fn](lambda::LambdaService& s, Call& c, int success) {
    absl::StatusOr<Json> in = c.JsonBody();
    if (!in.ok()) return StatusResponse(in.status(), c.req.request_id);
    absl::Status st = fn(s, c, *in);
    if (!st.ok()) return StatusResponse(st, c.req.request_id);
    return JsonResponse(success, Json::object(), c.req.request_id);
  };
}

HttpResponse InvokeHandler(lambda::LambdaService& s, Call& c, int) {
  std::string type = c.req.HeaderOr("x-amz-invocation-type", "RequestResponse");
  InvocationType t;
  if (type == "RequestResponse") {
    t = InvocationType::kRequestResponse;
  } else if (type == "Event") {
    t = InvocationType::kEvent;
  } else if (type == "DryRun") {
    t = InvocationType::kDryRun;
  } else {
    return ErrorResponse("ValidationException",
                         StrCat("1 validation error detected: Value '", type,
                                "' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value "
                                "set: [Event, RequestResponse, DryRun]"),
                         c.req.request_id);
  }
  std::string function = c.Label("FunctionName");
  if (const std::string* q = c.req.Query("Qualifier")) function += ":" + *q;
  bool tail = c.req.HeaderOr("x-amz-log-type") == "Tail";
  auto r = s.Invoke(function, c.body, t, tail);
  if (!r.ok()) return StatusResponse(r.status(), c.req.request_id);
  HttpResponse out;
  out.status = r->status;
  out.SetHeader("Content-Type", "application/json");
  out.SetHeader("x-amzn-RequestId", c.req.request_id);
  if (r->status == 200) {
    out.SetHeader("X-Amz-Executed-Version", r->executed_version);
    if (!r->function_error.empty()) out.SetHeader("X-Amz-Function-Error", r->function_error);
    if (tail) out.SetHeader("X-Amz-Log-Result", Base64Encode(r->log_tail));
    out.body = std::move(r->payload);
  }
  return out;
}

const std::map<std::string, Handler>& Handlers() {
  static const std::map<std::string, Handler> k = {
      {"CreateFunction", WithJson([](auto& s, Call&, const Json& in) { return s.CreateFunction(in); })},
      {"GetFunction", WithJson([](auto& s, Call& c, const Json&) {
         std::string f = c.Label("FunctionName");
         if (const std::string* q = c.req.Query("Qualifier")) f += ":" + *q;
         return s.GetFunction(f);
       })},
      {"GetFunctionConfiguration", WithJson([](auto& s, Call& c, const Json&) {
         std::string f = c.Label("FunctionName");
         if (const std::string* q = c.req.Query("Qualifier")) f += ":" + *q;
         return s.GetFunctionConfiguration(f);
       })},
      {"ListFunctions", WithJson([](auto& s, Call& c, const Json&) {
         int max = 50;
         if (const std::string* m = c.req.Query("MaxItems")) ParseNumber(*m, &max);
         const std::string* marker = c.req.Query("Marker");
         const std::string* version = c.req.Query("FunctionVersion");
         return s.ListFunctions(marker ? *marker : "", max, version && *version == "ALL");
       })},
      {"DeleteFunction", NoContent([](auto& s, Call& c, const Json&) {
         const std::string* q = c.req.Query("Qualifier");
         if (q && *q != "$LATEST") return s.DeleteVersion(c.Label("FunctionName"), *q);
         return s.DeleteFunction(c.Label("FunctionName"));
       })},
      {"UpdateFunctionCode",
       WithJson([](auto& s, Call& c, const Json& in) { return s.UpdateFunctionCode(c.Label("FunctionName"), in); })},
      {"UpdateFunctionConfiguration", WithJson([](auto& s, Call& c, const Json& in) {
         return s.UpdateFunctionConfiguration(c.Label("FunctionName"), in);
       })},
      {"Invoke", InvokeHandler},
      {"ListTags", WithJson([](auto& s, Call& c, const Json&) { return s.ListTags(c.Label("Resource")); })},
      {"TagResource", NoContent([](auto& s, Call& c, const Json& in) {
         return s.TagResource(c.Label("Resource"), in.value("Tags", Json::object()));
       })},
      {"UntagResource", NoContent([](auto& s, Call& c, const Json&) {
         std::vector<std::string> keys;
         for (const auto& [k, v] : c.req.query) {
           if (k == "tagKeys") keys.push_back(v);
         }
         return s.UntagResource(c.Label("Resource"), keys);
       })},
      {"PutFunctionEventInvokeConfig", WithJson([](auto& s, Call& c, const Json& in) {
         return s.PutFunctionEventInvokeConfig(c.Label("FunctionName"), in, false);
       })},
      {"UpdateFunctionEventInvokeConfig", WithJson([](auto& s, Call& c, const Json& in) {
         return s.PutFunctionEventInvokeConfig(c.Label("FunctionName"), in, true);
       })},
      {"GetFunctionEventInvokeConfig",
       WithJson([](auto& s, Call& c, const Json&) { return s.GetFunctionEventInvokeConfig(c.Label("FunctionName")); })},
      {"DeleteFunctionEventInvokeConfig", NoContent([](auto& s, Call& c, const Json&) {
         return s.DeleteFunctionEventInvokeConfig(c.Label("FunctionName"));
       })},
      {"PutFunctionConcurrency",
       WithJson([](auto& s, Call& c, const Json& in) { return s.PutFunctionConcurrency(c.Label("FunctionName"), in); })},
      {"GetFunctionConcurrency",
       WithJson([](auto& s, Call& c, const Json&) { return s.GetFunctionConcurrency(c.Label("FunctionName")); })},
      {"DeleteFunctionConcurrency",
       NoContent([](auto& s, Call& c, const Json&) { return s.DeleteFunctionConcurrency(c.Label("FunctionName")); })},
      {"GetAccountSettings",
       WithJson([](auto& s, Call&, const Json&) -> absl::StatusOr<Json> { return s.GetAccountSettings(); })},
      {"PublishVersion",
       WithJson([](auto& s, Call& c, const Json& in) { return s.PublishVersion(c.Label("FunctionName"), in); })},
      {"ListVersionsByFunction",
       WithJson([](auto& s, Call& c, const Json&) { return s.ListVersionsByFunction(c.Label("FunctionName")); })},
      {"CreateAlias", WithJson([](auto& s, Call& c, const Json& in) { return s.CreateAlias(c.Label("FunctionName"), in); })},
      {"GetAlias", WithJson([](auto& s, Call& c, const Json&) { return s.GetAlias(c.Label("FunctionName"), c.Label("Name")); })},
      {"UpdateAlias", WithJson([](auto& s, Call& c, const Json& in) {
         return s.UpdateAlias(c.Label("FunctionName"), c.Label("Name"), in);
       })},
      {"DeleteAlias",
       NoContent([](auto& s, Call& c, const Json&) { return s.DeleteAlias(c.Label("FunctionName"), c.Label("Name")); })},
      {"ListAliases", WithJson([](auto& s, Call& c, const Json&) { return s.ListAliases(c.Label("FunctionName")); })},
      {"PublishLayerVersion",
       WithJson([](auto& s, Call& c, const Json& in) { return s.PublishLayerVersion(c.Label("LayerName"), in); })},
      {"GetLayerVersion", WithJson([](auto& s, Call& c, const Json&) -> absl::StatusOr<Json> {
         int64_t v = 0;
         ParseNumber(c.Label("VersionNumber"), &v);
         return s.GetLayerVersion(c.Label("LayerName"), v);
       })},
      {"GetLayerVersionByArn", WithJson([](auto& s, Call& c, const Json&) {
         const std::string* arn = c.req.Query("Arn");
         return s.LayerVersionByArn(arn ? *arn : "");
       })},
      {"ListLayerVersions", WithJson([](auto& s, Call& c, const Json&) { return s.ListLayerVersions(c.Label("LayerName")); })},
      {"ListLayers", WithJson([](auto& s, Call&, const Json&) -> absl::StatusOr<Json> { return s.ListLayers(); })},
      {"DeleteLayerVersion", NoContent([](auto& s, Call& c, const Json&) {
         int64_t v = 0;
         ParseNumber(c.Label("VersionNumber"), &v);
         return s.DeleteLayerVersion(c.Label("LayerName"), v);
       })},
      {"AddPermission",
       WithJson([](auto& s, Call& c, const Json& in) { return s.AddPermission(c.Label("FunctionName"), in); })},
      {"GetPolicy", WithJson([](auto& s, Call& c, const Json&) { return s.GetPolicy(c.Label("FunctionName")); })},
      {"RemovePermission", NoContent([](auto& s, Call& c, const Json&) {
         return s.RemovePermission(c.Label("FunctionName"), c.Label("StatementId"));
       })},
      {"CreateEventSourceMapping",
       WithJson([](auto& s, Call&, const Json& in) { return s.mappings().Create(in); })},
      {"GetEventSourceMapping", WithJson([](auto& s, Call& c, const Json&) { return s.mappings().Get(c.Label("UUID")); })},
      {"UpdateEventSourceMapping",
       WithJson([](auto& s, Call& c, const Json& in) { return s.mappings().Update(c.Label("UUID"), in); })},
      {"DeleteEventSourceMapping",
       WithJson([](auto& s, Call& c, const Json&) { return s.mappings().Delete(c.Label("UUID")); })},
      {"ListEventSourceMappings", WithJson([](auto& s, Call& c, const Json&) {
         const std::string* f = c.req.Query("FunctionName");
         const std::string* e = c.req.Query("EventSourceArn");
         return s.mappings().List(f ? *f : "", e ? *e : "");
       })},
      {"GetFunctionLogs", WithJson([](auto& s, Call& c, const Json&) -> absl::StatusOr<Json> {
         ASSIGN_OR_RETURN(std::string log, s.FunctionLogs(c.Label("FunctionName")));
         return Json{{"Log", log}};
       })},
  };
  return k;
}

}  // namespace

ServiceRoute MakeLambdaService(Lambda& lambda) {
  static const RestRouter router(Operations());
  ServiceRoute route;
  route.signing_name = "lambda";
  route.protocol = AwsProtocol::kJson;
  route.handler = [&lambda](HttpRequest& req, const SigV4Auth&) -> std::unique_ptr<Operation> {
    const HttpRequest* request = &req;
    return std::make_unique<BufferedOperation>(
        [&lambda, request](std::string body) {
          const HttpRequest& req = *request;
          bool path_matched = false;
          auto match = router.Match(req, &path_matched);
          if (!match) {
            if (path_matched) {
              return ErrorResponse("ValidationException", StrCat("The method ", req.method, " is not allowed on ", req.path),
                                   req.request_id);
            }
            HttpResponse r = ErrorResponse("ResourceNotFoundException", StrCat("No Lambda operation at ", req.path),
                                           req.request_id);
            r.status = 404;
            r.SetHeader("x-amzn-ErrorType", "UnknownOperationException");
            return r;
          }
          auto it = Handlers().find(match->operation->name);
          if (it == Handlers().end()) {
            return ErrorResponse("NotImplemented",
                                 StrCat("The Lambda operation ", match->operation->name, " is not implemented in Sluice yet"),
                                 req.request_id);
          }
          // Qualifiers are resolved by Invoke, GetFunction(Configuration) and DeleteFunction;
          // elsewhere a version or alias would be ignored, so it is refused instead.
          static const std::set<std::string> kQualified = {"Invoke", "GetFunction", "GetFunctionConfiguration",
                                                           "DeleteFunction"};
          if (const std::string* q = req.Query("Qualifier");
              q && *q != "$LATEST" && !kQualified.contains(match->operation->name)) {
            return ErrorResponse("NotImplemented",
                                 StrCat("The Lambda operation ", match->operation->name,
                                        " with a Qualifier is not implemented in Sluice yet"),
                                 req.request_id);
          }
          Call call{req, match->labels, body};
          try {
            return it->second(lambda.service(), call, match->operation->success_status);
          } catch (const nlohmann::json::exception& e) {
            return ErrorResponse("InvalidRequestContentException",
                                 StrCat("Could not parse request body into json: ", e.what()), req.request_id);
          }
        },
        size_t{70} << 20, AwsProtocol::kJson, req.request_id);
  };
  return route;
}

}  // namespace sluice
