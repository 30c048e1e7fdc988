#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "base/status.h"

// A minimal blocking HTTP/1.1 client (Boost.Beast) for SNS's http/https deliveries.
namespace sluice::sns {

struct HttpTarget {
  bool tls = false;
  std::string host, port, path;  // path includes the query string
};

// Parses "http://host[:port]/path?query" or https://...; InvalidArgument otherwise.
absl::StatusOr<HttpTarget> ParseHttpUrl(const std::string& url);

// POSTs `body`; returns the response status code. Connection failures and timeouts are
// Unavailable. https verifies the server's certificate against the system's CAs, as AWS
// does (a self-signed endpoint fails to deliver).
absl::StatusOr<int> HttpPost(const HttpTarget& target, const std::vector<std::pair<std::string, std::string>>& headers,
                             const std::string& body, absl::Duration timeout);

}  // namespace sluice::sns
