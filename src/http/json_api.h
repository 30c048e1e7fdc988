#pragma once

#include <functional>
#include <optional>
#include <string>

#include "base/json.h"
#include "http/aws_error.h"
#include "http/router.h"
#include "nlohmann/json.hpp"

// Services on the AWS JSON protocols (awsJson1_0 / awsJson1_1): POST / with
// X-Amz-Target: <prefix>.<Action> and a JSON body; replies are JSON, errors carry
// "__type". A service supplies one dispatch function; this file does the protocol.
namespace sluice {

struct JsonReply {
  nlohmann::json body = nlohmann::json::object();
  std::optional<AwsError> error;

  static JsonReply Error(int status, std::string code, std::string message) {
    JsonReply r;
    r.error = AwsError{status, std::move(code), std::move(message), {}};
    return r;
  }
};

struct JsonServiceSpec {
  std::string signing_name;   // "glue"
  std::string target_prefix;  // "AWSGlue"
  std::string content_type = "application/x-amz-json-1.1";
  size_t body_limit = 16 << 20;
  // Runs on a worker thread; `action` is the part of X-Amz-Target after the '.'.
  std::function<JsonReply(const std::string& action, const nlohmann::json& input, const HttpRequest& req)> dispatch;
};

ServiceRoute MakeJsonService(JsonServiceSpec spec);

// Why a parsed JSON-protocol request body is refused (too deep, not JSON, not an object),
// or nullopt when it is a JSON object.
std::optional<std::string> JsonBodyError(const nlohmann::json& input, JsonParseError error);

// Reads an optional string member; "" when absent or not a string.
std::string JsonString(const nlohmann::json& j, const char* name);

}  // namespace sluice
