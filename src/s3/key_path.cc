#include "s3/key_path.h"

#include "base/strings.h"
#include "io/checksum.h"

namespace sluice {
namespace {

constexpr size_t kMaxName = 255;

bool IsNatural(std::string_view s) {
  if (s.empty() || s.size() > kMaxName || s == "." || s == ".." || s[0] == '%') return false;
  return s.find('\0') == std::string_view::npos;
}

std::string Escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "%";
  for (unsigned char c : s) {
    if (c == '%' || c == '#' || c < 0x20 || c == 0x7f) {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string SegmentName(std::string_view segment, int variant) {
  std::string name;
  if (IsNatural(segment) && variant == 0) {
    name = std::string(segment);
  } else {
    name = Escape(segment);
  }
  std::string suffix = variant > 0 ? StrCat("%%", variant) : "";
  if (name.size() + suffix.size() > kMaxName) {
    auto h = NewHasher(ChecksumAlgorithm::kSha1);
    h->Update(segment);
    name = "%#" + HexEncode(h->Finish());
  }
  return name + suffix;
}

std::string DecodeSegmentName(std::string_view name) {
  if (name.empty() || name[0] != '%') return std::string(name);
  if (name.starts_with("%#")) return std::string(name);
  name.remove_prefix(1);
  auto variant = name.find("%%");
  if (variant != std::string_view::npos) name = name.substr(0, variant);
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%' && i + 2 < name.size() && Hex(name[i + 1]) >= 0 && Hex(name[i + 2]) >= 0) {
      out.push_back(static_cast<char>(Hex(name[i + 1]) * 16 + Hex(name[i + 2])));
      i += 2;
    } else {
      out.push_back(name[i]);
    }
  }
  return out;
}

}  // namespace sluice
