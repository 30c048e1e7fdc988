#include "http/json_api.h"

#include "base/json.h"
#include "base/strings.h"

namespace sluice {

std::string JsonString(const nlohmann::json& j, const char* name) {
  if (!j.is_object()) return "";
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::optional<std::string> JsonBodyError(const nlohmann::json& input, JsonParseError error) {
  if (error == JsonParseError::kTooDeep) {
    return StrCat("The request body nests arrays or objects more than ", kMaxJsonDepth, " levels deep.");
  }
  if (error != JsonParseError::kNone || input.is_discarded()) return "The request body is not valid JSON.";
  if (!input.is_object()) return "The request body must be a JSON object.";
  return std::nullopt;
}

ServiceRoute MakeJsonService(JsonServiceSpec spec) {
  ServiceRoute route;
  route.signing_name = spec.signing_name;
  route.protocol = AwsProtocol::kJson;
  route.target_prefixes = {spec.target_prefix};
  route.body_limit = spec.body_limit;
  auto shared = std::make_shared<JsonServiceSpec>(std::move(spec));  // shared by every request's closure
  route.handler = [shared](HttpRequest& req, const SigV4Auth&) -> std::unique_ptr<Operation> {
    std::string target = req.HeaderOr("x-amz-target");
    std::string action = target.substr(target.find('.') == std::string::npos ? target.size() : target.find('.') + 1);
    std::string request_id = req.request_id;
    const HttpRequest* request = &req;
    return std::make_unique<BufferedOperation>(
        [shared, action, request_id, request](std::string body) {
          auto reply_error = [&](const AwsError& e) {
            HttpResponse r = RenderError(AwsProtocol::kJson, e, request_id);
            r.SetHeader("Content-Type", shared->content_type);
            return r;
          };
          if (request->method != "POST") {
            return reply_error(AwsError{400, "InvalidAction", "JSON protocol requests must be POST.", {}});
          }
          JsonParseError parse_error = JsonParseError::kNone;
          nlohmann::json input = StripWhitespace(body).empty() ? nlohmann::json::object()
                                                                : ParseJson(body, &parse_error);
          if (auto message = JsonBodyError(input, parse_error)) {
            return reply_error(AwsError{400, "SerializationException", *message, {}});
          }
          JsonReply reply;
          try {
            reply = shared->dispatch(action, input, *request);
          } catch (const nlohmann::json::exception& e) {
            // A member of the wrong JSON type deep inside a handler.
            reply = JsonReply::Error(400, "SerializationException", StrCat("Malformed input: ", e.what()));
          }
          if (reply.error) return reply_error(*reply.error);
          HttpResponse r;
          r.SetHeader("Content-Type", shared->content_type);
          r.SetHeader("x-amzn-RequestId", request_id);
          r.SetHeader("x-amz-request-id", request_id);
          r.body = reply.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
          return r;
        },
        shared->body_limit, AwsProtocol::kJson, request_id);
  };
  return route;
}

}  // namespace sluice
