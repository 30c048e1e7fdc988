// Bucket-level requests: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
// GetBucketLocation, GetBucketVersioning and DeleteObjects.
#include <pugixml.hpp>

#include "base/strings.h"
#include "base/time.h"
#include "s3/api.h"

namespace sluice::s3 {
namespace {

// S3's general-purpose bucket naming rules.
std::optional<std::string> BucketNameProblem(std::string_view n) {
  if (n.size() < 3 || n.size() > 63) return "Bucket names must be between 3 and 63 characters long.";
  for (char ch : n) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-')) {
      return "Bucket names can consist only of lowercase letters, numbers, dots (.), and hyphens (-).";
    }
  }
  auto alnum = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); };
  if (!alnum(n.front()) || !alnum(n.back())) return "Bucket names must begin and end with a letter or number.";
  if (n.find("..") != std::string_view::npos || n.find(".-") != std::string_view::npos ||
      n.find("-.") != std::string_view::npos) {
    return "Bucket names must not contain two adjacent periods, or a period next to a hyphen.";
  }
  auto parts = Split(n, '.');
  if (parts.size() == 4) {
    bool ip = true;
    for (auto p : parts) {
      int v;
      ip = ip && ParseNumber(p, &v) && v >= 0 && v <= 255;
    }
    if (ip) return "Bucket names must not be formatted as an IP address.";
  }
  for (std::string_view prefix : {"xn--", "sthree-", "amzn-s3-demo-"}) {
    if (n.starts_with(prefix)) return StrCat("Bucket names must not start with the prefix '", prefix, "'.");
  }
  for (std::string_view suffix : {"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"}) {
    if (n.ends_with(suffix)) return StrCat("Bucket names must not end with the suffix '", suffix, "'.");
  }
  return std::nullopt;
}

HttpResponse ListBuckets(Call& c) {
  auto buckets = c.store.ListBuckets();
  if (!buckets.ok()) return Error(c, buckets.status());
  std::string x = XmlHeader() +
                  "<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>"
                  "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID><DisplayName>sluice"
                  "</DisplayName></Owner><Buckets>";
  for (const auto& b : *buckets) {
    StrAppend(&x, "<Bucket><Name>", XmlText(b.name), "</Name><CreationDate>", FormatIso8601(b.created),
              "</CreationDate><BucketRegion>", b.region, "</BucketRegion></Bucket>");
  }
  x += "</Buckets></ListAllMyBucketsResult>";
  return Xml(c, std::move(x));
}

HttpResponse CreateBucket(Call& c, std::string body, const std::string& signed_region) {
  if (auto problem = BucketNameProblem(c.bucket)) {
    return Error(c, 400, "InvalidBucketName", StrCat("The specified bucket is not valid. ", *problem));
  }
  std::string region = "us-east-1";
  if (!StripWhitespace(body).empty()) {
    pugi::xml_document doc;
    if (!LoadXml(doc, body) || !doc.child("CreateBucketConfiguration")) {
      return Error(c, 400, "MalformedXML",
                   "The XML you provided was not well-formed or did not validate against our published schema");
    }
    std::string constraint = doc.child("CreateBucketConfiguration").child_value("LocationConstraint");
    if (!constraint.empty()) {
      if (constraint == "us-east-1") {
        return Error(c, 400, "InvalidLocationConstraint", "The specified location-constraint is not valid");
      }
      region = constraint;
    }
  }
  if (region != signed_region) {
    return Error(c, 400, "IllegalLocationConstraintException",
                 StrCat("The ", region == "us-east-1" ? "unspecified" : region,
                        " location constraint is incompatible for the region specific endpoint this request was "
                        "sent to (", signed_region, ")."));
  }
  absl::Status st = c.store.CreateBucket(c.bucket, region);
  // us-east-1 answers 200 when the owner creates an existing bucket again (legacy behaviour).
  if (!st.ok() && !(S3ErrorCode(st) == "BucketAlreadyOwnedByYou" && region == "us-east-1")) return Error(c, st);
  HttpResponse r = Empty(c, 200);
  r.SetHeader("Location", "/" + c.bucket);
  return r;
}

