#include "http/message.h"

#include "base/strings.h"

namespace sluice {
namespace {

const std::string* Find(const HeaderList& list, std::string_view name, bool ignore_case) {
  for (const auto& [k, v] : list) {
    if (ignore_case ? EqualsIgnoreCase(k, name) : k == name) return &v;
  }
  return nullptr;
}

void Set(HeaderList& list, std::string_view name, std::string value) {
  for (auto& [k, v] : list) {
    if (EqualsIgnoreCase(k, name)) {
      v = std::move(value);
      return;
    }
  }
  list.emplace_back(std::string(name), std::move(value));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const std::string* HttpRequest::Header(std::string_view name) const {
  return Find(headers, name, true);
}
const std::string* HttpRequest::Query(std::string_view name) const {
  return Find(query, name, false);
}
std::string HttpRequest::HeaderOr(std::string_view name, std::string_view fallback) const {
  const std::string* v = Header(name);
  return v ? *v : std::string(fallback);
}
void HttpRequest::SetHeader(std::string_view name, std::string value) {
  Set(headers, AsciiLower(name), std::move(value));
}

void HttpResponse::SetHeader(std::string_view name, std::string value) {
  Set(headers, name, std::move(value));
}
const std::string* HttpResponse::Header(std::string_view name) const {
  return Find(headers, name, true);
}

std::string VirtualHostBucket(const HttpRequest& req) {
  std::string host = AsciiLower(req.HeaderOr("host"));
  std::string_view h = std::string_view(host).substr(0, host.find(':'));
  if (h.size() <= 10 || !h.ends_with(".localhost")) return "";
  h.remove_suffix(10);
  if (h.ends_with(".s3")) h.remove_suffix(3);
  return std::string(h);
}

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (unsigned char c : s) {
    if (((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string UriDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

HeaderList ParseQuery(std::string_view raw_query) {
  HeaderList out;
  if (raw_query.empty()) return out;
  for (std::string_view part : Split(raw_query, '&', true)) {
    auto eq = part.find('=');
    if (eq == std::string_view::npos) {
      out.emplace_back(UriDecode(part), "");
    } else {
      out.emplace_back(UriDecode(part.substr(0, eq)), UriDecode(part.substr(eq + 1)));
    }
  }
  return out;
}

}  // namespace sluice
