#pragma once

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "http/aws_error.h"
#include "http/message.h"

// AWS Signature Version 4 verification: Authorization headers and presigned query strings.
// Stateless and thread-safe; see docs/formats/sigv4.md for what is checked.
namespace sluice {

// access key id -> secret access key.
using AccessKeys = absl::flat_hash_map<std::string, std::string>;

// How the request body is covered by the signature (x-amz-content-sha256).
enum class PayloadMode {
  kUnsigned,                  // UNSIGNED-PAYLOAD, presigned URLs
  kSha256,                    // hex SHA-256 of the body, compared once the body is read
  kStreamingSigned,           // STREAMING-AWS4-HMAC-SHA256-PAYLOAD: aws-chunked, chunk signatures
  kStreamingSignedTrailer,    // STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
  kStreamingUnsignedTrailer,  // STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked, trailer checksums
};

bool IsAwsChunked(PayloadMode mode);

struct SigV4Auth {
  std::string access_key;
  std::string region;
  std::string service;
  std::string amz_date;    // 20250801T120000Z
  std::string scope;       // 20250801/us-east-1/s3/aws4_request
  std::string signature;   // hex, the seed of chunk signatures
  std::string signing_key; // raw derived key
  PayloadMode payload_mode = PayloadMode::kUnsigned;
  std::string payload_sha256;  // hex, for kSha256
  bool presigned = false;
};

// Credential scope pieces from an Authorization header or X-Amz-Credential parameter, when
// the request carries one: used to route requests by service.
struct CredentialScope {
  std::string access_key, date, region, service;
};
std::optional<CredentialScope> FindCredentialScope(const HttpRequest& req);

// Checks that `req`'s credential scope (when it has one) names this endpoint's `region` and
// the `service` it was routed to, with AWS's errors: S3 (`s3`) answers 400
// AuthorizationHeaderMalformed / AuthorizationQueryParametersError naming the expected
// region (<Region>, which SDKs follow); other services 403 SignatureDoesNotMatch
// "Credential should be scoped to a valid region" / "... to correct service".
std::optional<AwsError> CheckCredentialScope(const HttpRequest& req, std::string_view region,
                                             std::string_view service, bool s3);

// Verifies `req`'s SigV4 signature against `keys` at time `now`. `uri_is_raw` is true for S3,
// whose canonical URI is the path as sent (other services normalize and encode it again).
// For S3, x-amz-content-sha256 names the payload (a hash, UNSIGNED-PAYLOAD or a streaming
// mode); `body_sha256_hex` (the body's hex SHA-256) is needed only when it is absent. Other
// services always sign the body's own hash: `body_sha256_hex` is required (without it the
// request is refused), and an x-amz-content-sha256 that differs from it is refused.
// x-amz-* headers the signature does not cover are refused (403 AccessDenied, HeadersNotSigned).
// Returns the error AWS would answer (403 SignatureDoesNotMatch, InvalidAccessKeyId, ...).
std::optional<AwsError> VerifySigV4(const HttpRequest& req, const AccessKeys& keys, absl::Time now,
                                    bool uri_is_raw, const std::string* body_sha256_hex,
                                    SigV4Auth* out);

// Signs `req` (method, path, raw_query and headers set; host included) for a client:
// adds x-amz-date, x-amz-content-sha256 and Authorization. Used by `sluice` subcommands
// that call a running server.
void SignSigV4(HttpRequest& req, const std::string& access_key, const std::string& secret, const std::string& region,
               const std::string& service, absl::Time now, std::string_view body);

// Both derived from the secret: the signing key, and a hex signature of a string to sign.
std::string DeriveSigningKey(const std::string& secret, std::string_view date,
                             std::string_view region, std::string_view service);

}  // namespace sluice