HttpResponse DeleteObjects(Call& c, std::string body) {
  pugi::xml_document doc;
  pugi::xml_node del;
  if (!LoadXml(doc, body) || !(del = doc.child("Delete"))) {
    return Error(c, 400, "MalformedXML",
                 "The XML you provided was not well-formed or did not validate against our published schema");
  }
  std::vector<std::string> keys;
  std::vector<std::string> versions;  // as given: "" or "null" name the one version Sluice keeps
  for (pugi::xml_node o : del.children("Object")) {
    if (!o.child("Key")) {
      return Error(c, 400, "MalformedXML",
                   "The XML you provided was not well-formed or did not validate against our published schema");
    }
    keys.emplace_back(o.child_value("Key"));
    versions.emplace_back(o.child_value("VersionId"));
  }
  if (keys.empty() || keys.size() > 1000) {
    return Error(c, 400, "MalformedXML",
                 "The XML you provided was not well-formed or did not validate against our published schema "
                 "(Delete takes 1 to 1000 objects)");
  }
  bool quiet = std::string_view(del.child_value("Quiet")) == "true";
  auto bucket = c.store.GetBucket(c.bucket);
  if (!bucket.ok()) return Error(c, bucket.status());
  std::string x = XmlHeader() + "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  ScopedChangeContext why(Reason(c, "DeleteObjects"));
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string& key = keys[i];
    bool other_version = !versions[i].empty() && versions[i] != "null";
    absl::Status st = key.size() > 1024 ? S3Error(absl::StatusCode::kInvalidArgument, "KeyTooLongError", "Your key is too long")
                      : other_version   ? S3Error(absl::StatusCode::kNotFound, "NoSuchVersion",
                                                  "The specified version does not exist.")
                                        : c.store.DeleteObject(c.bucket, key);
    if (st.ok()) {
      if (!quiet) {
        StrAppend(&x, "<Deleted><Key>", XmlText(key), "</Key>",
                  versions[i].empty() ? "" : "<VersionId>null</VersionId>", "</Deleted>");
      }
    } else {
      std::string code = S3ErrorCode(st);
      StrAppend(&x, "<Error><Key>", XmlText(key), "</Key><Code>", code.empty() ? "InternalError" : code,
                "</Code><Message>", XmlText(std::string(st.message())), "</Message></Error>");
    }
  }
  x += "</DeleteResult>";
  return Xml(c, std::move(x));
}

}  // namespace

std::unique_ptr<Operation> BucketOperation(Call c) {
  const std::string& m = c.req.method;
  if (c.bucket.empty()) return Now(ListBuckets(c));
  if (c.req.HasQuery("notification") && c.notifications) {
    if (m == "GET") {
      auto xml = c.notifications->Get(c.bucket);
      return Now(xml.ok() ? Xml(c, *xml) : Error(c, xml.status()));
    }
    if (m == "PUT") {
      return WithBody(std::move(c), [](Call& c, std::string body) {
        absl::Status st = c.notifications->Put(c.bucket, body);
        return st.ok() ? Empty(c, 200) : Error(c, st);
      });
    }
  }
  for (const char* sub : {"tagging", "policy", "acl", "cors", "lifecycle", "notification", "encryption",
                          "website", "logging", "replication", "ownershipControls", "publicAccessBlock",
                          "object-lock", "accelerate", "requestPayment", "analytics", "metrics", "inventory",
                          "intelligent-tiering", "versions"}) {
    if (c.req.HasQuery(sub)) {
      return Now(Error(c, 501, "NotImplemented",
                       StrCat("Sluice does not implement the bucket '", sub, "' configuration yet.")));
    }
  }
  if (m == "PUT" && c.req.HasQuery("versioning")) {
    return Now(Error(c, 501, "NotImplemented", "Sluice does not implement bucket versioning yet."));
  }
  if (m == "PUT") {
    // The region the request was signed for decides where the bucket may be created.
    std::string region;
    if (auto scope = FindCredentialScope(c.req)) region = scope->region;
    return WithBody(std::move(c), [region](Call& c, std::string body) { return CreateBucket(c, std::move(body), region); });
  }
  if (m == "HEAD") {
    auto b = c.store.GetBucket(c.bucket);
    if (!b.ok()) return Now(Error(c, b.status()));
    HttpResponse r = Empty(c, 200);
    r.SetHeader("x-amz-bucket-region", b->region);
    r.SetHeader("x-amz-bucket-location-type", "AvailabilityZone");
    return Now(std::move(r));
  }
  if (m == "DELETE") {
    absl::Status st = c.store.DeleteBucket(c.bucket);
    if (st.ok() && c.notifications) c.notifications->Forget(c.bucket);
    return Now(st.ok() ? Empty(c, 204) : Error(c, st));
  }
  if (m == "GET" && c.req.HasQuery("location")) {
    auto b = c.store.GetBucket(c.bucket);
    if (!b.ok()) return Now(Error(c, b.status()));
    std::string loc = b->region == "us-east-1" ? "" : XmlText(b->region);
    return Now(Xml(c, XmlHeader() + "<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">" + loc +
                          "</LocationConstraint>"));
  }
  if (m == "GET" && c.req.HasQuery("versioning")) {
    auto b = c.store.GetBucket(c.bucket);
    if (!b.ok()) return Now(Error(c, b.status()));
    return Now(Xml(c, XmlHeader() + "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>"));
  }
  if (m == "POST" && c.req.HasQuery("delete")) return WithBody(std::move(c), DeleteObjects);
  return Now(Error(c, 405, "MethodNotAllowed", "The specified method is not allowed against this resource."));
}

}  // namespace sluice::s3
