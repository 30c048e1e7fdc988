#pragma once

#include <string>

#include "http/message.h"
#include "nlohmann/json.hpp"

// A signed client for one AWS JSON-protocol service of a running server, for the CLI's
// subcommands. Credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
// and AWS_DEFAULT_REGION / AWS_REGION (default test/test/us-east-1).
namespace sluice {

using Json = nlohmann::json;

class ApiClient {
 public:
  // `endpoint` as http://host:port; `service` is the SigV4 signing name ("glue");
  // `target_prefix` the X-Amz-Target prefix ("AWSGlue").
  ApiClient(const std::string& endpoint, std::string service, std::string target_prefix, std::string content_type);
  // One call; false with a message (the AWS error, or how to reach the server) on failure.
  bool Call(const std::string& action, const Json& input, Json* out, std::string* error);
  // A REST request (Lambda): `path` percent-encoded, no body.
  bool CallRest(const std::string& method, const std::string& path, Json* out, std::string* error);

 private:
  bool Send(const std::string& method, const std::string& path, const HeaderList& headers, const std::string& body,
            Json* out, std::string* error);
  std::string host_, port_, access_key_, secret_, region_, service_, target_prefix_, content_type_;
};

}  // namespace sluice
