#include "s3/api.h"

#include "base/strings.h"
#include "base/time.h"
#include "io/checksum.h"
#include "s3/s3.h"

namespace sluice {
namespace s3 {
namespace {

int StatusFor(std::string_view code) {
  static const std::pair<std::string_view, int> kTable[] = {
      {"NoSuchBucket", 404}, {"NoSuchKey", 404}, {"NoSuchUpload", 404}, {"NoSuchTagSet", 404},
      {"BucketAlreadyOwnedByYou", 409}, {"BucketAlreadyExists", 409}, {"BucketNotEmpty", 409},
      {"PreconditionFailed", 412}, {"InvalidRange", 416}, {"AccessDenied", 403},
      {"NotImplemented", 501}, {"InternalError", 500}, {"ServiceUnavailable", 503},
  };
  for (const auto& [c, s] : kTable) {
    if (c == code) return s;
  }
  return 400;
}

class ImmediateOperation final : public Operation {
 public:
  explicit ImmediateOperation(HttpResponse r) : r_(std::move(r)) {}
  bool OnBody(std::string_view) override { return true; }  // drained and ignored
  HttpResponse Finish() override { return std::move(r_); }

 private:
  HttpResponse r_;
};

class BodyOperation final : public Operation {
 public:
  BodyOperation(Call c, std::function<HttpResponse(Call&, std::string)> fn) : c_(std::move(c)), fn_(std::move(fn)) {}
  bool OnBody(std::string_view data) override {
    if (body_.size() + data.size() > kLimit) {
      too_large_ = true;
      return false;
    }
    body_.append(data);
    return true;
  }
  HttpResponse Finish() override {
    if (too_large_) return Error(c_, 400, "MaxMessageLengthExceeded", "Your request was too big.");
    if (const std::string* md5 = c_.req.Header("content-md5")) {
      if (Base64Encode(Md5(body_)) != *md5) {
        return Error(c_, 400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
      }
    }
    return fn_(c_, std::move(body_));
  }

 private:
  static constexpr size_t kLimit = 8 << 20;
  Call c_;
  std::function<HttpResponse(Call&, std::string)> fn_;
  std::string body_;
  bool too_large_ = false;
};

class PutOperation final : public Operation {
 public:
  PutOperation(Call c, CommitFn commit) : c_(std::move(c)), commit_(std::move(commit)) {}

  // Decides what to hash; returns an error response when the request can't be accepted.
  std::optional<HttpResponse> Start() {
    auto file = c_.store.NewObjectFile();
    if (!file.ok()) return Error(c_, file.status());
    file_ = std::move(*file);
    md5_ = NewHasher(ChecksumAlgorithm::kMd5);
    // The checksum to compute: named by a x-amz-checksum-* header, a trailer, or the SDK's
    // x-amz-sdk-checksum-algorithm.
    std::string algo_name = c_.req.HeaderOr("x-amz-sdk-checksum-algorithm");
    if (const std::string* trailer = c_.req.Header("x-amz-trailer")) {
      std::string_view t = *trailer;
      if (ConsumePrefix(&t, "x-amz-checksum-")) algo_name = std::string(t);
    }
    for (const char* name : {"crc32", "crc32c", "crc64nvme", "sha1", "sha256"}) {
      if (c_.req.Header(StrCat("x-amz-checksum-", name))) algo_name = name;
    }
    if (!algo_name.empty()) {
      algorithm_ = ParseChecksumAlgorithm(algo_name);
      if (!algorithm_) {
        return Error(c_, 400, "InvalidRequest", StrCat("Checksum algorithm '", algo_name, "' is not supported; use "
                                                        "CRC32, CRC32C, CRC64NVME, SHA1 or SHA256."));
      }
      checksum_ = NewHasher(*algorithm_);
    }
    return std::nullopt;
  }

  bool OnBody(std::string_view data) override {
    if (!error_.ok()) return false;
    if (file_->size() + data.size() > kMaxPutSize) {
      too_large_ = true;
      return false;
    }
    md5_->Update(data);
    if (checksum_) checksum_->Update(data);
    error_ = file_->Append(data);
    return error_.ok();
  }

