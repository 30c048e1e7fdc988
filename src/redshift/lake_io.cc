#include "redshift/lake_io.h"

#include "base/strings.h"
#include "redshift/warehouse.h"
#include "s3/store.h"

namespace sluice::redshift {

const Token& TokenCursor::peek(size_t ahead) const { return at_ + ahead < t_.size() ? t_[at_ + ahead] : end_; }

bool TokenCursor::Accept(std::string_view word) {
  if (!done() && t_[at_].Is(word)) {
    ++at_;
    return true;
  }
  return false;
}

bool TokenCursor::AcceptSymbol(std::string_view s) {
  if (!done() && t_[at_].IsSymbol(s)) {
    ++at_;
    return true;
  }
  return false;
}

absl::StatusOr<std::string> TokenCursor::String(std::string_view what) {
  if (done() || t_[at_].kind != TokenKind::kString) {
    return WarehouseError("42601", StrCat("syntax error at or near \"", done() ? "end of input" : std::string(t_[at_].text),
                                          "\": expected a quoted ", what));
  }
  return StringValue(t_[at_++]);
}

absl::StatusOr<int64_t> TokenCursor::Integer(std::string_view what) {
  int64_t v = 0;
  std::string text;
  if (!done() && t_[at_].kind == TokenKind::kString) text = StringValue(t_[at_]);
  if (!done() && t_[at_].kind == TokenKind::kNumber) text = std::string(t_[at_].text);
  if (text.empty() || !ParseNumber(text, &v)) {
    return WarehouseError("42601", StrCat("syntax error at or near \"", done() ? "end of input" : std::string(t_[at_].text),
                                          "\": expected a number for ", what));
  }
  ++at_;
  return v;
}

absl::StatusOr<std::pair<std::string, std::string>> SplitS3Uri(const std::string& uri) {
  std::string_view s = uri;
  if (!ConsumePrefix(&s, "s3://")) {
    return WarehouseError("XX000", StrCat("Invalid S3 URI '", uri, "': it must begin with s3://"));
  }
  auto slash = s.find('/');
  std::string bucket(s.substr(0, slash));
  std::string rest = slash == std::string_view::npos ? "" : std::string(s.substr(slash + 1));
  if (bucket.empty()) return WarehouseError("XX000", StrCat("Invalid S3 URI '", uri, "': no bucket"));
  for (auto segment : Split(rest, '/', true)) {
    if (segment == "." || segment == "..") {
      return WarehouseError("XX000", StrCat("Invalid S3 URI '", uri, "': a path segment is '", std::string(segment), "'"));
    }
  }
  return std::make_pair(bucket, rest);
}

absl::StatusOr<std::vector<LakeObject>> ListPrefix(ObjectStore& store, const std::string& bucket,
                                                   const std::string& prefix) {
  std::vector<LakeObject> out;
  ListRequest req;
  req.prefix = prefix;
  for (;;) {
    auto page = store.List(bucket, req);
    if (!page.ok()) {
      if (S3ErrorCode(page.status()) == "NoSuchBucket") {
        return WarehouseError("XX000", "S3ServiceException:The specified bucket does not exist,Status 404,Error NoSuchBucket");
      }
      return WarehouseError("XX000", StrCat("S3ServiceException:", std::string(page.status().message())));
    }
    std::string dir = store.BucketDir(bucket);
    for (const auto& o : page->objects) out.push_back({bucket, o.key, dir + "/" + o.path, o.size});
    if (!page->truncated) return out;
    req.after = page->last;
  }
}

std::string StrptimeFormat(const std::string& f) {
  static const std::pair<const char*, const char*> kMap[] = {
      {"YYYY", "%Y"}, {"YY", "%y"}, {"MONTH", "%B"}, {"MON", "%b"}, {"MM", "%m"}, {"DD", "%d"}, {"HH24", "%H"},
      {"HH12", "%I"}, {"HH", "%I"}, {"MI", "%M"}, {"SSSSSS", "%f"}, {"SSS", "%g"}, {"SS", "%S"}, {"AM", "%p"},
      {"PM", "%p"}, {"TZH", "%z"}, {"DAY", "%A"}, {"DY", "%a"},
  };
  std::string out;
  size_t i = 0;
  while (i < f.size()) {
    bool matched = false;
    for (const auto& [from, to] : kMap) {
      size_t n = std::char_traits<char>::length(from);
      if (EqualsIgnoreCase(std::string_view(f).substr(i, n), from)) {
        out += to;
        i += n;
        matched = true;
        break;
      }
    }
    if (!matched) {
      if (f[i] == '%') out += '%';
      out += f[i++];
    }
  }
  return out;
}

}  // namespace sluice::redshift
