// Object requests: PutObject, CopyObject, GetObject, HeadObject, DeleteObject and the
// object tagging subresource.
#include <fcntl.h>
#include <unistd.h>

#include <pugixml.hpp>

#include "base/strings.h"
#include "base/time.h"
#include "s3/api.h"

namespace sluice::s3 {
namespace {

std::string Unquote(std::string_view s) {
  s = StripWhitespace(s);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return std::string(s);
}

bool EtagMatches(std::string_view header, const std::string& etag) {
  for (std::string_view part : Split(header, ',')) {
    std::string e = Unquote(part);
    if (e == "*" || e == etag) return true;
  }
  return false;
}

// S3's evaluation of conditional headers; 0 when the request proceeds, else 304 or 412.
int EvaluateConditions(const HttpRequest& req, const ObjectMeta& m, std::string_view prefix) {
  auto header = [&](std::string_view name) { return req.Header(StrCat(prefix, name)); };
  // Second-granularity comparisons, as HTTP dates carry.
  absl::Time modified = absl::FromUnixSeconds(absl::ToUnixSeconds(m.last_modified));
  const std::string* if_match = header("if-match");
  const std::string* if_none = header("if-none-match");
  if (if_match) {
    if (!EtagMatches(*if_match, m.etag)) return 412;
  } else if (const std::string* ius = header("if-unmodified-since")) {
    if (auto t = ParseHttpDate(*ius); t && modified > *t) return 412;
  }
  if (if_none) {
    if (EtagMatches(*if_none, m.etag)) return prefix.empty() ? 304 : 412;
  } else if (const std::string* ims = header("if-modified-since")) {
    // S3 answers 304 for a date in the future too (unlike RFC 9110's advice to ignore it).
    if (auto t = ParseHttpDate(*ims); t && modified <= *t) return prefix.empty() ? 304 : 412;
  }
  return 0;
}

// Parses "bytes=a-b", "bytes=a-", "bytes=-n" against `size`. nullopt: no (usable) range;
// {1, 0}: unsatisfiable.
struct ByteRange {
  uint64_t first = 0, last = 0;
  bool unsatisfiable = false;
};
std::optional<ByteRange> ParseRange(std::string_view h, uint64_t size) {
  if (!ConsumePrefix(&h, "bytes=") || h.find(',') != std::string_view::npos) return std::nullopt;
  auto dash = h.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::string_view a = StripWhitespace(h.substr(0, dash)), b = StripWhitespace(h.substr(dash + 1));
  ByteRange r;
  if (a.empty()) {
    uint64_t n;
    if (!ParseNumber(b, &n)) return std::nullopt;
    if (n == 0 || size == 0) return ByteRange{0, 0, true};
    r.first = n >= size ? 0 : size - n;
    r.last = size - 1;
    return r;
  }
  if (!ParseNumber(a, &r.first)) return std::nullopt;
  if (b.empty()) {
    r.last = size ? size - 1 : 0;
  } else if (!ParseNumber(b, &r.last) || r.last < r.first) {
    return std::nullopt;
  }
  if (r.first >= size) return ByteRange{0, 0, true};
  r.last = std::min(r.last, size - 1);
  return r;
}

HttpResponse GetObject(Call& c) {
  bool head = c.req.method == "HEAD";
  auto opened = c.store.OpenObject(c.bucket, c.key);
  if (!opened.ok()) return Error(c, opened.status());
  auto& [meta, fd] = *opened;
  int cond = EvaluateConditions(c.req, meta, "");
  if (cond == 412) {
    return Error(c, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
  }
  HttpResponse r;
  r.SetHeader("x-amz-request-id", c.req.request_id);
  AddObjectHeaders(c, meta, r);
  if (cond == 304) {
    r.status = 304;
    r.headers.erase(std::remove_if(r.headers.begin(), r.headers.end(),
                                   [](const auto& h) { return h.first == "Content-Type"; }),
                    r.headers.end());
    return r;
  }
  static constexpr std::pair<const char*, const char*> kOverrides[] = {
      {"response-content-type", "Content-Type"},         {"response-content-language", "Content-Language"},
      {"response-expires", "Expires"},                   {"response-cache-control", "Cache-Control"},
      {"response-content-disposition", "Content-Disposition"}, {"response-content-encoding", "Content-Encoding"}};
  for (const auto& [param, header] : kOverrides) {
    if (const std::string* v = c.req.Query(param)) r.SetHeader(header, *v);
  }
  r.file_offset = 0;
  r.file_length = meta.size;
  if (const std::string* pn = c.req.Query("partNumber")) {
    int n = 0;
    if (!ParseNumber(*pn, &n) || n < 1 || n > 10000) {
      return Error(c, 400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive");
    }
    int count = meta.part_sizes.empty() ? 1 : static_cast<int>(meta.part_sizes.size());
    if (n > count) return Error(c, 416, "InvalidPartNumber", "The requested partnumber is not satisfiable");
    uint64_t first = 0;
    for (int i = 0; i + 1 < n; ++i) first += meta.part_sizes[i];
    uint64_t length = meta.part_sizes.empty() ? meta.size : meta.part_sizes[n - 1];
    r.status = 206;
    r.file_offset = first;
    r.file_length = length;
    r.SetHeader("x-amz-mp-parts-count", std::to_string(count));
    r.SetHeader("Content-Range", StrCat("bytes ", first, "-", first + length - (length ? 1 : 0), "/", meta.size));
  } else if (const std::string* range = c.req.Header("range")) {
    if (auto br = ParseRange(*range, meta.size)) {
      if (br->unsatisfiable) {
        HttpResponse e = Error(c, 416, "InvalidRange", "The requested range is not satisfiable");
        e.SetHeader("Content-Range", StrCat("bytes */", meta.size));
        return e;
      }
      r.status = 206;
      r.file_offset = br->first;
      r.file_length = br->last - br->first + 1;
      r.SetHeader("Content-Range", StrCat("bytes ", br->first, "-", br->last, "/", meta.size));
    }
  }
  // A checksum describes the whole object (or, for a partNumber GET, a part): never send it
  // with a range, or SDKs validating it against the bytes received fail.
  bool whole = r.file_offset == 0 && r.file_length == meta.size && !(c.req.Header("range") && r.status == 206) &&
               !(c.req.HasQuery("partNumber") && meta.part_sizes.size() > 1);
  if (!whole) {
    std::erase_if(r.headers, [](const auto& h) {
      std::string name = AsciiLower(h.first);
      return name.starts_with("x-amz-checksum-");
    });
  }
  if (head) {
    r.omit_body = true;
    r.body.assign("");
    // Content-Length of the would-be body: the server writes BodyLength(), so keep the fd.
  }
  r.file = std::move(fd);
  return r;
}

HttpResponse DeleteObject(Call& c) {
  ScopedChangeContext why(Reason(c, "DeleteObject"));
  absl::Status st = c.store.DeleteObject(c.bucket, c.key);
  return st.ok() ? Empty(c, 204) : Error(c, st);
}

HttpResponse GetTagging(Call& c) {
  auto meta = c.store.HeadObject(c.bucket, c.key);
  if (!meta.ok()) return Error(c, meta.status());
  std::string x = XmlHeader() + "<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>";
  for (const auto& [k, v] : meta->tags) {
    StrAppend(&x, "<Tag><Key>", XmlText(k), "</Key><Value>", XmlText(v), "</Value></Tag>");
  }
  x += "</TagSet></Tagging>";
  return Xml(c, std::move(x));
}

HttpResponse PutTagging(Call& c, std::string body) {
  pugi::xml_document doc;
  pugi::xml_node set;
  if (!LoadXml(doc, body) || !(set = doc.child("Tagging").child("TagSet"))) {
    return Error(c, 400, "MalformedXML",
                 "The XML you provided was not well-formed or did not validate against our published schema");
  }
  std::string form;
  for (pugi::xml_node t : set.children("Tag")) {
    if (!form.empty()) form += "&";
    StrAppend(&form, UriEncode(t.child_value("Key"), false), "=", UriEncode(t.child_value("Value"), false));
  }
  auto tags = ParseTagSet(form);
  if (!tags.ok()) return Error(c, tags.status());
  ScopedChangeContext why(Reason(c, "PutObjectTagging"));
  absl::Status st = c.store.SetTags(c.bucket, c.key, std::move(*tags));
  return st.ok() ? Empty(c, 200) : Error(c, st);
}

HttpResponse CopyObject(Call& c) {
  std::optional<ChecksumAlgorithm> algorithm;
  if (const std::string* a = c.req.Header("x-amz-checksum-algorithm")) algorithm = ParseChecksumAlgorithm(*a);
  std::string directive = c.req.HeaderOr("x-amz-metadata-directive", "COPY");
  std::string tag_directive = c.req.HeaderOr("x-amz-tagging-directive", "COPY");
  if ((directive != "COPY" && directive != "REPLACE") || (tag_directive != "COPY" && tag_directive != "REPLACE")) {
    return Error(c, 400, "InvalidArgument", "Unknown metadata or tagging directive.");
  }
  // Peek at the source first to learn its checksum algorithm.
  auto copied = CopyFromSource(c, "", algorithm);
  if (!copied.ok()) return Error(c, copied.status());
  if (!algorithm && !copied->source.checksum_algorithm.empty()) {
    // Keep the source's checksum kind: recompute it over the copy.
    algorithm = ParseChecksumAlgorithm(copied->source.checksum_algorithm);
    copied = CopyFromSource(c, "", algorithm);
    if (!copied.ok()) return Error(c, copied.status());
  }
  std::string src = c.req.HeaderOr("x-amz-copy-source");
  bool self = false;
  {
    std::string_view s = src;
    if (!s.empty() && s[0] == '/') s.remove_prefix(1);
    std::string decoded = UriDecode(s.substr(0, s.find('?')));
    self = decoded == c.bucket + "/" + c.key;
  }
  if (self && directive == "COPY" && !c.req.Header("x-amz-storage-class") &&
      !c.req.Header("x-amz-website-redirect-location") && !c.req.Header("x-amz-server-side-encryption")) {
    return Error(c, 400, "InvalidRequest",
                 "This copy request is illegal because it is trying to copy an object to itself without changing "
                 "the object's metadata, storage class, website redirect location or encryption attributes.");
  }
  ObjectMeta meta;
  if (directive == "REPLACE") {
    auto m = MetaFromHeaders(c);
    if (!m.ok()) return Error(c, m.status());
    meta = std::move(*m);
  } else {
    meta = copied->source;
    if (const std::string* sc = c.req.Header("x-amz-storage-class")) meta.storage_class = *sc;
  }
  if (tag_directive == "REPLACE") {
    auto tags = ParseTagSet(c.req.HeaderOr("x-amz-tagging"));
    if (!tags.ok()) return Error(c, tags.status());
    meta.tags = std::move(*tags);
  } else {
    meta.tags = copied->source.tags;
  }
  meta.key = c.key;
  meta.etag = HexEncode(copied->md5);
  meta.parts_count = 0;
  meta.part_sizes.clear();
  meta.checksum_algorithm = algorithm ? std::string(ChecksumAlgorithmName(*algorithm)) : "";
  meta.checksum = copied->checksum;
  meta.checksum_type = algorithm ? "FULL_OBJECT" : "";
  ScopedChangeContext why(Reason(c, "CopyObject"));
  auto done = c.store.PutObject(c.bucket, std::move(meta), std::move(copied->file));
  if (!done.ok()) return Error(c, done.status());
  HttpResponse r = Xml(c, XmlHeader() + "<CopyObjectResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LastModified>" +
                              FormatIso8601(done->last_modified) + "</LastModified><ETag>&quot;" + done->etag +
                              "&quot;</ETag>" +
                              (algorithm ? StrCat("<Checksum", ChecksumAlgorithmName(*algorithm), ">", done->checksum,
                                                  "</Checksum", ChecksumAlgorithmName(*algorithm), ">")
                                         : "") +
                              "</CopyObjectResult>");
  return r;
}

HttpResponse CommitObject(Call& c, ObjectMeta meta, std::unique_ptr<ObjectFile> file) {
  WriteConditions cond;
  if (const std::string* inm = c.req.Header("if-none-match")) {
    if (StripWhitespace(*inm) != "*") {
      return Error(c, 501, "NotImplemented", "If-None-Match on PutObject supports only '*'.");
    }
    cond.if_none_match_any = true;
  }
  if (const std::string* im = c.req.Header("if-match")) cond.if_match = Unquote(*im);
  ScopedChangeContext why(Reason(c, "PutObject"));
  auto done = c.store.PutObject(c.bucket, std::move(meta), std::move(file), cond);
  if (!done.ok()) return Error(c, done.status());
  HttpResponse r = Empty(c, 200);
  r.SetHeader("ETag", Quote(done->etag));
  if (!done->checksum_algorithm.empty()) {
    if (auto a = ParseChecksumAlgorithm(done->checksum_algorithm)) r.SetHeader(ChecksumHeaderName(*a), done->checksum);
    r.SetHeader("x-amz-checksum-type", done->checksum_type);
  }
  return r;
}

}  // namespace

absl::StatusOr<CopiedObject> CopyFromSource(const Call& c, std::string_view range_header,
                                            std::optional<ChecksumAlgorithm> algorithm) {
  std::string src = c.req.HeaderOr("x-amz-copy-source");
  std::string_view s = src;
  if (!s.empty() && s[0] == '/') s.remove_prefix(1);
  s = s.substr(0, s.find('?'));
  std::string decoded = UriDecode(s);
  auto slash = decoded.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == decoded.size()) {
    return S3Error(absl::StatusCode::kInvalidArgument, "InvalidArgument",
                   "Copy Source must mention the source bucket and key: sourcebucket/sourcekey");
  }
  std::string bucket = decoded.substr(0, slash), key = decoded.substr(slash + 1);
  ASSIGN_OR_RETURN(auto opened, c.store.OpenObject(bucket, key));
  auto& [meta, fd] = opened;
  if (int cond = EvaluateConditions(c.req, meta, "x-amz-copy-source-"); cond != 0) {
    return S3Error(absl::StatusCode::kFailedPrecondition, "PreconditionFailed",
                   "At least one of the pre-conditions you specified did not hold");
  }
  uint64_t first = 0, length = meta.size;
  if (!range_header.empty()) {
    auto br = ParseRange(range_header, meta.size);
    uint64_t asked_last = 0;
    std::string_view rh = range_header;
    if (auto dash = rh.find('-'); dash != std::string_view::npos) (void)ParseNumber(rh.substr(dash + 1), &asked_last);
    if (br && !br->unsatisfiable && asked_last >= meta.size) {
      return S3Error(absl::StatusCode::kInvalidArgument, "InvalidArgument",
                     StrCat("Range specified is not valid for source object of size: ", meta.size));
    }
    if (!br || br->unsatisfiable) {
      return S3Error(absl::StatusCode::kInvalidArgument, "InvalidArgument",
                     "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last "
                     "are the zero-based offsets of the first and last bytes to copy, within the object");
    }
    first = br->first;
    length = br->last - br->first + 1;
  }
  ASSIGN_OR_RETURN(auto file, c.store.NewObjectFile());
  auto md5 = NewHasher(ChecksumAlgorithm::kMd5);
  std::unique_ptr<Hasher> sum = algorithm ? NewHasher(*algorithm) : nullptr;
  std::string buf(1 << 20, '\0');
  uint64_t offset = first, left = length;
  while (left > 0) {
    ssize_t n = ::pread(fd.get(), buf.data(), std::min<uint64_t>(left, buf.size()), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::InternalError("the copy source could not be read");
    std::string_view piece(buf.data(), static_cast<size_t>(n));
    md5->Update(piece);
    if (sum) sum->Update(piece);
    RETURN_IF_ERROR(file->Append(piece));
    offset += static_cast<uint64_t>(n);
    left -= static_cast<uint64_t>(n);
  }
  CopiedObject out{std::move(meta), std::move(file), md5->Finish(), ""};
  if (sum) out.checksum = Base64Encode(sum->Finish());
  return out;
}

std::unique_ptr<Operation> ObjectOperation(Call c) {
  const std::string& m = c.req.method;
  if (c.req.HasQuery("tagging")) {
    if (m == "GET") return Now(GetTagging(c));
    if (m == "PUT") return WithBody(std::move(c), PutTagging);
    if (m == "DELETE") {
      absl::Status st = c.store.SetTags(c.bucket, c.key, {});
      return Now(st.ok() ? Empty(c, 204) : Error(c, st));
    }
  }
  for (const char* sub : {"acl", "retention", "legal-hold", "torrent", "restore", "select", "attributes"}) {
    if (c.req.HasQuery(sub)) {
      return Now(Error(c, 501, "NotImplemented", StrCat("Sluice does not implement the object '", sub, "' subresource yet.")));
    }
  }
  if (m == "GET" || m == "HEAD") return Now(GetObject(c));
  if (m == "DELETE") return Now(DeleteObject(c));
  if (m == "PUT") {
    if (c.req.Header("x-amz-copy-source")) return Now(CopyObject(c));
    if (auto bucket = c.store.GetBucket(c.bucket); !bucket.ok()) return Now(Error(c, bucket.status()));
    if (const std::string* len = c.req.Header("x-amz-decoded-content-length")) {
      uint64_t n = 0;
      if (ParseNumber(*len, &n) && n > kMaxPutSize) {
        return Now(Error(c, 400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size (5 GiB)."));
      }
    } else if (c.req.content_length > kMaxPutSize) {
      return Now(Error(c, 400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size (5 GiB)."));
    }
    return StreamingPut(std::move(c), CommitObject);
  }
  return Now(Error(c, 405, "MethodNotAllowed", "The specified method is not allowed against this resource."));
}

}  // namespace sluice::s3
