#include "http/sigv2.h"

#include <openssl/hmac.h>

#include <algorithm>

#include "base/strings.h"
#include "base/time.h"
#include "io/checksum.h"

namespace sluice {
namespace {

AwsError Denied(std::string code, std::string message, int status = 403) {
  return AwsError{status, std::move(code), std::move(message), {}};
}

std::string HmacSha1(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

// The sub-resources that are part of the signed resource, in the order S3 sorts them.
constexpr const char* kSubResources[] = {
    "acl", "cors", "delete", "lifecycle", "location", "logging", "notification", "partNumber", "policy",
    "requestPayment", "response-cache-control", "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type", "response-expires", "restore", "tagging", "torrent",
    "uploadId", "uploads", "versionId", "versioning", "versions", "website"};

std::string CanonicalResource(const HttpRequest& req) {
  // Virtual-host requests sign /bucket/key.
  std::string bucket = VirtualHostBucket(req);
  std::string resource = bucket.empty() ? req.path : StrCat("/", bucket, req.path);
  std::vector<std::string> subs;
  for (const auto& [k, v] : req.query) {
    for (const char* s : kSubResources) {
      if (k == s) subs.push_back(v.empty() ? k : StrCat(k, "=", v));
    }
  }
  std::sort(subs.begin(), subs.end());
  if (!subs.empty()) resource += "?" + Join(subs, "&");
  return resource;
}

}  // namespace

bool HasSigV2(const HttpRequest& req) {
  if (const std::string* a = req.Header("authorization")) return a->starts_with("AWS ");
  return req.HasQuery("AWSAccessKeyId") && req.HasQuery("Signature");
}

std::optional<AwsError> VerifySigV2(const HttpRequest& req, const AccessKeys& keys, absl::Time now, SigV4Auth* out) {
  std::string access_key, signature, date;
  bool presigned = false;
  if (const std::string* a = req.Header("authorization")) {
    std::string_view v = *a;
    v.remove_prefix(4);
    auto colon = v.rfind(':');
    if (colon == std::string_view::npos) {
      return Denied("InvalidArgument", "Authorization header is invalid -- one and only one ' ' (space) required", 400);
    }
    access_key = std::string(v.substr(0, colon));
    signature = std::string(v.substr(colon + 1));
    date = req.Header("x-amz-date") ? "" : req.HeaderOr("date");
    auto when = ParseHttpDate(req.Header("x-amz-date") ? *req.Header("x-amz-date") : req.HeaderOr("date"));
    if (!when) return Denied("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header");
    if (absl::AbsDuration(now - *when) > absl::Minutes(15)) {
      return Denied("RequestTimeTooSkewed", "The difference between the request time and the current time is too large.");
    }
  } else {
    presigned = true;
    access_key = *req.Query("AWSAccessKeyId");
    signature = *req.Query("Signature");
    date = req.Query("Expires") ? *req.Query("Expires") : "";
    int64_t expires = 0;
    if (!ParseNumber(date, &expires)) {
      return Denied("AccessDenied", "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters");
    }
    if (absl::FromUnixSeconds(expires) < now) return Denied("AccessDenied", "Request has expired");
  }
  auto key = keys.find(access_key);
  if (key == keys.end()) {
    return Denied("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
        .With("AWSAccessKeyId", access_key);
  }
  std::vector<std::pair<std::string, std::string>> amz;
  for (const auto& [k, v] : req.headers) {
    if (k.starts_with("x-amz-")) amz.emplace_back(k, std::string(StripWhitespace(v)));
  }
  std::sort(amz.begin(), amz.end());
  std::string amz_headers;
  for (size_t i = 0; i < amz.size(); ++i) {
    if (i > 0 && amz[i].first == amz[i - 1].first) {
      StrAppend(&amz_headers, ",", amz[i].second);
      continue;
    }
    if (i > 0) amz_headers += "\n";
    StrAppend(&amz_headers, amz[i].first, ":", amz[i].second);
  }
  if (!amz_headers.empty()) amz_headers += "\n";
  std::string string_to_sign = StrCat(req.method, "\n", req.HeaderOr("content-md5"), "\n",
                                      req.HeaderOr("content-type"), "\n", date, "\n", amz_headers,
                                      CanonicalResource(req));
  std::string expected = Base64Encode(HmacSha1(key->second, string_to_sign));
  if (expected != signature) {
    return Denied("SignatureDoesNotMatch",
                  "The request signature we calculated does not match the signature you provided. Check your key and "
                  "signing method.")
        .With("AWSAccessKeyId", access_key).With("StringToSign", string_to_sign);
  }
  out->access_key = access_key;
  out->service = "s3";
  out->payload_mode = PayloadMode::kUnsigned;
  out->presigned = presigned;
  return std::nullopt;
}

}  // namespace sluice
