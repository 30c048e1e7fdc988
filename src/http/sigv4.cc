#include "http/sigv4.h"

#include <algorithm>

#include "base/strings.h"
#include "base/time.h"
#include "io/checksum.h"

namespace sluice {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr absl::Duration kMaxSkew = absl::Minutes(15);

AwsError Denied(std::string code, std::string message, int status = 403) {
  return AwsError{status, std::move(code), std::move(message), {}};
}

// "AKID/20250801/us-east-1/s3/aws4_request"
std::optional<CredentialScope> ParseCredential(std::string_view cred) {
  std::vector<std::string_view> parts = Split(cred, '/');
  if (parts.size() != 5 || parts[4] != "aws4_request") return std::nullopt;
  return CredentialScope{std::string(parts[0]), std::string(parts[1]), std::string(parts[2]),
                         std::string(parts[3])};
}

struct AuthHeader {
  std::string credential, signed_headers, signature;
};

std::optional<AuthHeader> ParseAuthHeader(std::string_view value) {
  if (!ConsumePrefix(&value, kAlgorithm)) return std::nullopt;
  AuthHeader h;
  for (std::string_view part : Split(value, ',')) {
    part = StripWhitespace(part);
    if (ConsumePrefix(&part, "Credential=")) h.credential = std::string(part);
    else if (ConsumePrefix(&part, "SignedHeaders=")) h.signed_headers = std::string(part);
    else if (ConsumePrefix(&part, "Signature=")) h.signature = std::string(part);
  }
  if (h.credential.empty() || h.signed_headers.empty() || h.signature.empty()) return std::nullopt;
  return h;
}

// Removes "." and ".." segments and duplicate slashes, as non-S3 services canonicalize.
std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> out;
  for (std::string_view seg : Split(path, '/', true)) {
    if (seg == ".") continue;
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(seg);
  }
  std::string result = "/" + Join(out, "/");
  if (path.size() > 1 && path.back() == '/' && result.size() > 1) result.push_back('/');
  return result;
}

std::string CanonicalQuery(std::string_view raw_query, bool drop_signature) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (std::string_view part : Split(raw_query, '&', true)) {
    auto eq = part.find('=');
    std::string_view k = part.substr(0, eq);
    std::string_view v = eq == std::string_view::npos ? "" : part.substr(eq + 1);
    std::string key = UriEncode(UriDecode(k), false);
    if (drop_signature && key == "X-Amz-Signature") continue;
    pairs.emplace_back(std::move(key), UriEncode(UriDecode(v), false));
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [k, v] : pairs) {
    if (!out.empty()) out.push_back('&');
    StrAppend(&out, k, "=", v);
  }
  return out;
}

std::string TrimValue(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : StripWhitespace(v)) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::optional<std::string> CanonicalHeaders(const HttpRequest& req, std::string_view signed_headers) {
  std::string out;
  for (std::string_view name : Split(signed_headers, ';')) {
    std::vector<std::string> values;
    for (const auto& [k, v] : req.headers) {
      if (k == name) values.push_back(TrimValue(v));
    }
    if (values.empty()) return std::nullopt;
    StrAppend(&out, name, ":", Join(values, ","), "\n");
  }
  return out;
}

// x-amz-* headers the request carries that its signature does not cover: each one changes
// what the request does (metadata, tagging, storage class, ...), so AWS refuses them.
std::vector<std::string> UnsignedAmzHeaders(const HttpRequest& req, std::string_view signed_headers) {
  std::vector<std::string_view> names = Split(signed_headers, ';');
  std::vector<std::string> out;
  for (const auto& [k, v] : req.headers) {
    if (k.rfind("x-amz-", 0) != 0) continue;
    if (std::find(names.begin(), names.end(), std::string_view(k)) != names.end()) continue;
    if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  }
  return out;
}

