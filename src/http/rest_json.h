#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

// Routing inside a REST-JSON service (Lambda): requests are matched by method and path
// against the request-URI templates of the service model ("/2015-03-31/functions/
// {FunctionName}/invocations", "{ARN+}" greedy, "?find=LayerVersion" required query).
namespace sluice {

struct RestOperation {
  std::string method;       // "POST"
  std::string uri;          // the model's requestUri template
  std::string name;         // "Invoke"
  int success_status = 200;
};

struct RestMatch {
  const RestOperation* operation = nullptr;
  std::map<std::string, std::string> labels;  // path labels, percent-decoded
};

// A table of operations. Immutable after construction, so thread-safe.
class RestRouter {
 public:
  explicit RestRouter(std::vector<RestOperation> operations);
  // The operation whose method and template match `req` (templates with a required query
  // parameter win over the same path without). nullopt when none matches;
  // `*path_matched` says whether some operation matched the path with another method.
  std::optional<RestMatch> Match(const HttpRequest& req, bool* path_matched = nullptr) const;

 private:
  struct Compiled {
    RestOperation op;
    std::vector<std::string> segments;  // "{Name}" / "{Name+}" or literal
    std::string query_name, query_value;
  };
  static bool MatchPath(const Compiled& c, const std::vector<std::string_view>& path,
                        std::map<std::string, std::string>* labels);
  std::vector<Compiled> ops_;
};

}  // namespace sluice
