// Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort, ListParts,
// ListMultipartUploads.
#include <pugixml.hpp>

#include "base/strings.h"
#include "base/time.h"
#include "s3/api.h"

namespace sluice::s3 {
namespace {

constexpr uint64_t kMaxPart = 5ull << 30;

HttpResponse Create(Call& c) {
  auto meta = MetaFromHeaders(c);
  if (!meta.ok()) return Error(c, meta.status());
  if (const std::string* a = c.req.Header("x-amz-checksum-algorithm")) {
    auto algo = ParseChecksumAlgorithm(*a);
    if (!algo) return Error(c, 400, "InvalidRequest", StrCat("Checksum algorithm '", *a, "' is not supported."));
    meta->checksum_algorithm = std::string(ChecksumAlgorithmName(*algo));
  }
  auto id = c.store.CreateUpload(c.bucket, std::move(*meta));
  if (!id.ok()) return Error(c, id.status());
  HttpResponse r = Xml(c, XmlHeader() + "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>" +
                              XmlText(c.bucket) + "</Bucket><Key>" + XmlText(c.key) + "</Key><UploadId>" + *id +
                              "</UploadId></InitiateMultipartUploadResult>");
  if (const std::string* a = c.req.Header("x-amz-checksum-algorithm")) r.SetHeader("x-amz-checksum-algorithm", AsciiUpper(*a));
  return r;
}

std::optional<int> PartNumber(const Call& c) {
  int n = 0;
  const std::string* p = c.req.Query("partNumber");
  if (!p || !ParseNumber(*p, &n) || n < 1 || n > 10000) return std::nullopt;
  return n;
}

HttpResponse BadPartNumber(const Call& c) {
  return Error(c, 400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive");
}

HttpResponse UploadPartCopy(Call& c, const UploadInfo& upload, int number) {
  std::optional<ChecksumAlgorithm> algo;
  if (!upload.meta.checksum_algorithm.empty()) algo = ParseChecksumAlgorithm(upload.meta.checksum_algorithm);
  auto copied = CopyFromSource(c, c.req.HeaderOr("x-amz-copy-source-range"), algo);
  if (!copied.ok()) return Error(c, copied.status());
  if (copied->file->size() > kMaxPart) return Error(c, 400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size");
  PartInfo part{number, 0, HexEncode(copied->md5), copied->checksum, absl::Now()};
  absl::Status st = c.store.PutPart(upload.upload_id, part, std::move(copied->file));
  if (!st.ok()) return Error(c, st);
  return Xml(c, XmlHeader() + "<CopyPartResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LastModified>" +
                    FormatIso8601(absl::Now()) + "</LastModified><ETag>&quot;" + part.etag + "&quot;</ETag></CopyPartResult>");
}

HttpResponse CompleteResult(Call& c, const ObjectMeta& done) {
  std::string x = XmlHeader() + "<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Location>/" +
                  XmlText(c.bucket) + "/" + XmlText(UriEncode(c.key, true)) + "</Location><Bucket>" + XmlText(c.bucket) +
                  "</Bucket><Key>" + XmlText(c.key) + "</Key><ETag>&quot;" + done.etag + "&quot;</ETag>";
  if (!done.checksum_algorithm.empty()) {
    StrAppend(&x, "<Checksum", done.checksum_algorithm, ">", done.checksum, "</Checksum", done.checksum_algorithm,
              "><ChecksumType>", done.checksum_type, "</ChecksumType>");
  }
  x += "</CompleteMultipartUploadResult>";
  return Xml(c, std::move(x));
}

std::string_view WithoutPartCount(std::string_view checksum) { return checksum.substr(0, checksum.find('-')); }

HttpResponse Complete(Call& c, std::string body) {
  const std::string& upload_id = *c.req.Query("uploadId");
  auto upload = c.store.GetUpload(c.bucket, c.key, upload_id);
  if (!upload.ok()) {
    // A retried complete of an upload completed a moment ago succeeds with the same result.
    if (S3ErrorCode(upload.status()) == "NoSuchUpload") {
      auto completed = c.store.CompletedUpload(c.bucket, c.key, upload_id);
      if (completed.ok() && *completed) return CompleteResult(c, **completed);
    }
    return Error(c, upload.status());
  }
  pugi::xml_document doc;
  pugi::xml_node root;
  if (!LoadXml(doc, body) || !(root = doc.child("CompleteMultipartUpload"))) {
    return Error(c, 400, "MalformedXML",
                 "The XML you provided was not well-formed or did not validate against our published schema");
  }
  const std::string& algo = upload->meta.checksum_algorithm;
  auto stored = c.store.ListParts(upload_id);
  if (!stored.ok()) return Error(c, stored.status());
  std::vector<std::pair<int, std::string>> parts;
  std::string composite;  // the parts' checksums, decoded, in order
  for (pugi::xml_node p : root.children("Part")) {
    int n = 0;
    if (!ParseNumber(std::string_view(p.child_value("PartNumber")), &n) || !p.child("ETag")) {
      return Error(c, 400, "MalformedXML",
                   "The XML you provided was not well-formed or did not validate against our published schema");
    }
    parts.emplace_back(n, p.child_value("ETag"));
    const PartInfo* part = nullptr;
    for (const auto& s : *stored) {
      if (s.number == n) part = &s;
    }
    if (!algo.empty() && part) {
      if (auto raw = Base64Decode(part->checksum)) composite += *raw;
    }
    // A part checksum the client lists must be the one the part was uploaded with.
    for (const char* name : {"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"}) {
      pugi::xml_node given = p.child(StrCat("Checksum", name).c_str());
      if (!given || algo.empty()) continue;  // an upload without a checksum has none to compare
      if (algo != name) {
        return Error(c, 400, "InvalidRequest",
                     StrCat("The upload was created using the ", algo, " checksum; part ", n, " lists a ", name,
                            " checksum."));
      }
      if (part && part->checksum != given.child_value()) {
        return Error(c, 400, "InvalidPart",
                     StrCat("One or more of the specified parts could not be found. The part may not have been "
                            "uploaded, or the specified checksum may not match the part's checksum. (part ", n, ")"));
      }
    }
  }
  if (parts.empty()) {
    return Error(c, 400, "MalformedXML",
                 "The XML you provided was not well-formed or did not validate against our published schema");
  }
  // A whole-object checksum sent with the complete must match the object's (composite:
  // the checksum of the parts' checksums; a FULL_OBJECT one is not verified yet).
  bool full_object = EqualsIgnoreCase(c.req.HeaderOr("x-amz-checksum-type"), "FULL_OBJECT");
  for (const char* name : {"crc32", "crc32c", "crc64nvme", "sha1", "sha256"}) {
    if (full_object) break;
    const std::string* given = c.req.Header(StrCat("x-amz-checksum-", name));
    if (!given) continue;
    auto a = ParseChecksumAlgorithm(name);
    if (algo.empty()) break;
    if (!a || algo != ChecksumAlgorithmName(*a)) {
      return Error(c, 400, "InvalidRequest",
                   StrCat("The upload was created using the ", algo, " checksum; the complete request sent a ",
                          AsciiUpper(name), " checksum."));
    }
    auto h = NewHasher(*a);
    h->Update(composite);
    if (WithoutPartCount(*given) != Base64Encode(h->Finish())) {
      return Error(c, 400, "BadDigest", StrCat("The ", AsciiUpper(name), " you specified did not match the calculated checksum."));
    }
  }
  ScopedChangeContext why(Reason(c, "CompleteMultipartUpload"));
  auto done = c.store.CompleteUpload(c.bucket, *upload, parts);
  if (!done.ok()) {
    // A concurrent complete of the same upload won: answer as it did.
    auto completed = c.store.CompletedUpload(c.bucket, c.key, upload_id);
    if (completed.ok() && *completed) return CompleteResult(c, **completed);
    return Error(c, done.status());
  }
  return CompleteResult(c, *done);
}

HttpResponse ListParts(Call& c) {
  auto upload = c.store.GetUpload(c.bucket, c.key, *c.req.Query("uploadId"));
  if (!upload.ok()) return Error(c, upload.status());
  auto parts = c.store.ListParts(upload->upload_id);
  if (!parts.ok()) return Error(c, parts.status());
  int max_parts = 1000, marker = 0;
  if (const std::string* m = c.req.Query("max-parts")) ParseNumber(*m, &max_parts);
  if (const std::string* m = c.req.Query("part-number-marker")) ParseNumber(*m, &marker);
  std::string x = XmlHeader() + "<ListPartsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>" +
                  XmlText(c.bucket) + "</Bucket><Key>" + XmlText(c.key) + "</Key><UploadId>" + upload->upload_id +
                  "</UploadId><PartNumberMarker>" + std::to_string(marker) + "</PartNumberMarker>";
  std::string items;
  int count = 0, last = marker;
  bool truncated = false;
  for (const auto& p : *parts) {
    if (p.number <= marker) continue;
    if (count == max_parts) {
      truncated = true;
      break;
    }
    StrAppend(&items, "<Part><PartNumber>", p.number, "</PartNumber><LastModified>", FormatIso8601(p.modified),
              "</LastModified><ETag>&quot;", p.etag, "&quot;</ETag><Size>", p.size, "</Size>");
    if (!upload->meta.checksum_algorithm.empty() && !p.checksum.empty()) {
      StrAppend(&items, "<Checksum", upload->meta.checksum_algorithm, ">", p.checksum, "</Checksum",
                upload->meta.checksum_algorithm, ">");
    }
    items += "</Part>";
    last = p.number;
    ++count;
  }
  StrAppend(&x, "<NextPartNumberMarker>", last, "</NextPartNumberMarker><MaxParts>", max_parts,
            "</MaxParts><IsTruncated>", truncated ? "true" : "false", "</IsTruncated>");
  if (!upload->meta.checksum_algorithm.empty()) {
    StrAppend(&x, "<ChecksumAlgorithm>", upload->meta.checksum_algorithm, "</ChecksumAlgorithm>");
  }
  StrAppend(&x, items, "<StorageClass>", upload->meta.storage_class, "</StorageClass></ListPartsResult>");
  return Xml(c, std::move(x));
}

HttpResponse ListUploads(Call& c) {
  std::string prefix = c.req.HeaderOr("", "");
  if (const std::string* p = c.req.Query("prefix")) prefix = *p;
  auto uploads = c.store.ListUploads(c.bucket, prefix);
  if (!uploads.ok()) return Error(c, uploads.status());
  std::string x = XmlHeader() + "<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>" +
                  XmlText(c.bucket) + "</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><Prefix>" +
                  XmlText(prefix) + "</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>";
  for (const auto& u : *uploads) {
    StrAppend(&x, "<Upload><Key>", XmlText(u.key), "</Key><UploadId>", u.upload_id, "</UploadId><Initiated>",
              FormatIso8601(u.initiated), "</Initiated><StorageClass>", u.meta.storage_class, "</StorageClass></Upload>");
  }
  x += "</ListMultipartUploadsResult>";
  return Xml(c, std::move(x));
}

}  // namespace

bool IsMultipartRequest(const Call& c) {
  return c.req.HasQuery("uploadId") || (c.req.method == "POST" && c.req.HasQuery("uploads"));
}

std::unique_ptr<Operation> MultipartOperation(Call c) {
  const std::string& m = c.req.method;
  if (c.key.empty()) return Now(ListUploads(c));
  if (m == "POST" && c.req.HasQuery("uploads")) return Now(Create(c));
  const std::string& upload_id = *c.req.Query("uploadId");
  if (m == "POST") return WithBody(std::move(c), Complete);
  if (m == "GET") return Now(ListParts(c));
  if (m == "DELETE") {
    absl::Status st = c.store.AbortUpload(c.bucket, c.key, upload_id);
    return Now(st.ok() ? Empty(c, 204) : Error(c, st));
  }
  if (m == "PUT") {
    auto number = PartNumber(c);
    if (!number) return Now(BadPartNumber(c));
    auto upload = c.store.GetUpload(c.bucket, c.key, upload_id);
    if (!upload.ok()) return Now(Error(c, upload.status()));
    if (c.req.Header("x-amz-copy-source")) return Now(UploadPartCopy(c, *upload, *number));
    uint64_t declared = c.req.content_length;
    if (const std::string* d = c.req.Header("x-amz-decoded-content-length")) ParseNumber(*d, &declared);
    if (declared > kMaxPart) {
      return Now(Error(c, 400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size (parts are at most 5 GiB)"));
    }
    int n = *number;
    std::string algo = upload->meta.checksum_algorithm;
    return StreamingPut(std::move(c), [n, upload_id, algo](Call& c, ObjectMeta meta, std::unique_ptr<ObjectFile> file) {
      if (!algo.empty() && meta.checksum_algorithm != algo) {
        return Error(c, 400, "InvalidRequest",
                     StrCat("The upload was created using the ", algo, " checksum algorithm; send that checksum with each part."));
      }
      PartInfo part{n, 0, meta.etag, meta.checksum, absl::Now()};
      absl::Status st = c.store.PutPart(upload_id, part, std::move(file));
      if (!st.ok()) return Error(c, st);
      HttpResponse r = Empty(c, 200);
      r.SetHeader("ETag", Quote(part.etag));
      if (!meta.checksum_algorithm.empty()) {
        if (auto a = ParseChecksumAlgorithm(meta.checksum_algorithm)) r.SetHeader(ChecksumHeaderName(*a), meta.checksum);
      }
      return r;
    });
  }
  return Now(Error(c, 405, "MethodNotAllowed", "The specified method is not allowed against this resource."));
}

}  // namespace sluice::s3