  HttpResponse Finish() override {
    if (too_large_) {
      return Error(c_, 400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size (5 GiB).");
    }
    if (!error_.ok()) return Error(c_, error_);
    std::string md5 = md5_->Finish();
    if (const std::string* want = c_.req.Header("content-md5")) {
      auto raw = Base64Decode(*want);
      if (!raw || raw->size() != 16) {
        return Error(c_, 400, "InvalidDigest", "The Content-MD5 you specified is not valid.");
      }
      if (*raw != md5) {
        return Error(c_, 400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
      }
    }
    auto meta = MetaFromHeaders(c_);
    if (!meta.ok()) return Error(c_, meta.status());
    meta->etag = HexEncode(md5);
    if (checksum_) {
      std::string header = ChecksumHeaderName(*algorithm_);
      std::string got = Base64Encode(checksum_->Finish());
      const std::string* want = c_.req.Header(header);
      if (want && *want != got) {
        return Error(c_, 400, "BadDigest", StrCat("The ", ChecksumAlgorithmName(*algorithm_),
                                                  " you specified did not match the calculated checksum."));
      }
      meta->checksum_algorithm = std::string(ChecksumAlgorithmName(*algorithm_));
      meta->checksum = got;
      meta->checksum_type = "FULL_OBJECT";
    }
    return commit_(c_, std::move(*meta), std::move(file_));
  }

 private:
  Call c_;
  CommitFn commit_;
  std::unique_ptr<ObjectFile> file_;
  std::unique_ptr<Hasher> md5_, checksum_;
  std::optional<ChecksumAlgorithm> algorithm_;
  absl::Status error_;
  bool too_large_ = false;
};

}  // namespace

HttpResponse Error(const Call& c, int status, std::string_view code, std::string_view message) {
  AwsError e{status, std::string(code), std::string(message), {}};
  if (code == "NoSuchKey" || code == "KeyTooLongError") e.With("Key", XmlSafe(c.key));
  if (code == "NoSuchBucket" || code == "BucketNotEmpty" || code == "BucketAlreadyOwnedByYou" ||
      code == "InvalidBucketName") {
    e.With("BucketName", c.bucket);
  }
  HttpResponse r = RenderError(AwsProtocol::kRestXml, e, c.req.request_id);
  if (c.req.method == "HEAD") r.omit_body = true;
  return r;
}

HttpResponse Error(const Call& c, const absl::Status& status) {
  std::string code = S3ErrorCode(status);
  if (code.empty()) {
    if (absl::IsUnavailable(status)) return Error(c, 503, "SlowDown", std::string(status.message()));
    if (absl::IsResourceExhausted(status)) return Error(c, 507, "InsufficientStorage", std::string(status.message()));
    return Error(c, 500, "InternalError", StrCat("We encountered an internal error: ", status.message()));
  }
  return Error(c, StatusFor(code), code, std::string(status.message()));
}

HttpResponse Xml(const Call& c, std::string body, int status) {
  HttpResponse r;
  r.status = status;
  r.SetHeader("x-amz-request-id", c.req.request_id);
  r.SetHeader("Content-Type", "application/xml");
  r.body = std::move(body);
  return r;
}

HttpResponse Empty(const Call& c, int status) {
  HttpResponse r;
  r.status = status;
  r.SetHeader("x-amz-request-id", c.req.request_id);
  return r;
}

std::string XmlHeader() { return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"; }

std::string Quote(std::string_view etag) { return StrCat("\"", etag, "\""); }

std::unique_ptr<Operation> Now(HttpResponse r) { return std::make_unique<ImmediateOperation>(std::move(r)); }

std::unique_ptr<Operation> WithBody(Call c, std::function<HttpResponse(Call&, std::string)> fn) {
  return std::make_unique<BodyOperation>(std::move(c), std::move(fn));
}

std::unique_ptr<Operation> StreamingPut(Call c, CommitFn commit) {
  auto op = std::make_unique<PutOperation>(c, std::move(commit));
  if (auto early = op->Start()) return Now(std::move(*early));
  return op;
}

void AddObjectHeaders(const Call& c, const ObjectMeta& m, HttpResponse& r) {
  r.SetHeader("ETag", Quote(m.etag));
  r.SetHeader("Last-Modified", FormatHttpDate(m.last_modified));
  r.SetHeader("Content-Type", m.content_type);
  r.SetHeader("Accept-Ranges", "bytes");
  for (const auto& [k, v] : m.headers) r.SetHeader(k, v);
  for (const auto& [k, v] : m.user_metadata) r.SetHeader("x-amz-meta-" + k, v);
  if (!m.tags.empty()) r.SetHeader("x-amz-tagging-count", std::to_string(m.tags.size()));
  if (m.storage_class != "STANDARD") r.SetHeader("x-amz-storage-class", m.storage_class);
  if (!m.checksum_algorithm.empty() && EqualsIgnoreCase(c.req.HeaderOr("x-amz-checksum-mode"), "ENABLED")) {
    if (auto a = ParseChecksumAlgorithm(m.checksum_algorithm)) r.SetHeader(ChecksumHeaderName(*a), m.checksum);
    if (!m.checksum_type.empty()) r.SetHeader("x-amz-checksum-type", m.checksum_type);
  }
}

absl::StatusOr<KeyValues> ParseTagSet(std::string_view query_string_form) {
  KeyValues tags;
  for (auto& [k, v] : ParseQuery(query_string_form)) {
    for (const auto& [ek, ev] : tags) {
      if (ek == k) return S3Error(absl::StatusCode::kInvalidArgument, "InvalidTag", "Cannot provide multiple Tags with the same key");
    }
    tags.emplace_back(k, v);
  }
  if (tags.size() > 10) {
    return S3Error(absl::StatusCode::kInvalidArgument, "BadRequest", "Object tags cannot be greater than 10");
  }
  // AWS counts Unicode characters, not bytes.
  auto chars = [](std::string_view s) {
    size_t n = 0;
    for (unsigned char ch : s) n += (ch & 0xc0) != 0x80;
    return n;
  };
  for (const auto& [k, v] : tags) {
    if (k.empty() || chars(k) > 128) return S3Error(absl::StatusCode::kInvalidArgument, "InvalidTag", "The TagKey you have provided is invalid");
    if (chars(v) > 256) return S3Error(absl::StatusCode::kInvalidArgument, "InvalidTag", "The TagValue you have provided is invalid");
  }
  return tags;
}

absl::StatusOr<ObjectMeta> MetaFromHeaders(const Call& c) {
  ObjectMeta m;
  m.key = c.key;
  if (const std::string* ct = c.req.Header("content-type")) m.content_type = *ct;
  static constexpr const char* kStored[] = {"content-encoding", "content-disposition", "content-language",
                                            "cache-control", "expires", "x-amz-website-redirect-location"};
  size_t user_bytes = 0;
  for (const auto& [k, v] : c.req.headers) {
    for (const char* s : kStored) {
      if (k == s) {
        // aws-chunked is a transfer detail, not part of the object's encoding.
        if (k == "content-encoding") {
          std::string enc;
          for (std::string_view part : Split(v, ',')) {
            part = StripWhitespace(part);
            if (part == "aws-chunked" || part.empty()) continue;
            if (!enc.empty()) enc += ",";
            enc += std::string(part);
          }
          if (!enc.empty()) m.headers.emplace_back(k, enc);
        } else {
          m.headers.emplace_back(k, v);
        }
      }
    }
    if (k.starts_with("x-amz-meta-")) {
      m.user_metadata.emplace_back(k.substr(11), v);
      user_bytes += k.size() - 11 + v.size();
    }
  }
  if (user_bytes > 2048) {
    return S3Error(absl::StatusCode::kInvalidArgument, "MetadataTooLarge",
                   "Your metadata headers exceed the maximum allowed metadata size (2 KB).");
  }
  if (const std::string* sc = c.req.Header("x-amz-storage-class")) {
    static constexpr const char* kClasses[] = {"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA",
                                               "INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR",
                                               "OUTPOSTS", "SNOW", "EXPRESS_ONEZONE"};
    bool known = false;
    for (const char* k : kClasses) known = known || *sc == k;
    if (!known) return S3Error(absl::StatusCode::kInvalidArgument, "InvalidStorageClass",
                               "The storage class you specified is not valid");
    m.storage_class = *sc;
  }
  if (const std::string* t = c.req.Header("x-amz-tagging")) {
    ASSIGN_OR_RETURN(m.tags, ParseTagSet(*t));
  }
  return m;
}

namespace {

// Every subresource of the S3 API (the query names in the model's request URIs), so a
// request for one Sluice does not serve is refused instead of being answered as a plain
// bucket or object request.
constexpr std::string_view kSubresources[] = {
    "abac", "accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption",
    "intelligent-tiering", "inventory", "legal-hold", "lifecycle", "location", "logging",
    "metadataConfiguration", "metadataInventoryTable", "metadataJournalTable", "metadataTable", "metrics",
    "notification", "object-lock", "ownershipControls", "policy", "policyStatus", "publicAccessBlock",
    "renameObject", "replication", "requestPayment", "restore", "retention", "select", "session", "tagging",
    "torrent", "uploadId", "uploads", "versioning", "versions", "website"};

struct Served {
  std::string_view sub;
  bool bucket;  // on a bucket (true) or an object (false)
  std::string_view methods;
};
// What Sluice serves of them.
constexpr Served kServed[] = {
    {"location", true, "GET"},      {"versioning", true, "GET"},   {"uploads", true, "GET"},
    {"notification", true, "GET PUT"}, {"delete", true, "POST"}, {"versions", true, "GET"},
    {"tagging", false, "GET PUT DELETE"}, {"uploads", false, "POST"}, {"uploadId", false, "GET PUT POST DELETE"},
};

// Request headers of features Sluice lacks; honouring them silently would mislead.
constexpr std::string_view kUnservedHeaders[] = {
    "x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-context", "x-amz-server-side-encryption-bucket-key-enabled",
    "x-amz-server-side-encryption-customer-algorithm", "x-amz-server-side-encryption-customer-key",
    "x-amz-server-side-encryption-customer-key-md5", "x-amz-copy-source-server-side-encryption-customer-algorithm",
    "x-amz-copy-source-server-side-encryption-customer-key",
    "x-amz-copy-source-server-side-encryption-customer-key-md5", "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date", "x-amz-object-lock-legal-hold"};

}  // namespace

std::optional<HttpResponse> UnservedFeature(const Call& c) {
  if (c.bucket.empty()) return std::nullopt;
  bool bucket = c.key.empty();
  for (const auto& [name, value] : c.req.query) {
    bool known = false;
    for (std::string_view s : kSubresources) known = known || s == name;
    if (!known) continue;
    bool served = false;
    for (const Served& s : kServed) {
      if (s.sub != name || s.bucket != bucket) continue;
      for (std::string_view m : Split(s.methods, ' ')) served = served || m == c.req.method;
    }
    if (c.notifications == nullptr && name == "notification") served = false;
    if (!served) {
      return Error(c, 501, "NotImplemented",
                   StrCat("Sluice does not implement ", c.req.method, " ?", name, " on ", bucket ? "a bucket" : "an object",
                          " (", name, " is not supported)."));
    }
  }
  for (std::string_view h : kUnservedHeaders) {
    if (c.req.Header(h)) {
      return Error(c, 501, "NotImplemented",
                   StrCat("Sluice does not implement server-side encryption or object lock: the ", h,
                          " header is not supported."));
    }
  }
  if (EqualsIgnoreCase(c.req.HeaderOr("x-amz-bucket-object-lock-enabled"), "true")) {
    return Error(c, 501, "NotImplemented",
                 "Sluice does not implement object lock: x-amz-bucket-object-lock-enabled is not supported.");
  }
  return std::nullopt;
}

namespace {

// The length of the UTF-8 sequence at s[i] and its code point, or 0 when it is not valid
// UTF-8 (overlong forms and surrogates included).
size_t Utf8Sequence(std::string_view s, size_t i, uint32_t* cp) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n;
  uint32_t v, min;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if ((c & 0xe0) == 0xc0) {
    n = 2, v = c & 0x1f, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3, v = c & 0x0f, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    v = (v << 6) | (b(i + k) & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return n;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  uint32_t cp;
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8Sequence(s, i, &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string XmlText(std::string_view s) { return XmlEscape(XmlSafe(s)); }

std::string XmlSafe(std::string_view s) {
  std::string clean;
  clean.reserve(s.size());
  uint32_t cp;
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8Sequence(s, i, &cp);
    bool xml10 = n != 0 && (cp >= 0x20 || cp == '\t' || cp == '\n' || cp == '\r') && cp != 0xfffe && cp != 0xffff;
    if (xml10) {
      clean.append(s.substr(i, n));
    } else {
      clean += "\xEF\xBF\xBD";  // U+FFFD
    }
    i += n ? n : 1;
  }
  return clean;
}

pugi::xml_parse_result LoadXml(pugi::xml_document& doc, std::string_view body) {
  // Whitespace-only text is data (a key of " "); pugixml drops it by default.
  return doc.load_buffer(body.data(), body.size(), pugi::parse_default | pugi::parse_ws_pcdata_single);
}

}  // namespace s3

namespace {

std::unique_ptr<Operation> Dispatch(HttpRequest& req, ObjectStore& store, Notifications* notifications) {
  s3::Call c{req, store, "", ""};
  c.notifications = notifications;
  std::string path = req.path;
  if (std::string vhost = VirtualHostBucket(req); !vhost.empty()) {
    c.bucket = std::move(vhost);
    c.key = UriDecode(std::string_view(path).substr(path.empty() ? 0 : 1));
  } else {
    std::string_view p = path;
    if (!p.empty() && p[0] == '/') p.remove_prefix(1);
    auto slash = p.find('/');
    c.bucket = UriDecode(p.substr(0, slash));
    if (slash != std::string_view::npos) c.key = UriDecode(p.substr(slash + 1));
  }
  if (c.key.size() > 1024) {
    return s3::Now(s3::Error(c, 400, "KeyTooLongError", "Your key is too long"));
  }
  if (!s3::IsValidUtf8(c.key)) {
    // S3 keys are UTF-8: AWS refuses others with 400 on every request.
    return s3::Now(s3::Error(c, 400, "InvalidURI", "Couldn't parse the specified URI: the object key is not valid UTF-8."));
  }
  if (auto refused = s3::UnservedFeature(c)) return s3::Now(std::move(*refused));
  // Buckets are never versioned: "null" names the one version of an object; any other
  // version ID names none (as S3 answers for a bucket that was never versioned).
  if (const std::string* v = req.Query("versionId"); v && *v != "null" && !c.key.empty()) {
    return s3::Now(s3::Error(c, 400, "InvalidArgument", "Invalid version id specified"));
  }
  if (c.bucket.empty()) {
    if (req.method == "GET") return s3::BucketOperation(std::move(c));
    return s3::Now(s3::Error(c, 405, "MethodNotAllowed", "The specified method is not allowed against this resource."));
  }
  if (c.key.empty()) {
    if (req.method == "GET" && !req.HasQuery("location") && !req.HasQuery("uploads") &&
        !req.HasQuery("versioning") && !req.HasQuery("tagging") && !req.HasQuery("policy") &&
        !req.HasQuery("acl") && !req.HasQuery("cors") && !req.HasQuery("lifecycle") &&
        !req.HasQuery("notification") && !req.HasQuery("encryption")) {
      return s3::ListOperation(std::move(c));
    }
    if (req.HasQuery("uploads") && req.method == "GET") return s3::MultipartOperation(std::move(c));
    return s3::BucketOperation(std::move(c));
  }
  if (s3::IsMultipartRequest(c)) return s3::MultipartOperation(std::move(c));
  return s3::ObjectOperation(std::move(c));
}

}  // namespace

ServiceRoute MakeS3Service(ObjectStore& store, Notifications* notifications) {
  ServiceRoute route;
  route.signing_name = "s3";
  route.protocol = AwsProtocol::kRestXml;
  route.raw_uri = true;
  route.handler = [&store, notifications](HttpRequest& req, const SigV4Auth&) {
    return Dispatch(req, store, notifications);
  };
  return route;
}

}  // namespace sluice
