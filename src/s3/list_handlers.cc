// ListObjectsV2, ListObjects (v1) and ListObjectVersions.
#include <algorithm>
#include <optional>

#include "base/strings.h"
#include "base/time.h"
#include "io/checksum.h"
#include "s3/api.h"

namespace sluice::s3 {
namespace {

// The parameters every listing shares: encoding-type, prefix, delimiter, max-keys.
struct ListParams {
  ListRequest req;
  bool url = false;  // encoding-type=url
};

// Fills *out; an error response for a bad parameter.
std::optional<HttpResponse> ReadListParams(Call& c, ListParams* out) {
  const HttpRequest& q = c.req;
  if (const std::string* enc = q.Query("encoding-type")) {
    if (*enc != "url") return Error(c, 400, "InvalidArgument", "Invalid Encoding Method specified in Request");
    out->url = true;
  }
  ListRequest& req = out->req;
  if (const std::string* p = q.Query("prefix")) req.prefix = *p;
  if (const std::string* d = q.Query("delimiter")) req.delimiter = *d;
  if (const std::string* m = q.Query("max-keys")) {
    if (!ParseNumber(*m, &req.max_keys) || req.max_keys < 0) {
      return Error(c, 400, "InvalidArgument", "Provided max-keys not an integer or within integer range");
    }
    req.max_keys = std::min(req.max_keys, 1000);
  }
  return std::nullopt;
}

constexpr std::string_view kOwner =
    "<Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>"
    "<DisplayName>sluice</DisplayName></Owner>";

HttpResponse List(Call& c) {
  const HttpRequest& q = c.req;
  bool v2 = q.Query("list-type") && *q.Query("list-type") == "2";
  ListParams params;
  if (auto bad = ReadListParams(c, &params)) return std::move(*bad);
  ListRequest& req = params.req;
  auto enc = [url = params.url](std::string_view s) { return url ? UriEncode(s, true) : XmlText(s); };
  std::string token, start_after, marker;
  if (v2) {
    if (const std::string* t = q.Query("continuation-token")) {
      token = *t;
      auto decoded = Base64Decode(token);
      if (!decoded || !decoded->starts_with("1:")) {
        return Error(c, 400, "InvalidArgument", "The continuation token provided is incorrect");
      }
      req.after = decoded->substr(2);
    } else if (const std::string* s = q.Query("start-after")) {
      start_after = *s;
      req.after = *s;
    }
  } else if (const std::string* m = q.Query("marker")) {
    marker = *m;
    req.after = *m;
  }
  auto result = c.store.List(c.bucket, req);
  if (!result.ok()) return Error(c, result.status());
  bool fetch_owner = !v2 || (q.Query("fetch-owner") && *q.Query("fetch-owner") == "true");
  std::string x = XmlHeader() + "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>" +
                  XmlText(c.bucket) + "</Name><Prefix>" + enc(req.prefix) + "</Prefix>";
  if (v2) {
    if (!token.empty()) StrAppend(&x, "<ContinuationToken>", XmlText(token), "</ContinuationToken>");
    if (!start_after.empty()) StrAppend(&x, "<StartAfter>", enc(start_after), "</StartAfter>");
    StrAppend(&x, "<KeyCount>", result->objects.size() + result->common_prefixes.size(), "</KeyCount>");
  } else {
    StrAppend(&x, "<Marker>", enc(marker), "</Marker>");
  }
  StrAppend(&x, "<MaxKeys>", req.max_keys, "</MaxKeys>");
  if (!req.delimiter.empty()) StrAppend(&x, "<Delimiter>", enc(req.delimiter), "</Delimiter>");
  if (params.url) x += "<EncodingType>url</EncodingType>";
  StrAppend(&x, "<IsTruncated>", result->truncated ? "true" : "false", "</IsTruncated>");
  if (result->truncated) {
    if (v2) {
      StrAppend(&x, "<NextContinuationToken>", Base64Encode("1:" + result->last), "</NextContinuationToken>");
    } else if (!req.delimiter.empty()) {
      StrAppend(&x, "<NextMarker>", enc(result->last), "</NextMarker>");
    }
  }
  for (const auto& o : result->objects) {
    StrAppend(&x, "<Contents><Key>", enc(o.key), "</Key><LastModified>", FormatIso8601(o.last_modified),
              "</LastModified><ETag>&quot;", o.etag, "&quot;</ETag>");
    if (!o.checksum_algorithm.empty()) {
      StrAppend(&x, "<ChecksumAlgorithm>", o.checksum_algorithm, "</ChecksumAlgorithm>");
      if (!o.checksum_type.empty()) StrAppend(&x, "<ChecksumType>", o.checksum_type, "</ChecksumType>");
    }
    StrAppend(&x, "<Size>", o.size, "</Size>");
    if (fetch_owner) x += kOwner;
    StrAppend(&x, "<StorageClass>", o.storage_class, "</StorageClass></Contents>");
  }
  for (const auto& p : result->common_prefixes) {
    StrAppend(&x, "<CommonPrefixes><Prefix>", enc(p), "</Prefix></CommonPrefixes>");
  }
  x += "</ListBucketResult>";
  return Xml(c, std::move(x));
}

// ListObjectVersions. Sluice never versions a bucket, so, as S3 answers for a bucket that
// was never versioned, every object is its only version, with version ID "null".
HttpResponse ListVersions(Call& c) {
  const HttpRequest& q = c.req;
  ListParams params;
  if (auto bad = ReadListParams(c, &params)) return std::move(*bad);
  ListRequest& req = params.req;
  auto enc = [url = params.url](std::string_view s) { return url ? UriEncode(s, true) : XmlText(s); };
  std::string key_marker, version_marker;
  if (const std::string* k = q.Query("key-marker")) key_marker = *k;
  if (const std::string* v = q.Query("version-id-marker")) {
    version_marker = *v;
    if (key_marker.empty()) {
      return Error(c, 400, "InvalidArgument", "A version-id marker cannot be specified without a key marker.");
    }
    if (version_marker != "null") return Error(c, 400, "InvalidArgument", "Invalid version id specified");
  }
  req.after = key_marker;
  auto result = c.store.List(c.bucket, req);
  if (!result.ok()) return Error(c, result.status());
  std::string x = XmlHeader() + "<ListVersionsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>" +
                  XmlText(c.bucket) + "</Name><Prefix>" + enc(req.prefix) + "</Prefix><KeyMarker>" + enc(key_marker) +
                  "</KeyMarker><VersionIdMarker>" + XmlText(version_marker) + "</VersionIdMarker>";
  if (result->truncated) {
    StrAppend(&x, "<NextKeyMarker>", enc(result->last), "</NextKeyMarker><NextVersionIdMarker>null</NextVersionIdMarker>");
  }
  StrAppend(&x, "<MaxKeys>", req.max_keys, "</MaxKeys>");
  if (!req.delimiter.empty()) StrAppend(&x, "<Delimiter>", enc(req.delimiter), "</Delimiter>");
  if (params.url) x += "<EncodingType>url</EncodingType>";
  StrAppend(&x, "<IsTruncated>", result->truncated ? "true" : "false", "</IsTruncated>");
  for (const auto& o : result->objects) {
    StrAppend(&x, "<Version><Key>", enc(o.key), "</Key><VersionId>null</VersionId><IsLatest>true</IsLatest><LastModified>",
              FormatIso8601(o.last_modified), "</LastModified><ETag>&quot;", o.etag, "&quot;</ETag><Size>", o.size,
              "</Size>", kOwner, "<StorageClass>", o.storage_class, "</StorageClass></Version>");
  }
  for (const auto& p : result->common_prefixes) {
    StrAppend(&x, "<CommonPrefixes><Prefix>", enc(p), "</Prefix></CommonPrefixes>");
  }
  x += "</ListVersionsResult>";
  return Xml(c, std::move(x));
}

}  // namespace

std::unique_ptr<Operation> ListOperation(Call c) {
  return Now(c.req.HasQuery("versions") ? ListVersions(c) : List(c));
}

}  // namespace sluice::s3
