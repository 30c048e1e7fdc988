#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "io/file.h"

// The HTTP request and response as services see them: plain values, independent of the
// Beast types the server uses on the wire.
namespace sluice {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;     // "GET"
  std::string target;     // as sent: "/bucket/key%20x?list-type=2"
  std::string path;       // the target's path, still percent-encoded
  std::string raw_query;  // after '?', still encoded
  HeaderList query;       // decoded name/value pairs, in order
  HeaderList headers;     // names lower-cased, in order
  std::string request_id;
  absl::Time received;
  uint64_t content_length = 0;  // of the body as sent (before aws-chunked decoding)

  // The first value of a header (name lower-case) or query parameter, or nullptr.
  const std::string* Header(std::string_view name) const;
  const std::string* Query(std::string_view name) const;
  std::string HeaderOr(std::string_view name, std::string_view fallback = "") const;
  bool HasQuery(std::string_view name) const { return Query(name) != nullptr; }
  void SetHeader(std::string_view name, std::string value);
};

// A response body is a string, or a range of an open file (sent with sendfile).
struct HttpResponse {
  int status = 200;
  HeaderList headers;
  std::string body;
  UniqueFd file;
  uint64_t file_offset = 0;
  uint64_t file_length = 0;
  // For HEAD: headers (with the Content-Length of the would-be body), no body.
  bool omit_body = false;
  // Close the connection after this response (set when a request body was not read).
  bool close = false;

  void SetHeader(std::string_view name, std::string value);
  const std::string* Header(std::string_view name) const;
  uint64_t BodyLength() const { return file.valid() ? file_length : body.size(); }
};

// The bucket of a virtual-host style S3 request (Host "<bucket>.localhost[:port]" or
// "<bucket>.s3.localhost[:port]"), or "" for path-style requests. Routing and SigV2's
// signed resource both use it, so they agree on what a request addresses.
std::string VirtualHostBucket(const HttpRequest& req);

// Percent-encoding as SigV4 and S3 define it: every byte but A-Z a-z 0-9 - _ . ~ is
// encoded as %XX (upper-case hex); '/' too unless keep_slash.
std::string UriEncode(std::string_view s, bool keep_slash);
// Decodes %XX (and '+' as a space when plus_is_space). Invalid escapes are kept as-is.
std::string UriDecode(std::string_view s, bool plus_is_space = false);
// Splits "a=1&b&c=%20" into decoded pairs.
HeaderList ParseQuery(std::string_view raw_query);

}  // namespace sluice
