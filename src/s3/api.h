#pragma once

#include <memory>
#include <optional>
#include <string>

#include <pugixml.hpp>

#include "http/aws_error.h"
#include "http/router.h"
#include "io/checksum.h"
#include "s3/notifications.h"
#include "s3/store.h"

// Pieces shared by the S3 handler files (private to s3/).
namespace sluice::s3 {

// One S3 request, decoded: which bucket and key it addresses.
struct Call {
  HttpRequest& req;
  ObjectStore& store;
  std::string bucket;  // empty for service-level requests
  std::string key;     // empty for bucket-level requests
  Notifications* notifications = nullptr;
};

HttpResponse Error(const Call& c, int status, std::string_view code, std::string_view message);
// A store Status as the S3 error it carries (500 InternalError when it carries none).
HttpResponse Error(const Call& c, const absl::Status& status);
HttpResponse Xml(const Call& c, std::string body, int status = 200);
HttpResponse Empty(const Call& c, int status);
std::string XmlHeader();
// The 501 NotImplemented answer for a request naming an S3 subresource, or carrying a
// header (server-side encryption, object lock), that Sluice does not serve; nullopt if none.
std::optional<HttpResponse> UnservedFeature(const Call& c);
bool IsValidUtf8(std::string_view s);
// Text for an XML reply: escaped, and always well-formed XML 1.0: bytes that are not UTF-8
// and characters XML 1.0 cannot hold (C0 controls but tab, LF, CR) become U+FFFD. Keys
// holding such characters are exact only with encoding-type=url (which SDKs send).
std::string XmlText(std::string_view s);
std::string XmlSafe(std::string_view s);  // XmlText without the escaping
// Parses an XML request body. Every reader of request XML uses this, so whitespace-only
// text (a key " ") is kept and entities (&#x9;, &amp;) are decoded alike everywhere.
pugi::xml_parse_result LoadXml(pugi::xml_document& doc, std::string_view body);
std::string Quote(std::string_view etag);  // "\"<etag>\""
// An Operation answering at once, ignoring any body.
std::unique_ptr<Operation> Now(HttpResponse r);
// An Operation that reads a small body (XML documents) and then answers.
std::unique_ptr<Operation> WithBody(Call c, std::function<HttpResponse(Call&, std::string)> fn);
// Adds the object headers (ETag, Content-Type, metadata, checksum if enabled) to `r`.
void AddObjectHeaders(const Call& c, const ObjectMeta& m, HttpResponse& r);

// Marks the store changes this request makes with their S3 reason (for notifications).
inline ChangeContext Reason(const Call& c, const char* reason) { return {reason, c.req.request_id, "127.0.0.1"}; }

// Handler entry points, one file per resource.
std::unique_ptr<Operation> BucketOperation(Call c);     // bucket_handlers.cc
std::unique_ptr<Operation> ListOperation(Call c);       // list_handlers.cc
std::unique_ptr<Operation> ObjectOperation(Call c);     // object_handlers.cc
std::unique_ptr<Operation> MultipartOperation(Call c);  // multipart_handlers.cc
bool IsMultipartRequest(const Call& c);

// PutObject and UploadPart: streams the body into a new object file, computing the MD5
// and any requested checksum in the same pass, verifies them, then calls `commit`.
using CommitFn = std::function<HttpResponse(Call&, ObjectMeta meta, std::unique_ptr<ObjectFile> file)>;
std::unique_ptr<Operation> StreamingPut(Call c, CommitFn commit);

// Metadata of a new object from the request headers (content-*, x-amz-meta-*, tagging).
absl::StatusOr<ObjectMeta> MetaFromHeaders(const Call& c);
absl::StatusOr<KeyValues> ParseTagSet(std::string_view query_string_form);

constexpr uint64_t kMaxPutSize = 5ull << 30;  // 5 GiB

}  // namespace sluice::s3

namespace sluice::s3 {

// The object named by x-amz-copy-source, copied (whole or a byte range) into a new file,
// with its MD5 and optionally a checksum computed on the way. Checks the
// x-amz-copy-source-if-* conditions.
struct CopiedObject {
  ObjectMeta source;
  std::unique_ptr<ObjectFile> file;
  std::string md5;  // raw
  std::string checksum;  // base64, when an algorithm was asked for
};
absl::StatusOr<CopiedObject> CopyFromSource(const Call& c, std::string_view range_header,
                                            std::optional<ChecksumAlgorithm> algorithm);

}  // namespace sluice::s3