std::optional<PayloadMode> ParsePayloadMode(std::string_view v) {
  if (v == "UNSIGNED-PAYLOAD") return PayloadMode::kUnsigned;
  if (v == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") return PayloadMode::kStreamingSigned;
  if (v == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") return PayloadMode::kStreamingSignedTrailer;
  if (v == "STREAMING-UNSIGNED-PAYLOAD-TRAILER") return PayloadMode::kStreamingUnsignedTrailer;
  if (v.size() == 64 && std::all_of(v.begin(), v.end(), [](char c) { return IsHexDigit(c); })) {
    return PayloadMode::kSha256;
  }
  return std::nullopt;
}

}  // namespace

bool IsAwsChunked(PayloadMode mode) {
  return mode == PayloadMode::kStreamingSigned || mode == PayloadMode::kStreamingSignedTrailer ||
         mode == PayloadMode::kStreamingUnsignedTrailer;
}

std::optional<CredentialScope> FindCredentialScope(const HttpRequest& req) {
  if (const std::string* auth = req.Header("authorization")) {
    if (auto h = ParseAuthHeader(*auth)) return ParseCredential(h->credential);
    return std::nullopt;
  }
  if (const std::string* cred = req.Query("X-Amz-Credential")) return ParseCredential(*cred);
  return std::nullopt;
}

std::optional<AwsError> CheckCredentialScope(const HttpRequest& req, std::string_view region,
                                             std::string_view service, bool s3) {
  auto scope = FindCredentialScope(req);
  if (!scope) return std::nullopt;  // VerifySigV4 reports malformed or missing credentials
  bool presigned = !req.Header("authorization");
  if (s3) {
    std::string_view code = presigned ? "AuthorizationQueryParametersError" : "AuthorizationHeaderMalformed";
    std::string_view what = presigned ? "Error parsing the X-Amz-Credential parameter"
                                      : "The authorization header is malformed";
    if (scope->region != region) {
      return Denied(std::string(code), StrCat(what, "; the region '", scope->region, "' is wrong; expecting '",
                                              region, "'"), 400)
          .With("Region", std::string(region));
    }
    if (scope->service != service) {
      return Denied(std::string(code), StrCat(what, "; incorrect service '", scope->service,
                                              "'. This endpoint belongs to '", service, "'."), 400);
    }
    return std::nullopt;
  }
  if (scope->region != region) {
    return Denied("SignatureDoesNotMatch",
                  StrCat("Credential should be scoped to a valid region, not '", scope->region, "'. "));
  }
  if (scope->service != service) {
    return Denied("SignatureDoesNotMatch",
                  StrCat("Credential should be scoped to correct service: '", service, "'. "));
  }
  return std::nullopt;
}

std::string DeriveSigningKey(const std::string& secret, std::string_view date,
                             std::string_view region, std::string_view service) {
  std::string k = HmacSha256("AWS4" + secret, date);
  k = HmacSha256(k, region);
  k = HmacSha256(k, service);
  return HmacSha256(k, "aws4_request");
}

void SignSigV4(HttpRequest& req, const std::string& access_key, const std::string& secret, const std::string& region,
               const std::string& service, absl::Time now, std::string_view body) {
  std::string amz_date = FormatAmzDate(now);
  std::string payload = HexEncode(Sha256(body));
  req.SetHeader("x-amz-date", amz_date);
  req.SetHeader("x-amz-content-sha256", payload);
  std::vector<std::string> names;
  for (const auto& [k, v] : req.headers) names.push_back(AsciiLower(k));
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string signed_headers = Join(names, ";");
  std::string canonical_request = StrCat(req.method, "\n", UriEncode(NormalizePath(req.path), true), "\n",
                                         CanonicalQuery(req.raw_query, false), "\n",
                                         CanonicalHeaders(req, signed_headers).value_or(""), "\n", signed_headers, "\n",
                                         payload);
  std::string date = amz_date.substr(0, 8);
  std::string scope = StrCat(date, "/", region, "/", service, "/aws4_request");
  std::string string_to_sign = StrCat(kAlgorithm, "\n", amz_date, "\n", scope, "\n", HexEncode(Sha256(canonical_request)));
  std::string signature = HexEncode(HmacSha256(DeriveSigningKey(secret, date, region, service), string_to_sign));
  req.SetHeader("authorization", StrCat(kAlgorithm, " Credential=", access_key, "/", scope,
                                        ", SignedHeaders=", signed_headers, ", Signature=", signature));
}

std::optional<AwsError> VerifySigV4(const HttpRequest& req, const AccessKeys& keys, absl::Time now,
                                    bool uri_is_raw, const std::string* body_sha256_hex,
                                    SigV4Auth* out) {
  std::string credential, signed_headers, signature, amz_date, payload;
  const std::string* auth_header = req.Header("authorization");
  bool presigned = false;
  if (auth_header) {
    auto h = ParseAuthHeader(*auth_header);
    if (!h) {
      return Denied("AuthorizationHeaderMalformed",
                    "The authorization header is malformed; it must be AWS4-HMAC-SHA256 "
                    "Credential=..., SignedHeaders=..., Signature=...", 400);
    }
    credential = h->credential;
    signed_headers = h->signed_headers;
    signature = h->signature;
    amz_date = req.HeaderOr("x-amz-date");
    if (amz_date.empty()) {
      if (const std::string* d = req.Header("date")) {
        if (auto t = ParseHttpDate(*d)) amz_date = FormatAmzDate(*t);
      }
    }
    if (!uri_is_raw && body_sha256_hex) {
      // Only S3 lets x-amz-content-sha256 stand for the body (UNSIGNED-PAYLOAD, streaming):
      // other services sign the body's own hash, so the body is always covered.
      payload = *body_sha256_hex;
      const std::string* p = req.Header("x-amz-content-sha256");
      if (p && AsciiLower(*p) != AsciiLower(payload)) {
        return Denied("SignatureDoesNotMatch",
                      StrCat("The request signature we calculated does not match the signature you provided: "
                             "x-amz-content-sha256 '", p->substr(0, 80),
                             "' is not the SHA-256 of the request body (only S3 accepts UNSIGNED-PAYLOAD "
                             "or streaming payloads)."));
      }
    } else if (!uri_is_raw) {
      return Denied("SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided: "
                    "the request body's hash is unknown.");
    } else if (const std::string* p = req.Header("x-amz-content-sha256")) {
      payload = *p;
    } else if (body_sha256_hex) {
      payload = *body_sha256_hex;
    } else {
      return Denied("InvalidRequest", "Missing required header for this request: x-amz-content-sha256", 400);
    }
  } else if (const std::string* alg = req.Query("X-Amz-Algorithm")) {
    presigned = true;
    if (*alg != kAlgorithm) {
      return Denied("AuthorizationQueryParametersError",
                    "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"", 400);
    }
    const std::string* c = req.Query("X-Amz-Credential");
    const std::string* sh = req.Query("X-Amz-SignedHeaders");
    const std::string* sig = req.Query("X-Amz-Signature");
    const std::string* d = req.Query("X-Amz-Date");
    const std::string* ex = req.Query("X-Amz-Expires");
    if (!c || !sh || !sig || !d || !ex) {
      return Denied("AuthorizationQueryParametersError",
                    "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                    "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                    "X-Amz-Expires parameters.", 400);
    }
    credential = *c;
    signed_headers = *sh;
    signature = *sig;
    amz_date = *d;
    int64_t expires = 0;
    if (!ParseNumber(*ex, &expires) || expires < 1 || expires > 604800) {
      return Denied("AuthorizationQueryParametersError",
                    "X-Amz-Expires must be a number of seconds between 1 and 604800 (seven days).", 400);
    }
    auto signed_at = ParseAmzDate(amz_date);
    if (!signed_at) {
      return Denied("AuthorizationQueryParametersError", "X-Amz-Date must be in the ISO8601 Long Format "
                    "\"yyyyMMdd'T'HHmmss'Z'\"", 400);
    }
    if (now > *signed_at + absl::Seconds(expires)) {
      return Denied("AccessDenied", "Request has expired").With("X-Amz-Expires", *ex)
          .With("Expires", FormatIso8601(*signed_at + absl::Seconds(expires)))
          .With("ServerTime", FormatIso8601(now));
    }
    if (*signed_at > now + kMaxSkew) {
      return Denied("AccessDenied", "Request is not valid yet");
    }
    // S3 presigned URLs sign UNSIGNED-PAYLOAD; other services the body's hash.
    payload = !uri_is_raw && body_sha256_hex ? *body_sha256_hex
                                             : req.HeaderOr("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    if (!uri_is_raw && (!body_sha256_hex || payload != *body_sha256_hex)) {
      return Denied("SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided: "
                    "only S3 accepts UNSIGNED-PAYLOAD.");
    }
  } else {
    return Denied("AccessDenied",
                  "Anonymous access is not allowed: sign requests with SigV4 (the default "
                  "credentials are access key 'test', secret 'test').");
  }

  auto scope = ParseCredential(credential);
  if (!scope) {
    return Denied(presigned ? "AuthorizationQueryParametersError" : "AuthorizationHeaderMalformed",
                  StrCat("The credential '", credential,
                               "' is malformed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."),
                  400);
  }
  auto key = keys.find(scope->access_key);
  if (key == keys.end()) {
    return Denied("InvalidAccessKeyId",
                  "The AWS Access Key Id you provided does not exist in our records.")
        .With("AWSAccessKeyId", scope->access_key);
  }
  auto signed_at = ParseAmzDate(amz_date);
  if (!signed_at) {
    return Denied("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header");
  }
  if (!presigned && absl::AbsDuration(now - *signed_at) > kMaxSkew) {
    return Denied("RequestTimeTooSkewed",
                  "The difference between the request time and the current time is too large.")
        .With("RequestTime", amz_date).With("ServerTime", FormatIso8601(now))
        .With("MaxAllowedSkewMilliseconds", "900000");
  }
  if (amz_date.substr(0, 8) != scope->date) {
    return Denied(presigned ? "AuthorizationQueryParametersError" : "AuthorizationHeaderMalformed",
                  StrCat("Invalid credential date \"", scope->date,
                               "\". This date is not the same as X-Amz-Date: \"",
                               amz_date.substr(0, 8), "\"."), 400);
  }
  auto mode = ParsePayloadMode(payload);
  if (!mode) {
    return Denied("InvalidArgument", StrCat("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                  "STREAMING-... or a hex SHA-256, not '", payload, "'"), 400);
  }

  if (auto unsigned_headers = UnsignedAmzHeaders(req, signed_headers); !unsigned_headers.empty()) {
    return Denied("AccessDenied", "There were headers present in the request which were not signed")
        .With("HeadersNotSigned", Join(unsigned_headers, ", "));
  }
  auto canonical_headers = CanonicalHeaders(req, signed_headers);
  if (!canonical_headers) {
    return Denied("SignatureDoesNotMatch",
                  "The request signature we calculated does not match the signature you provided: "
                  "a signed header is missing from the request.");
  }
  std::string uri = uri_is_raw ? req.path : UriEncode(NormalizePath(req.path), true);
  if (uri.empty()) uri = "/";
  std::string canonical_request =
      StrCat(req.method, "\n", uri, "\n", CanonicalQuery(req.raw_query, presigned), "\n",
                   *canonical_headers, "\n", signed_headers, "\n", payload);
  std::string scope_string = StrCat(scope->date, "/", scope->region, "/", scope->service, "/aws4_request");
  std::string string_to_sign = StrCat(kAlgorithm, "\n", amz_date, "\n", scope_string, "\n",
                                            HexEncode(Sha256(canonical_request)));
  std::string signing_key = DeriveSigningKey(key->second, scope->date, scope->region, scope->service);
  std::string expected = HexEncode(HmacSha256(signing_key, string_to_sign));
  if (expected != AsciiLower(signature)) {
    return Denied("SignatureDoesNotMatch",
                  "The request signature we calculated does not match the signature you provided. "
                  "Check your key and signing method.")
        .With("AWSAccessKeyId", scope->access_key)
        .With("StringToSign", string_to_sign)
        .With("CanonicalRequest", canonical_request);
  }
  out->access_key = scope->access_key;
  out->region = scope->region;
  out->service = scope->service;
  out->amz_date = amz_date;
  out->scope = scope_string;
  out->signature = expected;
  out->signing_key = std::move(signing_key);
  out->payload_mode = *mode;
  out->payload_sha256 = *mode == PayloadMode::kSha256 ? AsciiLower(payload) : "";
  out->presigned = presigned;
  return std::nullopt;
}

}  // namespace sluice
