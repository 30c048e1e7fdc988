#include "sqs/message.h"

#include "base/strings.h"
#include "io/checksum.h"
#include "sqs/errors.h"

namespace sluice::sqs {
namespace {

void AppendLengthPrefixed(std::string* out, std::string_view s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  out->push_back(static_cast<char>(n >> 24));
  out->push_back(static_cast<char>(n >> 16));
  out->push_back(static_cast<char>(n >> 8));
  out->push_back(static_cast<char>(n));
  out->append(s);
}

bool IsBinary(const SqsAttributeValue& v) { return v.data_type.compare(0, 6, "Binary") == 0; }

bool ValidNumber(std::string_view s) {
  // An optional sign, digits with an optional fraction, an optional exponent; at most 38
  // significant digits (AWS's precision).
  size_t i = 0, digits = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  bool any = false;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits, any = true;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits, any = true;
  }
  if (!any) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    bool exp = false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, exp = true;
    if (!exp) return false;
  }
  return i == s.size() && digits <= 40;
}

}  // namespace

std::string Md5Hex(std::string_view data) { return HexEncode(Md5(data)); }

std::string Md5OfAttributes(const Attributes& attributes) {
  if (attributes.empty()) return "";
  std::string buf;
  for (const auto& [name, v] : attributes) {  // std::map: sorted by name, as AWS sorts
    AppendLengthPrefixed(&buf, name);
    AppendLengthPrefixed(&buf, v.data_type);
    if (IsBinary(v)) {
      buf.push_back(2);
      AppendLengthPrefixed(&buf, v.binary_value);
    } else {
      buf.push_back(1);
      AppendLengthPrefixed(&buf, v.string_value);
    }
  }
  return Md5Hex(buf);
}

size_t AttributesSize(const Attributes& attributes) {
  size_t n = 0;
  for (const auto& [name, v] : attributes) {
    n += name.size() + v.data_type.size() + (IsBinary(v) ? v.binary_value.size() : v.string_value.size());
  }
  return n;
}

bool ValidMessageText(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    uint32_t cp;
    size_t len;
    if (c < 0x80) {
      cp = c, len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F, len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F, len = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07, len = 4;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      unsigned char d = s[i + k];
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;
    bool ok = cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
              (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
    if (!ok) return false;
    i += len;
  }
  return true;
}

absl::Status ValidateAttributes(const Attributes& attributes) {
  if (attributes.size() > 10) {
    return InvalidParameter(
        StrCat("Number of message attributes [", attributes.size(), "] exceeds the allowed maximum [10]."));
  }
  for (const auto& [name, v] : attributes) {
    bool name_ok = !name.empty() && name.size() <= 256 && name.front() != '.' && name.back() != '.' &&
                   name.find("..") == std::string::npos;
    for (char c : name) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) name_ok = false;
    }
    std::string lower = AsciiLower(name);
    if (lower.compare(0, 4, "aws.") == 0 || lower.compare(0, 7, "amazon.") == 0) name_ok = false;
    if (!name_ok) {
      return InvalidParameter(StrCat("Message attribute name '", name, "' is invalid."));
    }
    if (v.data_type.empty()) {
      return InvalidParameter(StrCat("The message attribute '", name, "' must contain a non-empty attribute type."));
    }
    std::string_view type = v.data_type;
    std::string_view base = type.substr(0, type.find('.'));
    if ((base != "String" && base != "Number" && base != "Binary") || type.size() > 256 ||
        (type.size() > base.size() && type.size() == base.size() + 1)) {
      return InvalidParameter(StrCat("The message attribute '", name,
                                     "' has an invalid message attribute type, the set of supported type "
                                     "prefixes is Binary, Number, and String."));
    }
    if (base == "Binary") {
      if (v.binary_value.empty()) {
        return InvalidParameter(
            StrCat("The message attribute '", name, "' must contain a non-empty message attribute value."));
      }
    } else {
      if (v.string_value.empty()) {
        return InvalidParameter(
            StrCat("The message attribute '", name, "' must contain a non-empty message attribute value."));
      }
      if (!ValidMessageText(v.string_value)) {
        return InvalidParameter(StrCat("The message attribute '", name, "' contains invalid characters."));
      }
      if (base == "Number" && !ValidNumber(v.string_value)) {
        return InvalidParameter(StrCat("Can't cast the value of message (user) attribute '", name, "' to a number."));
      }
    }
  }
  return absl::OkStatus();
}

nlohmann::json AttributesToJson(const Attributes& attributes) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, v] : attributes) {
    nlohmann::json a = {{"DataType", v.data_type}};
    if (IsBinary(v)) {
      a["BinaryValue"] = Base64Encode(v.binary_value);
    } else {
      a["StringValue"] = v.string_value;
    }
    out[name] = std::move(a);
  }
  return out;
}

absl::StatusOr<Attributes> AttributesFromJson(const nlohmann::json& j) {
  Attributes out;
  if (j.is_null()) return out;
  if (!j.is_object()) return InvalidParameter("MessageAttributes must be a map.");
  for (const auto& [name, v] : j.items()) {
    if (!v.is_object()) return InvalidParameter(StrCat("The message attribute '", name, "' is malformed."));
    SqsAttributeValue a;
    if (v.contains("DataType") && v["DataType"].is_string()) a.data_type = v["DataType"].get<std::string>();
    if (v.contains("StringValue") && v["StringValue"].is_string()) a.string_value = v["StringValue"].get<std::string>();
    if (v.contains("BinaryValue") && v["BinaryValue"].is_string()) {
      auto raw = Base64Decode(v["BinaryValue"].get<std::string>());
      if (!raw) return InvalidParameter(StrCat("The message attribute '", name, "' has an invalid binary value."));
      a.binary_value = std::move(*raw);
    }
    out[name] = std::move(a);
  }
  return out;
}

}  // namespace sluice::sqs
