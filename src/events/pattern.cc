#include "events/pattern.h"

#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <unordered_map>
#include <utility>

#include "base/strings.h"

// Layout of this file:
//   1. A small JSON parser for patterns (and for events simdjson cannot take), which keeps
//      token offsets so that errors can say where they are, as AWS's do.
//   2. Value helpers: numbers as exact keys, Unicode case folding, wildcards, IP addresses.
//   3. The path trie shared by the patterns of a set, and compiled patterns.
//   4. The compiler, which validates with AWS's wording while it compiles.
//   5. The event view: the parts of an event that the trie reaches.
//   6. Verification of one compiled pattern against a view.
//   7. The anchor index and PatternSet.
namespace sluice::events {
namespace {

constexpr std::string_view kReasonPrefix = "Event pattern is not valid. Reason: ";
constexpr double kFiveBillion = 5e9;
constexpr int kMaxEventDepth = 1024;

// ---------------------------------------------------------------------------------------
// 1. JSON

struct JValue {
  enum class Kind : uint8_t { kObject, kArray, kString, kNumber, kTrue, kFalse, kNull };
  Kind kind = Kind::kNull;
  uint32_t begin = 0;  // offset of the token's first character
  uint32_t end = 0;    // offset after its last character (containers: after the closer)
  std::string text;    // kString: unescaped; kNumber: the number's text
  std::vector<JValue> items;        // array elements, or object member values
  std::vector<std::string> keys;    // object member names, parallel to items
  std::vector<uint32_t> key_begin;  // offsets of the member names' opening quotes
};

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A strict RFC 8259 parser producing JValue trees. Error messages follow Jackson's (the
// parser behind AWS's), error_loc is the offset Jackson would report as the location.
class JsonParser {
 public:
  JsonParser(std::string_view src, int max_depth) : s_(src), max_depth_(max_depth) {}

  bool Parse(JValue* out) {
    if (s_.size() >= std::numeric_limits<uint32_t>::max()) return Fail(0, "Document too large");
    SkipSpace();
    if (pos_ >= s_.size()) return Fail(pos_, "No content to map due to end-of-input");
    if (!ParseValue(out, 0)) return false;
    SkipSpace();
    if (pos_ < s_.size()) {
      return Fail(pos_ + 1, StrCat("Unexpected character (", CharDesc(s_[pos_]), "): expected EOF"));
    }
    return true;
  }

  const std::string& error() const { return error_; }
  size_t error_loc() const { return error_loc_; }

 private:
  bool Fail(size_t loc, std::string msg) {
    error_ = std::move(msg);
    error_loc_ = std::min(loc, s_.size());
    return false;
  }

  static std::string CharDesc(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20) return StrCat("CTRL-CHAR, code ", static_cast<int>(u));
    if (u >= 0x80) return StrCat("byte 0x", "0123456789ABCDEF"[u >> 4], "0123456789ABCDEF"[u & 15]);
    return StrCat("'", c, "' (code ", static_cast<int>(u), ")");
  }

  void SkipSpace() {
    while (pos_ < s_.size() && IsJsonSpace(s_[pos_])) ++pos_;
  }

  bool ParseValue(JValue* out, int depth) {
    SkipSpace();
    if (pos_ >= s_.size()) {
      return Fail(pos_, "Unexpected end-of-input: expected a value");
    }
    out->begin = static_cast<uint32_t>(pos_);
    char c = s_[pos_];
    switch (c) {
      case '{':
        return ParseObject(out, depth + 1);
      case '[':
        return ParseArray(out, depth + 1);
      case '"':
        out->kind = JValue::Kind::kString;
        if (!ParseString(&out->text)) return false;
        break;
      case 't':
      case 'f':
      case 'n':
        if (!ParseLiteral(out)) return false;
        break;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          if (!ParseNumber(out)) return false;
          break;
        }
        if (c == ']' || c == '}' || c == ',' || c == ':') {
          return Fail(pos_ + 1, StrCat("Unexpected character (", CharDesc(c),
                                       "): expected a value"));
        }
        return UnrecognizedToken();
    }
    out->end = static_cast<uint32_t>(pos_);
    return true;
  }

  bool UnrecognizedToken() {
    size_t start = pos_;
    size_t i = pos_;
    while (i < s_.size() && i - start < 256) {
      char ch = s_[i];
      if (IsJsonSpace(ch) || ch == ',' || ch == ':' || ch == ']' || ch == '}' || ch == '[' ||
          ch == '{' || ch == '"') {
        break;
      }
      ++i;
    }
    if (i == start) i = start + 1;
    return Fail(i, StrCat("Unrecognized token '", s_.substr(start, i - start),
                          "': was expecting (JSON String, Number, Array, Object or token 'null', "
                          "'true' or 'false')"));
  }

  bool ParseLiteral(JValue* out) {
    static constexpr std::pair<std::string_view, JValue::Kind> kLiterals[] = {
        {"true", JValue::Kind::kTrue}, {"false", JValue::Kind::kFalse}, {"null", JValue::Kind::kNull}};
    for (const auto& [word, kind] : kLiterals) {
      if (s_.substr(pos_, word.size()) == word) {
        size_t after = pos_ + word.size();
        if (after < s_.size()) {
          char ch = s_[after];
          if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_') {
            return UnrecognizedToken();
          }
        }
        out->kind = kind;
        pos_ = after;
        return true;
      }
    }
    return UnrecognizedToken();
  }

  bool ParseNumber(JValue* out) {
    size_t start = pos_;
    if (s_[pos_] == '-') {
      ++pos_;
      if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') {
        return Fail(pos_ + 1, "Unexpected character in numeric value: expected digit (0-9) to follow "
                              "minus sign, for valid numeric value");
      }
    }
    if (s_[pos_] == '0' && pos_ + 1 < s_.size() && s_[pos_ + 1] >= '0' && s_[pos_ + 1] <= '9') {
      return Fail(pos_ + 1, "Invalid numeric value: Leading zeroes not allowed");
    }
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') {
        return Fail(pos_ + 1, "Unexpected character in numeric value: Decimal point not followed by "
                              "a digit");
      }
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (pos_ >= s_.size() || s_[pos_] < '0' || s_[pos_] > '9') {
        return Fail(pos_ + 1, "Unexpected character in numeric value: Exponent indicator not "
                              "followed by a digit");
      }
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    }
    if (pos_ < s_.size()) {
      char ch = s_[pos_];
      if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '.' || ch == '_') {
        return Fail(pos_ + 1, StrCat("Unexpected character (", CharDesc(ch),
                                     ") in numeric value: Expected space separating root-level "
                                     "values"));
      }
    }
    out->kind = JValue::Kind::kNumber;
    out->text.assign(s_.substr(start, pos_ - start));
    return true;
  }

  static int HexVal(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  static void AppendUtf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool ReadHex4(uint32_t* cp) {
    if (pos_ + 4 > s_.size()) {
      return Fail(s_.size(), "Unexpected end-of-input in character escape sequence");
    }
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      int h = HexVal(s_[pos_]);
      if (h < 0) {
        return Fail(pos_ + 1, StrCat("Unexpected character (", CharDesc(s_[pos_]),
                                     "): expected a hex-digit for character escape sequence"));
      }
      v = v * 16 + static_cast<uint32_t>(h);
      ++pos_;
    }
    *cp = v;
    return true;
  }

  // At the opening quote; leaves pos_ after the closing quote.
  bool ParseString(std::string* out) {
    ++pos_;
    out->clear();
    for (;;) {
      // Copy the plain run in one go.
      size_t run = pos_;
      while (run < s_.size()) {
        unsigned char u = static_cast<unsigned char>(s_[run]);
        if (u == '"' || u == '\\' || u < 0x20 || u >= 0x80) break;
        ++run;
      }
      out->append(s_.substr(pos_, run - pos_));
      pos_ = run;
      if (pos_ >= s_.size()) {
        return Fail(pos_, "Unexpected end-of-input: was expecting closing quote for a string value");
      }
      unsigned char u = static_cast<unsigned char>(s_[pos_]);
      if (u == '"') {
        ++pos_;
        return true;
      }
      if (u < 0x20) {
        return Fail(pos_ + 1, StrCat("Illegal unquoted character ((CTRL-CHAR, code ", static_cast<int>(u),
                                     ")): has to be escaped using backslash to be included in string "
                                     "value"));
      }
      if (u >= 0x80) {
        size_t len = (u >= 0xF0 && u <= 0xF4) ? 4 : (u >= 0xE0) ? 3 : (u >= 0xC2 && u <= 0xDF) ? 2 : 0;
        if (len == 0 || u > 0xF4) {
          return Fail(pos_ + 1, StrCat("Invalid UTF-8 start byte 0x", "0123456789abcdef"[u >> 4],
                                       "0123456789abcdef"[u & 15]));
        }
        if (pos_ + len > s_.size()) {
          return Fail(s_.size(), "Unexpected end-of-input in a UTF-8 sequence");
        }
        uint32_t cp = u & (0xFF >> (len + 1));
        for (size_t k = 1; k < len; ++k) {
          unsigned char m = static_cast<unsigned char>(s_[pos_ + k]);
          if ((m & 0xC0) != 0x80) {
            return Fail(pos_ + k + 1, StrCat("Invalid UTF-8 middle byte 0x", "0123456789abcdef"[m >> 4],
                                             "0123456789abcdef"[m & 15]));
          }
          cp = (cp << 6) | (m & 0x3F);
        }
        bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
        if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
          return Fail(pos_ + 1, "Invalid UTF-8 sequence");
        }
        out->append(s_.substr(pos_, len));
        pos_ += len;
        continue;
      }
      // Escape.
      ++pos_;
      if (pos_ >= s_.size()) {
        return Fail(pos_, "Unexpected end-of-input in character escape sequence");
      }
      char e = s_[pos_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!ReadHex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF && pos_ + 6 <= s_.size() && s_[pos_] == '\\' &&
              s_[pos_ + 1] == 'u') {
            size_t save = pos_;
            pos_ += 2;
            uint32_t lo = 0;
            if (!ReadHex4(&lo)) return false;
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              pos_ = save;
              cp = 0xFFFD;
            }
          } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD;  // a lone surrogate has no UTF-8 form
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return Fail(pos_, StrCat("Unrecognized character escape ", CharDesc(e)));
      }
    }
  }

  bool EnterContainer(int depth) {
    if (depth > max_depth_) {
      return Fail(pos_ + 1, StrCat("Document nesting depth (", depth, ") exceeds the maximum allowed (",
                                   max_depth_, ", from `StreamReadConstraints.getMaxNestingDepth()`)"));
    }
    return true;
  }

  bool ParseObject(JValue* out, int depth) {
    if (!EnterContainer(depth)) return false;
    out->kind = JValue::Kind::kObject;
    ++pos_;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      out->end = static_cast<uint32_t>(pos_);
      return true;
    }
    for (;;) {
      SkipSpace();
      if (pos_ >= s_.size()) {
        return Fail(pos_, "Unexpected end-of-input: expected close marker for Object");
      }
      if (s_[pos_] != '"') {
        return Fail(pos_ + 1, StrCat("Unexpected character (", CharDesc(s_[pos_]),
                                     "): was expecting double-quote to start field name"));
      }
      out->key_begin.push_back(static_cast<uint32_t>(pos_));
      out->keys.emplace_back();
      if (!ParseString(&out->keys.back())) return false;
      SkipSpace();
      if (pos_ >= s_.size()) {
        return Fail(pos_, "Unexpected end-of-input: expected close marker for Object");
      }
      if (s_[pos_] != ':') {
        return Fail(pos_ + 1, StrCat("Unexpected character (", CharDesc(s_[pos_]),
                                     "): was expecting a colon to separate field name and value"));
      }
      ++pos_;
      out->items.emplace_back();
      if (!ParseValue(&out->items.back(), depth)) return false;
      SkipSpace();
      if (pos_ >= s_.size()) {
        return Fail(pos_, "Unexpected end-of-input: expected close marker for Object");
      }
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '}') {
        ++pos_;
        out->end = static_cast<uint32_t>(pos_);
        return true;
      }
      return Fail(pos_ + 1, StrCat("Unexpected character (", CharDesc(s_[pos_]),
                                   "): was expecting comma to separate Object entries"));
    }
  }

  bool ParseArray(JValue* out, int depth) {
    if (!EnterContainer(depth)) return false;
    out->kind = JValue::Kind::kArray;
    ++pos_;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      out->end = static_cast<uint32_t>(pos_);
      return true;
    }
    for (;;) {
      out->items.emplace_back();
      if (!ParseValue(&out->items.back(), depth)) return false;
      SkipSpace();
      if (pos_ >= s_.size()) {
        return Fail(pos_, "Unexpected end-of-input: expected close marker for Array");
      }
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == ']') {
        ++pos_;
        out->end = static_cast<uint32_t>(pos_);
        return true;
      }
      return Fail(pos_ + 1, StrCat("Unexpected character (", CharDesc(s_[pos_]),
                                   "): was expecting comma to separate Array entries"));
    }
  }

  std::string_view s_;
  int max_depth_;
  size_t pos_ = 0;
  std::string error_;
  size_t error_loc_ = 0;
};

// The location Jackson reports after reading a token: just past an opening quote
// (strings are read lazily), past an opening bracket, or past a scalar.
size_t After(const JValue& v) {
  switch (v.kind) {
    case JValue::Kind::kString:
    case JValue::Kind::kObject:
    case JValue::Kind::kArray:
      return v.begin + 1;
    default:
      return v.end;
  }
}

// "Event pattern is not valid. Reason: <reason>\n at [Source: (String)"..."; line: L, column: C]",
// with Jackson's truncation of long sources.
absl::Status PatternError(std::string_view src, size_t loc, std::string_view reason) {
  loc = std::min(loc, src.size());
  size_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < loc; ++i) {
    if (src[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  constexpr size_t kMaxShown = 500;
  std::string_view shown = src;
  size_t truncated = 0;
  if (src.size() > kMaxShown) {
    size_t cut = kMaxShown;
    while (cut > 0 && (static_cast<unsigned char>(src[cut]) & 0xC0) == 0x80) --cut;
    shown = src.substr(0, cut);
    truncated = src.size() - cut;
  }
  std::string msg = StrCat(kReasonPrefix, reason, "\n at [Source: (String)\"", shown, "\"");
  if (truncated > 0) StrAppend(&msg, "[truncated ", truncated, " chars]");
  StrAppend(&msg, "; line: ", line, ", column: ", loc - line_start + 1, "]");
  return absl::InvalidArgumentError(msg);
}

// ---------------------------------------------------------------------------------------
// 2. Values

// A number as an exact, hashable key: integers (and integral doubles) as int64/uint64,
// anything else as the double's bits, so that 300, 300.0 and 3.0e2 are one key.
struct NumKey {
  uint8_t kind = 0;  // 0: int64, 1: uint64 above INT64_MAX, 2: non-integral or huge double
  uint64_t bits = 0;
  bool operator==(const NumKey&) const = default;
};

NumKey NumKeyFromInt(int64_t v) { return {0, static_cast<uint64_t>(v)}; }

NumKey NumKeyFromUint(uint64_t v) {
  if (v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return {0, v};
  return {1, v};
}

NumKey NumKeyFromDouble(double d) {
  if (std::isfinite(d) && d == std::trunc(d)) {
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
      return NumKeyFromInt(static_cast<int64_t>(d));
    }
    if (d > 0 && d < 18446744073709551616.0) return {1, static_cast<uint64_t>(d)};
  }
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return {2, bits};
}

// Parses the text of a JSON number (already known to be well-formed, or checked here).
bool ParseNumberText(std::string_view text, NumKey* key, double* value) {
  if (text.empty()) return false;
  const char* b = text.data();
  const char* e = text.data() + text.size();
  bool integral = text.find_first_of(".eE") == std::string_view::npos;
  if (integral) {
    int64_t i;
    auto [p, ec] = std::from_chars(b, e, i);
    if (ec == std::errc() && p == e) {
      *key = NumKeyFromInt(i);
      *value = static_cast<double>(i);
      return true;
    }
    if (text[0] != '-') {
      uint64_t u;
      auto [p2, ec2] = std::from_chars(b, e, u);
      if (ec2 == std::errc() && p2 == e) {
        *key = NumKeyFromUint(u);
        *value = static_cast<double>(u);
        return true;
      }
    }
  }
  double d;
  auto [p, ec] = std::from_chars(b, e, d);
  if (p != e) return false;
  if (ec == std::errc::result_out_of_range) {
    // from_chars leaves d unset on overflow/underflow; decide by the exponent's sign.
    size_t epos = text.find_first_of("eE");
    bool tiny = epos != std::string_view::npos && epos + 1 < text.size() && text[epos + 1] == '-';
    bool negative = text[0] == '-';
    d = tiny ? (negative ? -0.0 : 0.0)
             : (negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity());
  } else if (ec != std::errc()) {
    return false;
  }
  *key = NumKeyFromDouble(d);
  *value = d;
  return true;
}

void AppendNumKey(std::string* out, const NumKey& k) {
  out->push_back(static_cast<char>(k.kind));
  char buf[8];
  std::memcpy(buf, &k.bits, 8);
  out->append(buf, 8);
}

// Decodes one UTF-8 code point at s[*i] and advances *i. Invalid bytes come back as
// 0x80000000 | byte, so that they survive folding unchanged.
uint32_t DecodeUtf8(std::string_view s, size_t* i) {
  unsigned char u = static_cast<unsigned char>(s[*i]);
  if (u < 0x80) {
    ++*i;
    return u;
  }
  size_t len = (u >= 0xF0 && u <= 0xF4) ? 4 : (u >= 0xE0 && u <= 0xEF) ? 3 : (u >= 0xC2 && u <= 0xDF) ? 2 : 0;
  if (len == 0 || *i + len > s.size()) {
    ++*i;
    return 0x80000000u | u;
  }
  uint32_t cp = u & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; ++k) {
    unsigned char m = static_cast<unsigned char>(s[*i + k]);
    if ((m & 0xC0) != 0x80) {
      ++*i;
      return 0x80000000u | u;
    }
    cp = (cp << 6) | (m & 0x3F);
  }
  *i += len;
  return cp;
}

// Simple lower-case folding of the scripts with case: Latin (Basic, Latin-1, Extended-A,
// Extended Additional), Greek, Cyrillic, Armenian and fullwidth Latin.
uint32_t FoldCodePoint(uint32_t c) {
  if (c < 0x80) return (c - 'A' < 26u) ? c + 32 : c;
  if (c < 0x100) return (c >= 0xC0 && c <= 0xDE && c != 0xD7) ? c + 32 : c;
  if (c <= 0x17F) {
    if (c == 0x130) return 'i';
    if (c == 0x178) return 0xFF;
    if (c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F) return c;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c + 1 : c;
    return (c & 1) ? c : c + 1;
  }
  if (c >= 0x370 && c <= 0x3FF) {
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if (c == 0x3C2) return 0x3C3;
    return c;
  }
  if (c >= 0x400 && c <= 0x4FF) {
    if (c <= 0x40F) return c + 80;
    if (c <= 0x42F) return c + 32;
    if ((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) || (c >= 0x4D0 && c <= 0x4FF)) {
      return (c & 1) ? c : c + 1;
    }
    if (c == 0x4C0) return 0x4CF;
    if (c >= 0x4C1 && c <= 0x4CE) return (c & 1) ? c + 1 : c;
    return c;
  }
  if (c >= 0x531 && c <= 0x556) return c + 48;
  if ((c >= 0x1E00 && c <= 0x1E95) || (c >= 0x1EA0 && c <= 0x1EFF)) return (c & 1) ? c : c + 1;
  if (c >= 0xFF21 && c <= 0xFF3A) return c + 32;
  return c;
}

void AppendCodePoint(std::string* out, uint32_t cp) {
  if (cp & 0x80000000u) {
    out->push_back(static_cast<char>(cp & 0xFF));
    return;
  }
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Case-folds s into *out (replacing its contents).
void FoldInto(std::string_view s, std::string* out) {
  out->clear();
  out->reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char u = static_cast<unsigned char>(s[i]);
    if (u < 0x80) {
      out->push_back(static_cast<char>(static_cast<unsigned>(u - 'A') < 26u ? u + 32 : u));
      ++i;
      continue;
    }
    AppendCodePoint(out, FoldCodePoint(DecodeUtf8(s, &i)));
  }
}

std::string Fold(std::string_view s) {
  std::string out;
  FoldInto(s, &out);
  return out;
}

// A wildcard pattern: literal segments around single `*`s.
struct Wildcard {
  std::vector<std::string> segments;  // stars + 1 segments; the outer ones may be empty

  bool Matches(std::string_view s) const {
    size_t n = segments.size();
    if (n == 1) return s == segments[0];
    const std::string& first = segments[0];
    const std::string& last = segments[n - 1];
    if (s.size() < first.size() + last.size()) return false;
    if (!s.starts_with(first) || !s.ends_with(last)) return false;
    size_t pos = first.size();
    size_t end = s.size() - last.size();
    for (size_t i = 1; i + 1 < n; ++i) {
      const std::string& seg = segments[i];
      if (seg.empty()) continue;
      size_t found = s.substr(0, end).find(seg, pos);
      if (found == std::string_view::npos) return false;
      pos = found + seg.size();
    }
    return true;
  }
};

// Parses AWS wildcard syntax: `*` matches any run of characters, `\*` and `\\` are the
// literal characters, anything else after a backslash and `**` are errors. Positions in
// the messages count the pattern's opening quote, as AWS's do.
bool ParseWildcard(std::string_view text, Wildcard* out, std::string* error) {
  out->segments.assign(1, std::string());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '*') {
      if (i + 1 < text.size() && text[i + 1] == '*') {
        *error = StrCat("Consecutive wildcard characters at pos ", i + 1);
        return false;
      }
      out->segments.emplace_back();
    } else if (c == '\\') {
      if (i + 1 < text.size() && (text[i + 1] == '*' || text[i + 1] == '\\')) {
        out->segments.back().push_back(text[++i]);
      } else {
        *error = StrCat("Invalid escape character at pos ", i + 1);
        return false;
      }
    } else {
      out->segments.back().push_back(c);
    }
  }
  return true;
}

struct IpAddr {
  uint8_t family = 0;  // 4 or 6
  uint8_t bytes[16] = {};
  size_t size() const { return family == 4 ? 4 : 16; }
  bool operator==(const IpAddr& o) const {
    return family == o.family && std::memcmp(bytes, o.bytes, size()) == 0;
  }
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool ParseIpv4(std::string_view s, uint8_t out[4]) {
  size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
    size_t start = i;
    unsigned v = 0;
    while (i < s.size() && IsDigit(s[i]) && i - start < 3) v = v * 10 + static_cast<unsigned>(s[i++] - '0');
    if (i == start || v > 255 || (i < s.size() && IsDigit(s[i]))) return false;
    out[part] = static_cast<uint8_t>(v);
  }
  return i == s.size();
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ParseIpv6(std::string_view s, uint8_t out[16]) {
  uint16_t groups[8];
  int n = 0;
  int gap = -1;  // index in groups where "::" stands
  size_t i = 0;
  if (s.starts_with("::")) {
    gap = 0;
    i = 2;
  } else if (s.starts_with(":")) {
    return false;
  }
  while (i < s.size()) {
    if (n >= 8) return false;
    size_t j = i;
    while (j < s.size() && HexDigit(s[j]) >= 0) ++j;
    if (j < s.size() && s[j] == '.') {
      uint8_t v4[4];
      if (n > 6 || !ParseIpv4(s.substr(i), v4)) return false;
      groups[n++] = static_cast<uint16_t>(v4[0] << 8 | v4[1]);
      groups[n++] = static_cast<uint16_t>(v4[2] << 8 | v4[3]);
      i = s.size();
      break;
    }
    if (j == i || j - i > 4) return false;
    uint16_t g = 0;
    for (size_t k = i; k < j; ++k) g = static_cast<uint16_t>(g << 4 | HexDigit(s[k]));
    groups[n++] = g;
    i = j;
    if (i == s.size()) break;
    if (s[i] != ':') return false;
    ++i;
    if (i < s.size() && s[i] == ':') {
      if (gap >= 0) return false;
      gap = n;
      ++i;
    } else if (i == s.size()) {
      return false;
    }
  }
  if (gap < 0 ? n != 8 : n > 7) return false;
  uint16_t full[8] = {};
  if (gap < 0) {
    std::copy(groups, groups + 8, full);
  } else {
    std::copy(groups, groups + gap, full);
    std::copy(groups + gap, groups + n, full + 8 - (n - gap));
  }
  for (int k = 0; k < 8; ++k) {
    out[2 * k] = static_cast<uint8_t>(full[k] >> 8);
    out[2 * k + 1] = static_cast<uint8_t>(full[k] & 0xFF);
  }
  return true;
}

// Whether s can be an IP literal at all (the shapes AWS tries to read as addresses).
bool LooksLikeIp(std::string_view s) {
  if (s.size() < 2 || s.size() > 45) return false;
  bool colon = false;
  int dots = 0;
  for (char c : s) {
    if (c == ':') {
      colon = true;
    } else if (c == '.') {
      ++dots;
    } else if (HexDigit(c) < 0) {
      return false;
    }
  }
  return colon || dots == 3;
}

// The shapes AWS tries to read as addresses in a CIDR: four dot-separated digit runs,
// or hex digits and colons with at least one colon.
bool HasAwsIpShape(std::string_view s) {
  if (s.find(':') != std::string_view::npos) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c == ':' || HexDigit(c) >= 0; });
  }
  int runs = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    if (i == start) return false;
    ++runs;
    if (i == s.size()) break;
    if (s[i] != '.') return false;
    ++i;
    if (i == s.size()) return false;
  }
  return runs == 4;
}

bool ParseIp(std::string_view s, IpAddr* out) {
  if (!LooksLikeIp(s)) return false;
  if (s.find(':') == std::string_view::npos) {
    out->family = 4;
    return ParseIpv4(s, out->bytes);
  }
  out->family = 6;
  return ParseIpv6(s, out->bytes);
}

// AWS's CIDR range: from the address as written (not masked) to the address with all
// host bits set.
struct CidrRange {
  IpAddr low;
  IpAddr high;
  int mask_bits = 0;

  bool Contains(const IpAddr& ip) const {
    if (ip.family != low.family) return false;
    size_t n = ip.size();
    return std::memcmp(ip.bytes, low.bytes, n) >= 0 && std::memcmp(ip.bytes, high.bytes, n) <= 0;
  }
};

void MaskAddress(const IpAddr& ip, int bits, uint8_t* out) {
  size_t n = ip.size();
  for (size_t k = 0; k < n; ++k) {
    int keep = std::clamp(bits - static_cast<int>(k * 8), 0, 8);
    uint8_t mask = keep == 0 ? 0 : static_cast<uint8_t>(0xFF << (8 - keep));
    out[k] = ip.bytes[k] & mask;
  }
}

// ---------------------------------------------------------------------------------------
// 3. Trie and compiled patterns

// The object-key paths used by a set of patterns. Node 0 is the event's root. Nodes are
// reference-counted by the pattern fields that use them; ids of dead nodes are reused.
class PathTrie {
 public:
  PathTrie() { nodes_.emplace_back(); }

  int32_t Find(int32_t parent, std::string_view name) const {
    const Node& p = nodes_[static_cast<size_t>(parent)];
    if (!p.table.empty()) return FindInTable(p, name);
    // Few kids: most names differ in length, which is checked first.
    for (const Kid& k : p.kids) {
      if (k.len == name.size() && k.head == Head(name) && Same(k, name, k.head)) return k.id;
    }
    return -1;
  }

  int32_t Intern(int32_t parent, std::string_view name) {
    int32_t id = Find(parent, name);
    if (id < 0) {
      if (!free_.empty()) {
        id = free_.back();
        free_.pop_back();
      } else {
        id = static_cast<int32_t>(nodes_.size());
        nodes_.emplace_back();
      }
      Node& n = nodes_[static_cast<size_t>(id)];
      n.name.assign(name);
      n.parent = parent;
      n.refs = 0;
      Node& p = nodes_[static_cast<size_t>(parent)];
      p.kids.push_back(Kid{static_cast<uint32_t>(name.size()), id, Head(name)});
      if (p.kids.size() > kLinearKids) {
        if (p.kids.size() * 2 > p.table.size()) {
          Reindex(p);
        } else {
          Place(p, p.kids.size() - 1);
        }
      }
    }
    ++nodes_[static_cast<size_t>(id)].refs;
    return id;
  }

  void Release(int32_t id) {
    Node& n = nodes_[static_cast<size_t>(id)];
    if (--n.refs > 0) return;
    Node& p = nodes_[static_cast<size_t>(n.parent)];
    std::erase_if(p.kids, [id](const Kid& k) { return k.id == id; });
    Reindex(p);
    n.name.clear();
    n.kids.clear();
    n.table.clear();
    free_.push_back(id);
  }

  bool HasKids(int32_t id) const { return !nodes_[static_cast<size_t>(id)].kids.empty(); }
  int32_t Parent(int32_t id) const { return nodes_[static_cast<size_t>(id)].parent; }
  const std::string& Name(int32_t id) const { return nodes_[static_cast<size_t>(id)].name; }
  size_t capacity() const { return nodes_.size(); }

 private:
  static constexpr size_t kLinearKids = 4;

  struct Kid {
    uint32_t len;
    int32_t id;
    uint64_t head;  // the name's first eight bytes, zero-padded
  };

  struct Node {
    std::string name;
    int32_t parent = -1;
    uint32_t refs = 1;
    std::vector<Kid> kids;
    std::vector<int32_t> table;  // with many kids: open addressing over kids' indexes; -1 empty
  };

  static uint64_t Head(std::string_view name) {
    uint64_t head = 0;
    if (name.size() >= 8) {
      std::memcpy(&head, name.data(), 8);
      return head;
    }
    for (size_t i = 0; i < name.size(); ++i) head |= static_cast<uint64_t>(static_cast<uint8_t>(name[i])) << (8 * i);
    return head;
  }

  static uint64_t NameHash(std::string_view name, uint64_t head) {
    uint64_t h = (head ^ name.size()) * 0x9E3779B97F4A7C15ull;
    for (size_t i = 8; i < name.size(); i += 8) {
      h = (h ^ Head(name.substr(i))) * 0x9E3779B97F4A7C15ull;
    }
    return h ^ (h >> 32);
  }

  [[gnu::noinline]] int32_t FindInTable(const Node& p, std::string_view name) const {
    uint64_t head = Head(name);
    size_t mask = p.table.size() - 1;
    for (size_t i = NameHash(name, head) & mask; p.table[i] >= 0; i = (i + 1) & mask) {
      const Kid& k = p.kids[static_cast<size_t>(p.table[i])];
      if (Same(k, name, head)) return k.id;
    }
    return -1;
  }

  // Names are told apart by length and first eight bytes; the rest only when those agree.
  bool Same(const Kid& k, std::string_view name, uint64_t head) const {
    if (k.len != name.size() || k.head != head) return false;
    if (name.size() <= 8) return true;
    const std::string& n = nodes_[static_cast<size_t>(k.id)].name;
    return std::memcmp(n.data() + 8, name.data() + 8, name.size() - 8) == 0;
  }

  void Place(Node& p, size_t kid) {
    const Kid& k = p.kids[kid];
    size_t mask = p.table.size() - 1;
    size_t i = NameHash(nodes_[static_cast<size_t>(k.id)].name, k.head) & mask;
    while (p.table[i] >= 0) i = (i + 1) & mask;
    p.table[i] = static_cast<int32_t>(kid);
  }

  void Reindex(Node& p) {
    p.table.clear();
    if (p.kids.size() <= kLinearKids) return;
    size_t size = 16;
    while (size < p.kids.size() * 4) size *= 2;
    p.table.assign(size, -1);
    for (size_t i = 0; i < p.kids.size(); ++i) Place(p, i);
  }

  std::vector<Node> nodes_;
  std::vector<int32_t> free_;
};

enum class CondKind : uint8_t {
  kExactString,
  kExactIp,  // a string that is an IP literal: matches other spellings of the address too
  kExactNumber,
  kExactTrue,
  kExactFalse,
  kExactNull,
  kPrefix,
  kSuffix,
  kPrefixFold,
  kSuffixFold,
  kEqualsFold,
  kWildcard,
  kNumeric,
  kCidr,
  kExists,
  kNotExists,
  kButStrings,
  kButNumbers,
  kButPrefix,
  kButSuffix,
  kButFold,
  kButWildcard,
};

struct NumericRange {
  bool has_low = false, has_high = false;
  bool low_open = false, high_open = false;
  double low = 0, high = 0;

  bool Contains(double v) const {
    if (has_low && (low_open ? !(v > low) : !(v >= low))) return false;
    if (has_high && (high_open ? !(v < high) : !(v <= high))) return false;
    return true;
  }
};

struct Cond {
  CondKind kind = CondKind::kExactNull;
  std::string str;                // exact string, prefix, suffix; folded for the *Fold kinds
  NumKey num;                     // kExactNumber
  IpAddr ip;                      // kExactIp
  NumericRange range;             // kNumeric
  CidrRange cidr;                 // kCidr
  std::vector<std::string> strs;  // kButStrings (sorted), kButFold (folded, sorted)
  std::vector<NumKey> nums;       // kButNumbers
  std::vector<Wildcard> wilds;    // kWildcard (one), kButWildcard
};

struct Leaf {
  std::vector<Cond> conds;  // any of them
};

struct PField {
  int32_t trie = -1;
  int32_t leaf = -1;  // index into CompiledPattern::leaves, or
  int32_t obj = -1;   // index into CompiledPattern::objs
};

struct PObj {
  std::vector<PField> fields;              // all must match
  std::vector<std::vector<int32_t>> ors;   // each: one of these objects must match
};

struct CompiledPattern {
  std::vector<PObj> objs;  // objs[0] is the root
  std::vector<Leaf> leaves;
  std::vector<int32_t> trie_refs;  // one entry per Intern, released when the pattern goes
};

// ---------------------------------------------------------------------------------------
// 4. Compiler

bool IsReservedInOr(std::string_view name) {
  static constexpr std::string_view kReserved[] = {
      "exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "wildcard",
      "numeric", "cidr", "=", "<", "<=", ">", ">=", "regex", "not-wildcard",
      "not-equals-ignore-case", "date-after", "date-on-or-after", "date-before",
      "date-on-or-before", "in-date-range", "ip-address-in-range", "ip-address-not-in-range"};
  return std::find(std::begin(kReserved), std::end(kReserved), name) != std::end(kReserved);
}

std::string NumberForMessage(double d) {
  // Java's Double.toString for the limits in the range message.
  if (d == kFiveBillion) return "5.0E9";
  if (d == -kFiveBillion) return "-5.0E9";
  return StrCat(d);
}

class Compiler {
 public:
  Compiler(std::string_view src, PathTrie* trie, CompiledPattern* out) : src_(src), trie_(trie), out_(out) {}

  absl::Status Compile(const JValue& root) {
    if (root.kind != JValue::Kind::kObject) return Error(After(root), "Filter is not an object");
    out_->objs.emplace_back();
    return CompileObject(root, 0, /*in_or=*/false, 0);
  }

 private:
  absl::Status Error(size_t loc, std::string_view reason) { return PatternError(src_, loc, reason); }

  int32_t Intern(int32_t parent, std::string_view name) {
    if (dry_ || trie_ == nullptr) return -1;
    int32_t id = trie_->Intern(parent, name);
    out_->trie_refs.push_back(id);
    return id;
  }

  // Compiles the members of `obj` into out_->objs[index].
  absl::Status CompileObject(const JValue& obj, int32_t index, bool in_or, int32_t trie_node) {
    if (obj.items.empty()) return Error(obj.end, "Empty objects are not allowed");
    for (size_t m = 0; m < obj.items.size(); ++m) {
      const std::string& key = obj.keys[m];
      const JValue& value = obj.items[m];
      if (key == "$or") {
        RETURN_IF_ERROR(CompileOr(value, index, in_or, trie_node));
        continue;
      }
      if (in_or && IsReservedInOr(key)) {
        return Error(obj.key_begin[m] + 1,
                     StrCat(key, " is Ruler reserved fieldName which cannot be used inside $or."));
      }
      if (value.kind != JValue::Kind::kObject && value.kind != JValue::Kind::kArray) {
        return Error(After(value), StrCat("\"", key, "\" must be an object or an array"));
      }
      // A later member with the same name replaces this one (AWS: "the last reference will
      // be the one used"), but this one must still be valid.
      bool superseded = false;
      for (size_t later = m + 1; later < obj.keys.size(); ++later) {
        if (obj.keys[later] == key) superseded = true;
      }
      CompiledPattern scratch;
      CompiledPattern* saved_out = out_;
      bool saved_dry = dry_;
      if (superseded) {
        out_ = &scratch;
        dry_ = true;
        out_->objs.emplace_back();
      }
      PField field;
      field.trie = Intern(trie_node, key);
      absl::Status status;
      if (value.kind == JValue::Kind::kObject) {
        field.obj = static_cast<int32_t>(out_->objs.size());
        out_->objs.emplace_back();
        status = CompileObject(value, field.obj, in_or, field.trie);
      } else {
        Leaf leaf;
        status = CompileLeaf(value, &leaf);
        field.leaf = static_cast<int32_t>(out_->leaves.size());
        out_->leaves.push_back(std::move(leaf));
      }
      out_ = saved_out;
      dry_ = saved_dry;
      RETURN_IF_ERROR(status);
      if (!superseded) out_->objs[static_cast<size_t>(index)].fields.push_back(field);
    }
    return absl::OkStatus();
  }

  absl::Status CompileOr(const JValue& value, int32_t index, bool /*in_or*/, int32_t trie_node) {
    if (value.kind != JValue::Kind::kArray) return Error(After(value), "It must be an Array followed with $or.");
    std::vector<int32_t> branches;
    for (const JValue& item : value.items) {
      if (item.kind != JValue::Kind::kObject) {
        return Error(After(item), "Only JSON object is allowed in array of $or relationship.");
      }
      int32_t branch = static_cast<int32_t>(out_->objs.size());
      out_->objs.emplace_back();
      RETURN_IF_ERROR(CompileObject(item, branch, /*in_or=*/true, trie_node));
      branches.push_back(branch);
    }
    if (branches.size() < 2) {
      return Error(value.end, "There must have at least 2 Objects in $or relationship.");
    }
    out_->objs[static_cast<size_t>(index)].ors.push_back(std::move(branches));
    return absl::OkStatus();
  }

  absl::Status CompileLeaf(const JValue& array, Leaf* leaf) {
    for (const JValue& item : array.items) {
      Cond cond;
      switch (item.kind) {
        case JValue::Kind::kString:
          cond.str = item.text;
          cond.kind = ParseIp(item.text, &cond.ip) ? CondKind::kExactIp : CondKind::kExactString;
          break;
        case JValue::Kind::kNumber: {
          double d;
          ParseNumberText(item.text, &cond.num, &d);
          cond.kind = CondKind::kExactNumber;
          break;
        }
        case JValue::Kind::kTrue:
          cond.kind = CondKind::kExactTrue;
          break;
        case JValue::Kind::kFalse:
          cond.kind = CondKind::kExactFalse;
          break;
        case JValue::Kind::kNull:
          cond.kind = CondKind::kExactNull;
          break;
        case JValue::Kind::kObject:
          RETURN_IF_ERROR(CompileMatchExpression(item, &cond));
          break;
        case JValue::Kind::kArray:
          return Error(After(item), "Match value must be String, number, true, false, or null");
      }
      leaf->conds.push_back(std::move(cond));
    }
    if (leaf->conds.empty()) return Error(array.end, "Empty arrays are not allowed");
    return absl::OkStatus();
  }

  absl::Status OnlyOneKey(const JValue& expr) {
    if (expr.items.size() > 1) return Error(expr.key_begin[1] + 1, "Only one key allowed in match expression");
    return absl::OkStatus();
  }

  absl::Status CompileMatchExpression(const JValue& expr, Cond* cond) {
    if (expr.items.empty()) return Error(expr.end, "Match expression name not found");
    const std::string& op = expr.keys[0];
    const JValue& v = expr.items[0];
    if (op == "prefix" || op == "suffix") {
      bool prefix = op == "prefix";
      if (v.kind == JValue::Kind::kString) {
        cond->kind = prefix ? CondKind::kPrefix : CondKind::kSuffix;
        cond->str = v.text;
      } else if (v.kind == JValue::Kind::kObject && !v.items.empty()) {
        if (v.keys[0] != "equals-ignore-case") {
          return Error(v.key_begin[0] + 1, StrCat("Unsupported ", op, " pattern: ", v.keys[0]));
        }
        const JValue& inner = v.items[0];
        if (inner.kind != JValue::Kind::kString) {
          return Error(After(inner), "equals-ignore-case match pattern must be a string");
        }
        RETURN_IF_ERROR(OnlyOneKey(v));
        cond->kind = prefix ? CondKind::kPrefixFold : CondKind::kSuffixFold;
        cond->str = Fold(inner.text);
      } else {
        return Error(After(v), StrCat(op, " match pattern must be a string"));
      }
      return OnlyOneKey(expr);
    }
    if (op == "equals-ignore-case") {
      if (v.kind != JValue::Kind::kString) {
        return Error(After(v), "equals-ignore-case match pattern must be a string");
      }
      cond->kind = CondKind::kEqualsFold;
      cond->str = Fold(v.text);
      return OnlyOneKey(expr);
    }
    if (op == "wildcard") {
      if (v.kind != JValue::Kind::kString) return Error(After(v), "wildcard match pattern must be a string");
      Wildcard w;
      std::string error;
      if (!ParseWildcard(v.text, &w, &error)) return Error(After(v), error);
      cond->kind = CondKind::kWildcard;
      cond->wilds.push_back(std::move(w));
      return OnlyOneKey(expr);
    }
    if (op == "exists") {
      if (v.kind == JValue::Kind::kTrue) {
        cond->kind = CondKind::kExists;
      } else if (v.kind == JValue::Kind::kFalse) {
        cond->kind = CondKind::kNotExists;
      } else {
        return Error(After(v), "exists match pattern must be either true or false.");
      }
      return OnlyOneKey(expr);
    }
    if (op == "cidr") {
      if (v.kind != JValue::Kind::kString) return Error(After(v), "prefix match pattern must be a string");
      std::string error;
      if (!ParseCidr(v.text, &cond->cidr, &error)) return Error(After(v), error);
      cond->kind = CondKind::kCidr;
      return OnlyOneKey(expr);
    }
    if (op == "numeric") {
      if (v.kind != JValue::Kind::kArray) return Error(After(v), "Value of numeric must be an array.");
      RETURN_IF_ERROR(CompileNumeric(v, &cond->range));
      cond->kind = CondKind::kNumeric;
      if (expr.items.size() > 1) return Error(expr.key_begin[1] + 1, "Too many elements in numeric expression");
      return absl::OkStatus();
    }
    if (op == "anything-but") {
      RETURN_IF_ERROR(CompileAnythingBut(v, cond));
      if (expr.items.size() > 1) return Error(expr.key_begin[1] + 1, "Too many elements in numeric expression");
      return absl::OkStatus();
    }
    return Error(expr.key_begin[0] + 1, StrCat("Unrecognized match type ", op));
  }

  static bool ParseCidr(std::string_view text, CidrRange* out, std::string* error) {
    size_t slash = text.find('/');
    if (slash == std::string_view::npos || text.find('/', slash + 1) != std::string_view::npos ||
        slash + 1 == text.size()) {
      *error = "Malformed CIDR, one '/' required";
      return false;
    }
    std::string_view ip_text = text.substr(0, slash);
    std::string_view bits_text = text.substr(slash + 1);
    bool negative = false;
    if (!bits_text.empty() && (bits_text[0] == '+' || bits_text[0] == '-')) {
      negative = bits_text[0] == '-';
      bits_text.remove_prefix(1);
    }
    int bits = 0;
    if (!ParseNumber(bits_text, &bits)) {
      *error = "Malformed CIDR, mask bits must be an integer";
      return false;
    }
    if (negative && bits != 0) {
      *error = "Malformed CIDR, mask bits must not be negative";
      return false;
    }
    IpAddr ip;
    if (!ParseIp(ip_text, &ip)) {
      *error = StrCat(HasAwsIpShape(ip_text) ? "Invalid IP address: " : "Nonstandard IP address: ", ip_text);
      return false;
    }
    if (ip.family == 4 && bits > 31) {
      *error = "IPv4 mask bits must be < 32";
      return false;
    }
    if (ip.family == 6 && bits > 127) {
      *error = "IPv6 mask bits must be < 128";
      return false;
    }
    out->low = ip;
    out->high = ip;
    out->mask_bits = bits;
    size_t n = ip.size();
    for (size_t k = 0; k < n; ++k) {
      int host = std::clamp(static_cast<int>((k + 1) * 8) - bits, 0, 8);
      out->high.bytes[k] = static_cast<uint8_t>(ip.bytes[k] | ((1u << host) - 1));
    }
    return true;
  }

  absl::Status NumericOperand(const JValue& v, std::string_view op, double* out) {
    if (v.kind != JValue::Kind::kNumber) {
      return Error(After(v), StrCat("Value of ", op == "=" ? "equals" : op, " must be numeric"));
    }
    NumKey key;
    ParseNumberText(v.text, &key, out);
    if (!(*out >= -kFiveBillion && *out <= kFiveBillion)) {
      return Error(After(v), StrCat("Value must be between ", NumberForMessage(-kFiveBillion), " and ",
                                    NumberForMessage(kFiveBillion), ", inclusive"));
    }
    return absl::OkStatus();
  }

  // The token's text as Jackson's getText() gives it (just the opener for containers).
  std::string_view TokenText(const JValue& v) const {
    if (v.kind == JValue::Kind::kObject || v.kind == JValue::Kind::kArray) return src_.substr(v.begin, 1);
    if (v.kind == JValue::Kind::kString) return v.text;
    return src_.substr(v.begin, v.end - v.begin);
  }

  absl::Status CompileNumeric(const JValue& arr, NumericRange* range) {
    const std::vector<JValue>& t = arr.items;
    if (t.empty()) return Error(arr.end, "Invalid member in numeric match: ]");
    if (t[0].kind != JValue::Kind::kString) {
      return Error(After(t[0]), StrCat("Invalid member in numeric match: ", TokenText(t[0])));
    }
    const std::string& op = t[0].text;
    if (op != "=" && op != "<" && op != "<=" && op != ">" && op != ">=") {
      return Error(After(t[0]), StrCat("Unrecognized numeric range operator: ", op));
    }
    if (t.size() < 2) return Error(arr.end, StrCat("Value of ", op == "=" ? "equals" : op, " must be numeric"));
    double first;
    RETURN_IF_ERROR(NumericOperand(t[1], op, &first));
    if (op == "=") {
      range->has_low = range->has_high = true;
      range->low = range->high = first;
    } else if (op == "<" || op == "<=") {
      range->has_high = true;
      range->high = first;
      range->high_open = op == "<";
    } else {
      range->has_low = true;
      range->low = first;
      range->low_open = op == ">";
    }
    if (t.size() == 2) return absl::OkStatus();
    if (op != ">" && op != ">=") return Error(After(t[2]), "Too many elements in numeric expression");
    if (t[2].kind != JValue::Kind::kString) {
      return Error(After(t[2]), StrCat("Bad value in numeric range: ", TokenText(t[2])));
    }
    const std::string& op2 = t[2].text;
    if (op2 != "<" && op2 != "<=") return Error(After(t[2]), StrCat("Bad numeric range operator: ", op2));
    if (t.size() < 4) return Error(arr.end, StrCat("Value of ", op2, " must be numeric"));
    double second;
    RETURN_IF_ERROR(NumericOperand(t[3], op2, &second));
    if (t.size() > 4) return Error(After(t[4]), "Too many terms in numeric range expression");
    if (!(second > first)) return Error(After(t[3]), "Bottom must be less than top");
    range->has_high = true;
    range->high = second;
    range->high_open = op2 == "<";
    return absl::OkStatus();
  }

  absl::Status CompileAnythingBut(const JValue& v, Cond* cond) {
    switch (v.kind) {
      case JValue::Kind::kString:
        cond->kind = CondKind::kButStrings;
        cond->strs.push_back(v.text);
        return absl::OkStatus();
      case JValue::Kind::kNumber: {
        NumKey key;
        double d;
        ParseNumberText(v.text, &key, &d);
        if (!(d >= -kFiveBillion && d <= kFiveBillion)) {
          return Error(After(v), StrCat("Value must be between ", NumberForMessage(-kFiveBillion), " and ",
                                        NumberForMessage(kFiveBillion), ", inclusive"));
        }
        cond->kind = CondKind::kButNumbers;
        cond->nums.push_back(key);
        return absl::OkStatus();
      }
      case JValue::Kind::kArray:
        return CompileAnythingButList(v, cond);
      case JValue::Kind::kObject:
        return CompileAnythingButObject(v, cond);
      default:
        return Error(After(v), "Value of anything-but must be an array or single string/number value.");
    }
  }

  absl::Status CompileAnythingButList(const JValue& v, Cond* cond) {
    bool has_string = false, has_number = false;
    for (const JValue& item : v.items) {
      if (item.kind == JValue::Kind::kString) {
        has_string = true;
        cond->strs.push_back(item.text);
      } else if (item.kind == JValue::Kind::kNumber) {
        NumKey key;
        double d;
        ParseNumberText(item.text, &key, &d);
        if (!(d >= -kFiveBillion && d <= kFiveBillion)) {
          return Error(After(item), StrCat("Value must be between ", NumberForMessage(-kFiveBillion), " and ",
                                           NumberForMessage(kFiveBillion), ", inclusive"));
        }
        has_number = true;
        cond->nums.push_back(key);
      } else {
        return Error(After(item), "Inside anything but list, start|null|boolean is not supported.");
      }
    }
    if (has_string == has_number) {
      return Error(v.end,
                   "Inside anything but list, either all values are number or string, mixed type is not supported");
    }
    cond->kind = has_string ? CondKind::kButStrings : CondKind::kButNumbers;
    std::sort(cond->strs.begin(), cond->strs.end());
    return absl::OkStatus();
  }

  absl::Status CompileAnythingButObject(const JValue& v, Cond* cond) {
    if (v.items.empty()) return Error(v.end, "Anything-But expression name not found");
    const std::string& op = v.keys[0];
    const JValue& inner = v.items[0];
    if (op == "prefix" || op == "suffix") {
      if (inner.kind != JValue::Kind::kString) {
        return Error(After(inner), "prefix/suffix match pattern must be a string");
      }
      if (inner.text.empty()) return Error(After(inner), "Null prefix/suffix not allowed");
      cond->kind = op == "prefix" ? CondKind::kButPrefix : CondKind::kButSuffix;
      cond->str = inner.text;
    } else if (op == "equals-ignore-case") {
      cond->kind = CondKind::kButFold;
      if (inner.kind == JValue::Kind::kString) {
        cond->strs.push_back(Fold(inner.text));
      } else if (inner.kind == JValue::Kind::kArray) {
        for (const JValue& item : inner.items) {
          if (item.kind != JValue::Kind::kString) {
            return Error(After(item),
                         "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.");
          }
          cond->strs.push_back(Fold(item.text));
        }
      } else {
        return Error(After(inner),
                     "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.");
      }
      std::sort(cond->strs.begin(), cond->strs.end());
    } else if (op == "wildcard") {
      cond->kind = CondKind::kButWildcard;
      std::vector<const JValue*> texts;
      if (inner.kind == JValue::Kind::kString) {
        texts.push_back(&inner);
      } else if (inner.kind == JValue::Kind::kArray && !inner.items.empty()) {
        for (const JValue& item : inner.items) texts.push_back(&item);
      } else {
        return Error(After(inner), "wildcard match pattern must be a string");
      }
      for (const JValue* t : texts) {
        if (t->kind != JValue::Kind::kString) return Error(After(*t), "wildcard match pattern must be a string");
        Wildcard w;
        std::string error;
        if (!ParseWildcard(t->text, &w, &error)) return Error(After(*t), error);
        cond->wilds.push_back(std::move(w));
      }
    } else {
      return Error(v.key_begin[0] + 1, StrCat("Unsupported anything-but pattern: ", op));
    }
    return OnlyOneKey(v);
  }

  std::string_view src_;
  PathTrie* trie_;
  CompiledPattern* out_;
  bool dry_ = false;
};

// Parses and compiles a pattern; on error, nothing stays interned in the trie.
absl::Status CompilePattern(std::string_view text, const PatternLimits& limits, PathTrie* trie,
                            CompiledPattern* out) {
  if (StripWhitespace(text).empty()) return PatternError(text, text.size(), "Filter is not an object");
  if (limits.max_length > 0 && text.size() > limits.max_length) {
    return absl::InvalidArgumentError(StrCat(kReasonPrefix, "Event pattern is longer than ", limits.max_length,
                                             " characters"));
  }
  JValue root;
  JsonParser parser(text, limits.max_depth);
  if (!parser.Parse(&root)) return PatternError(text, parser.error_loc(), parser.error());
  absl::Status status = Compiler(text, trie, out).Compile(root);
  if (!status.ok() && trie != nullptr) {
    // Children were interned after their parents; release them first.
    for (auto it = out->trie_refs.rbegin(); it != out->trie_refs.rend(); ++it) trie->Release(*it);
    out->trie_refs.clear();
  }
  return status;
}

// ---------------------------------------------------------------------------------------
// 5. Event views

enum class VKind : uint8_t { kObject, kArray, kString, kNumber, kTrue, kFalse, kNull };

// One node of an event view. Objects keep only the members some pattern path reaches,
// as a list of children each tagged with its trie node; arrays keep their elements, with
// nested arrays flattened into them (they behave alike for matching).
struct VNode {
  VKind kind = VKind::kNull;
  int32_t trie = 0;
  int32_t next = -1;   // next sibling
  int32_t first = -1;  // object/array: first child
  std::string_view str;
  double num = 0;
  NumKey key;

  bool IsScalar() const { return kind != VKind::kObject && kind != VKind::kArray; }
};

using Slot = uint32_t;

// Per-thread buffers of one Match call.
struct Scratch {
  simdjson::dom::parser parser;
  std::vector<VNode> view;
  std::vector<uint32_t> mark;  // mark[slot] == epoch: already a candidate
  uint32_t epoch = 0;
  std::vector<uint32_t> excl_mark;
  uint32_t excl_epoch = 0;
  // node_any[node] == epoch: the node's unconditional anchors fired already (so a long
  // array costs them once); node_but[node] == epoch: so did all its anything-but ones.
  std::vector<uint32_t> node_any, node_but;
  // node_need[node] == epoch: a candidate's pattern uses the path, so the view keeps it.
  std::vector<uint32_t> node_need;
  std::vector<Slot> candidates;
  std::string fold;     // folded value, for the index
  std::string fold2;    // folded value, for verification
  std::string keybuf;   // index key payloads

  void Begin(size_t slots, size_t nodes) {
    view.clear();
    candidates.clear();
    if (mark.size() < slots) {
      mark.resize(slots, 0);
      excl_mark.resize(slots, 0);
    }
    if (node_any.size() < nodes) {
      node_any.resize(nodes, 0);
      node_but.resize(nodes, 0);
      node_need.resize(nodes, 0);
    }
    if (++epoch == 0) {
      std::fill(mark.begin(), mark.end(), 0);
      std::fill(node_any.begin(), node_any.end(), 0);
      std::fill(node_but.begin(), node_but.end(), 0);
      std::fill(node_need.begin(), node_need.end(), 0);
      epoch = 1;
    }
  }

  uint32_t NextExclEpoch() {
    if (++excl_epoch == 0) {
      std::fill(excl_mark.begin(), excl_mark.end(), 0);
      excl_epoch = 1;
    }
    return excl_epoch;
  }
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

class IndexProbe;  // see section 7

// The scalar a DOM element holds (REQUIRES: not an object or array).
void DomScalar(simdjson::dom::element e, VNode* v) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::STRING:
      v->kind = VKind::kString;
      v->str = e.get_string().value_unsafe();
      return;
    case element_type::INT64: {
      int64_t i = e.get_int64().value_unsafe();
      v->kind = VKind::kNumber;
      v->num = static_cast<double>(i);
      v->key = NumKeyFromInt(i);
      return;
    }
    case element_type::UINT64: {
      uint64_t u = e.get_uint64().value_unsafe();
      v->kind = VKind::kNumber;
      v->num = static_cast<double>(u);
      v->key = NumKeyFromUint(u);
      return;
    }
    case element_type::DOUBLE: {
      double d = e.get_double().value_unsafe();
      v->kind = VKind::kNumber;
      v->num = d;
      v->key = NumKeyFromDouble(d);
      return;
    }
    case element_type::BOOL:
      v->kind = e.get_bool().value_unsafe() ? VKind::kTrue : VKind::kFalse;
      return;
    default:
      v->kind = VKind::kNull;
      return;
  }
}

// Builds a view from an event, following the trie; every scalar that lands on a trie
// node is shown to the index probe (when there is one) as it is added.
class ViewBuilder {
 public:
  ViewBuilder(const PathTrie& trie, std::vector<VNode>* view, IndexProbe* probe)
      : trie_(trie), view_(*view), probe_(probe) {}

  // Keep only the paths whose trie nodes have need[node] == epoch (else all of them).
  void Restrict(const std::vector<uint32_t>* need, uint32_t epoch) {
    need_ = need;
    epoch_ = epoch;
  }

  int32_t FromDom(simdjson::dom::element e, int32_t trie) {
    using simdjson::dom::element_type;
    switch (e.type()) {
      case element_type::OBJECT: {
        int32_t self = NewNode(VKind::kObject, trie);
        if (!trie_.HasKids(trie)) return self;
        int32_t last = -1;
        simdjson::dom::object object;
        if (e.get_object().get(object)) return self;
        for (simdjson::dom::key_value_pair field : object) {
          int32_t kid = trie_.Find(trie, field.key);
          if (kid < 0 || (need_ != nullptr && (*need_)[static_cast<size_t>(kid)] != epoch_)) continue;
          int32_t child = FromDom(field.value, kid);
          Link(self, &last, child);
        }
        return self;
      }
      case element_type::ARRAY: {
        int32_t self = NewNode(VKind::kArray, trie);
        int32_t last = -1;
        AppendDomArray(e, trie, self, &last);
        return self;
      }
      default: {
        VNode v;
        DomScalar(e, &v);
        return AddScalar(v.kind, trie, v.str, v.num, v.key);
      }
    }
  }

  int32_t FromJson(const JValue& v, int32_t trie) {
    switch (v.kind) {
      case JValue::Kind::kObject: {
        int32_t self = NewNode(VKind::kObject, trie);
        if (!trie_.HasKids(trie)) return self;
        int32_t last = -1;
        for (size_t m = 0; m < v.items.size(); ++m) {
          int32_t kid = trie_.Find(trie, v.keys[m]);
          if (kid < 0) continue;
          Link(self, &last, FromJson(v.items[m], kid));
        }
        return self;
      }
      case JValue::Kind::kArray: {
        int32_t self = NewNode(VKind::kArray, trie);
        int32_t last = -1;
        AppendJsonArray(v, trie, self, &last);
        return self;
      }
      case JValue::Kind::kString:
        return AddScalar(VKind::kString, trie, v.text, 0, {});
      case JValue::Kind::kNumber: {
        NumKey key;
        double d = 0;
        ParseNumberText(v.text, &key, &d);
        return AddScalar(VKind::kNumber, trie, {}, d, key);
      }
      case JValue::Kind::kTrue:
        return AddScalar(VKind::kTrue, trie, {}, 0, {});
      case JValue::Kind::kFalse:
        return AddScalar(VKind::kFalse, trie, {}, 0, {});
      case JValue::Kind::kNull:
        return AddScalar(VKind::kNull, trie, {}, 0, {});
    }
    return AddScalar(VKind::kNull, trie, {}, 0, {});
  }

  int32_t FromFields(const std::vector<FlatField>& fields) {
    int32_t root = NewNode(VKind::kObject, 0);
    for (const FlatField& f : fields) {
      if (f.path.empty()) continue;
      int32_t trie = 0;
      int32_t at = root;
      bool ok = true;
      for (size_t k = 0; k < f.path.size() && ok; ++k) {
        int32_t kid = trie_.Find(trie, f.path[k]);
        if (kid < 0) {
          ok = false;
          break;
        }
        bool last_step = k + 1 == f.path.size();
        int32_t child = FindChild(at, kid);
        if (child < 0) {
          child = NewNode(last_step ? VKind::kArray : VKind::kObject, kid);
          LinkFront(at, child);
        } else if (view_[static_cast<size_t>(child)].kind != (last_step ? VKind::kArray : VKind::kObject)) {
          ok = false;
          break;
        }
        trie = kid;
        at = child;
      }
      if (!ok) continue;
      for (const Value& v : f.values) {
        int32_t scalar;
        switch (v.kind) {
          case Value::Kind::kString:
            scalar = AddScalar(VKind::kString, trie, v.text, 0, {});
            break;
          case Value::Kind::kNumber: {
            NumKey key;
            double d = 0;
            if (ParseNumberText(StripWhitespace(v.text), &key, &d)) {
              scalar = AddScalar(VKind::kNumber, trie, {}, d, key);
            } else {
              scalar = AddScalar(VKind::kString, trie, v.text, 0, {});
            }
            break;
          }
          case Value::Kind::kTrue:
            scalar = AddScalar(VKind::kTrue, trie, {}, 0, {});
            break;
          case Value::Kind::kFalse:
            scalar = AddScalar(VKind::kFalse, trie, {}, 0, {});
            break;
          default:
            scalar = AddScalar(VKind::kNull, trie, {}, 0, {});
            break;
        }
        LinkFront(at, scalar);
      }
    }
    return root;
  }

 private:
  int32_t NewNode(VKind kind, int32_t trie) {
    view_.emplace_back();
    VNode& n = view_.back();
    n.kind = kind;
    n.trie = trie;
    return static_cast<int32_t>(view_.size() - 1);
  }

  void Link(int32_t parent, int32_t* last, int32_t child) {
    if (*last < 0) {
      view_[static_cast<size_t>(parent)].first = child;
    } else {
      view_[static_cast<size_t>(*last)].next = child;
    }
    *last = child;
  }

  void LinkFront(int32_t parent, int32_t child) {
    view_[static_cast<size_t>(child)].next = view_[static_cast<size_t>(parent)].first;
    view_[static_cast<size_t>(parent)].first = child;
  }

  int32_t FindChild(int32_t parent, int32_t trie) const {
    for (int32_t c = view_[static_cast<size_t>(parent)].first; c >= 0; c = view_[static_cast<size_t>(c)].next) {
      if (view_[static_cast<size_t>(c)].trie == trie) return c;
    }
    return -1;
  }

  void AppendDomArray(simdjson::dom::element e, int32_t trie, int32_t self, int32_t* last) {
    simdjson::dom::array array;
    if (e.get_array().get(array)) return;
    for (simdjson::dom::element item : array) {
      if (item.type() == simdjson::dom::element_type::ARRAY) {
        AppendDomArray(item, trie, self, last);
      } else {
        Link(self, last, FromDom(item, trie));
      }
    }
  }

  void AppendJsonArray(const JValue& v, int32_t trie, int32_t self, int32_t* last) {
    for (const JValue& item : v.items) {
      if (item.kind == JValue::Kind::kArray) {
        AppendJsonArray(item, trie, self, last);
      } else {
        Link(self, last, FromJson(item, trie));
      }
    }
  }

  inline int32_t AddScalar(VKind kind, int32_t trie, std::string_view str, double num, NumKey key);

  const PathTrie& trie_;
  std::vector<VNode>& view_;
  IndexProbe* probe_;
  const std::vector<uint32_t>* need_ = nullptr;
  uint32_t epoch_ = 0;
};

// ---------------------------------------------------------------------------------------
// 6. Verification

class Verifier {
 public:
  Verifier(const std::vector<VNode>& view, std::string* fold_buf) : view_(view), fold_(*fold_buf) {}

  bool Matches(const CompiledPattern& p, int32_t root) { return MatchObject(p, 0, root); }

 private:
  const VNode& At(int32_t i) const { return view_[static_cast<size_t>(i)]; }

  // `node` is the view node at this object's path, or -1 when there is none.
  bool MatchObject(const CompiledPattern& p, int32_t obj, int32_t node) {
    if (node >= 0) {
      const VNode& n = At(node);
      if (n.kind == VKind::kArray) {
        // One element must satisfy the whole sub-pattern; an empty array is no value.
        if (n.first >= 0) {
          for (int32_t e = n.first; e >= 0; e = At(e).next) {
            if (MatchObject(p, obj, e)) return true;
          }
          return false;
        }
        node = -1;
      } else if (n.kind != VKind::kObject) {
        node = -1;
      }
    }
    const PObj& o = p.objs[static_cast<size_t>(obj)];
    for (const PField& f : o.fields) {
      int32_t child = node >= 0 ? FindChild(node, f.trie) : -1;
      bool ok = f.leaf >= 0 ? MatchLeaf(p.leaves[static_cast<size_t>(f.leaf)], child) : MatchObject(p, f.obj, child);
      if (!ok) return false;
    }
    for (const std::vector<int32_t>& branches : o.ors) {
      bool any = false;
      for (int32_t b : branches) {
        if (MatchObject(p, b, node)) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
    return true;
  }

  int32_t FindChild(int32_t node, int32_t trie) const {
    for (int32_t c = At(node).first; c >= 0; c = At(c).next) {
      if (At(c).trie == trie) return c;
    }
    return -1;
  }

  bool MatchLeaf(const Leaf& leaf, int32_t node) {
    // The scalars at this path: the value itself, or an array's scalar elements.
    int32_t single = -1;
    int32_t list = -1;
    bool any_value = false;
    if (node >= 0) {
      const VNode& n = At(node);
      if (n.IsScalar()) {
        single = node;
        any_value = true;
      } else if (n.kind == VKind::kArray) {
        list = n.first;
        for (int32_t e = list; e >= 0; e = At(e).next) {
          if (At(e).IsScalar()) {
            any_value = true;
            break;
          }
        }
      }
    }
    bool has_value_conds = false;
    for (const Cond& c : leaf.conds) {
      if (c.kind == CondKind::kExists) {
        if (any_value) return true;
      } else if (c.kind == CondKind::kNotExists) {
        if (!any_value) return true;
      } else {
        has_value_conds = true;
      }
    }
    if (!has_value_conds || !any_value) return false;
    if (single >= 0) return AnyCond(leaf, At(single));
    for (int32_t e = list; e >= 0; e = At(e).next) {
      if (At(e).IsScalar() && AnyCond(leaf, At(e))) return true;
    }
    return false;
  }

  bool AnyCond(const Leaf& leaf, const VNode& v) {
    folded_ = false;
    for (const Cond& c : leaf.conds) {
      if (CondMatches(c, v)) return true;
    }
    return false;
  }

  const std::string& Folded(const VNode& v) {
    if (!folded_) {
      FoldInto(v.str, &fold_);
      folded_ = true;
    }
    return fold_;
  }

  bool CondMatches(const Cond& c, const VNode& v) {
    bool is_string = v.kind == VKind::kString;
    switch (c.kind) {
      case CondKind::kExactString:
        return is_string && v.str == c.str;
      case CondKind::kExactIp: {
        if (!is_string) return false;
        if (v.str == c.str) return true;
        IpAddr ip;
        return ParseIp(v.str, &ip) && ip == c.ip;
      }
      case CondKind::kExactNumber:
        return v.kind == VKind::kNumber && v.key == c.num;
      case CondKind::kExactTrue:
        return v.kind == VKind::kTrue;
      case CondKind::kExactFalse:
        return v.kind == VKind::kFalse;
      case CondKind::kExactNull:
        return v.kind == VKind::kNull;
      case CondKind::kPrefix:
        return is_string && v.str.starts_with(c.str);
      case CondKind::kSuffix:
        return is_string && v.str.ends_with(c.str);
      case CondKind::kPrefixFold:
        return is_string && std::string_view(Folded(v)).starts_with(c.str);
      case CondKind::kSuffixFold:
        return is_string && std::string_view(Folded(v)).ends_with(c.str);
      case CondKind::kEqualsFold:
        return is_string && Folded(v) == c.str;
      case CondKind::kWildcard:
        return is_string && c.wilds[0].Matches(v.str);
      case CondKind::kNumeric:
        // AWS compares numbers only within its numeric range.
        return v.kind == VKind::kNumber && v.num >= -kFiveBillion && v.num <= kFiveBillion &&
               c.range.Contains(v.num);
      case CondKind::kCidr: {
        IpAddr ip;
        return is_string && ParseIp(v.str, &ip) && c.cidr.Contains(ip);
      }
      case CondKind::kExists:
      case CondKind::kNotExists:
        return false;  // handled by MatchLeaf
      case CondKind::kButStrings:
        return !(is_string && std::binary_search(c.strs.begin(), c.strs.end(), v.str));
      case CondKind::kButNumbers:
        return !(v.kind == VKind::kNumber && std::find(c.nums.begin(), c.nums.end(), v.key) != c.nums.end());
      case CondKind::kButPrefix:
        return !(is_string && v.str.starts_with(c.str));
      case CondKind::kButSuffix:
        return !(is_string && v.str.ends_with(c.str));
      case CondKind::kButFold:
        return !(is_string && std::binary_search(c.strs.begin(), c.strs.end(), Folded(v)));
      case CondKind::kButWildcard: {
        if (!is_string) return true;
        for (const Wildcard& w : c.wilds) {
          if (w.Matches(v.str)) return false;
        }
        return true;
      }
    }
    return false;
  }

  const std::vector<VNode>& view_;
  std::string& fold_;
  bool folded_ = false;
};

// Parses an event into *dom_root, or (for numbers simdjson cannot hold) into *fallback.
absl::Status ParseEvent(std::string_view event, Scratch& s, simdjson::dom::element* dom_root, JValue* fallback,
                        bool* used_fallback) {
  *used_fallback = false;
  simdjson::error_code err = s.parser.parse(event.data(), event.size()).get(*dom_root);
  if (err == simdjson::NUMBER_ERROR) {
    // Integers beyond 64 bits and out-of-range floats are valid JSON.
    JsonParser parser(event, kMaxEventDepth);
    if (!parser.Parse(fallback)) {
      return absl::InvalidArgumentError(StrCat("Event is not valid JSON: ", parser.error()));
    }
    if (fallback->kind != JValue::Kind::kObject) return absl::InvalidArgumentError("Event is not a JSON object");
    *used_fallback = true;
    return absl::OkStatus();
  }
  if (err) return absl::InvalidArgumentError(StrCat("Event is not valid JSON: ", simdjson::error_message(err)));
  if (dom_root->type() != simdjson::dom::element_type::OBJECT) {
    return absl::InvalidArgumentError("Event is not a JSON object");
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// 7. The anchor index

// Index key: (trie node, tag, payload). Tags:
//   's' exact string      'n' exact number (NumKey)   'l' true/false/null ("t"/"f"/"z")
//   'i' IP address        'p' prefix                  'x' suffix
//   'e' folded value      'P' folded prefix           'X' folded suffix
//   'c' CIDR network (family, mask bits, masked address)
//   'A' a value excluded by anything-but anchors (type char + value)
using Postings = std::vector<Slot>;

// 64-bit hash of (node, tag, bytes), eight bytes at a time.
uint64_t HashKey(uint64_t seed, int32_t node, char tag, std::string_view bytes) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  uint64_t h = seed ^ ((static_cast<uint64_t>(static_cast<uint32_t>(node)) << 8 | static_cast<unsigned char>(tag)) * kMul);
  h ^= bytes.size() * 0xC2B2AE3D27D4EB4Full;
  const char* p = bytes.data();
  size_t n = bytes.size();
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  return h;
}

// The index's keys: open addressing with linear probing over 16-byte buckets that keep
// the full hash; entries live apart. Most values an event holds are named by no pattern,
// so lookups first ask a blocked Bloom filter (one 64-bit word per lookup, ~13-26 bits
// per key: small enough to stay in L1 where the buckets of 10,000 keys would not).
// Erasure shifts followers back (no tombstones); the filter is rebuilt as keys come and go.
class KeyIndex {
 public:
  const Postings* Find(int32_t node, char tag, std::string_view bytes) const {
    if (buckets_.empty()) return nullptr;
    uint64_t h = HashKey(seed_, node, tag, bytes);
    uint64_t bits = FilterBits(h);
    if ((filter_[h >> filter_shift_] & bits) != bits) return nullptr;
    ptrdiff_t i = Locate(h, node, tag, bytes);
    return i < 0 ? nullptr : &entries_[buckets_[static_cast<size_t>(i)].entry - 1].postings;
  }

  Postings* FindMutable(int32_t node, char tag, std::string_view bytes) {
    if (buckets_.empty()) return nullptr;
    ptrdiff_t i = Locate(HashKey(seed_, node, tag, bytes), node, tag, bytes);
    return i < 0 ? nullptr : &entries_[buckets_[static_cast<size_t>(i)].entry - 1].postings;
  }

  Postings& Insert(int32_t node, char tag, std::string_view bytes) {
    if (Postings* found = FindMutable(node, tag, bytes)) return *found;
    if ((count_ + 1) * 2 > buckets_.size()) Grow();
    uint32_t entry;
    if (!free_.empty()) {
      entry = free_.back();
      free_.pop_back();
    } else {
      entry = static_cast<uint32_t>(entries_.size());
      entries_.emplace_back();
    }
    Entry& e = entries_[entry];
    e.node = node;
    e.tag = tag;
    e.bytes.assign(bytes);
    e.postings.clear();
    uint64_t h = HashKey(seed_, node, tag, bytes);
    Place(h, entry + 1);
    ++count_;
    if (count_ > filter_.size() * 8) {
      RebuildFilter();
    } else {
      filter_[h >> filter_shift_] |= FilterBits(h);
    }
    return e.postings;
  }

  void Erase(int32_t node, char tag, std::string_view bytes) {
    if (buckets_.empty()) return;
    ptrdiff_t found = Locate(HashKey(seed_, node, tag, bytes), node, tag, bytes);
    if (found < 0) return;
    size_t mask = buckets_.size() - 1;
    size_t i = static_cast<size_t>(found);
    uint32_t entry = buckets_[i].entry - 1;
    entries_[entry].bytes.clear();
    entries_[entry].bytes.shrink_to_fit();
    Postings().swap(entries_[entry].postings);
    free_.push_back(entry);
    --count_;
    if (++erased_ > count_ + 64) RebuildFilter();
    // Backward-shift deletion: pull later members of the probe run into the hole.
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
      if (buckets_[j].entry == 0) break;
      size_t home = buckets_[j].hash & mask;
      bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
      if (movable) {
        buckets_[i] = buckets_[j];
        i = j;
      }
    }
    buckets_[i] = Bucket{};
  }

 private:
  struct Bucket {
    uint64_t hash = 0;
    uint32_t entry = 0;  // index + 1 into entries_; 0: empty
  };
  struct Entry {
    int32_t node = 0;
    char tag = 0;
    std::string bytes;
    Postings postings;
  };

  // The bucket holding the key, or -1. REQUIRES: !buckets_.empty().
  ptrdiff_t Locate(uint64_t h, int32_t node, char tag, std::string_view bytes) const {
    size_t mask = buckets_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      const Bucket& b = buckets_[i];
      if (b.entry == 0) return -1;
      if (b.hash == h) {
        const Entry& e = entries_[b.entry - 1];
        if (e.node == node && e.tag == tag && e.bytes == bytes) return static_cast<ptrdiff_t>(i);
      }
    }
  }

  void Place(uint64_t h, uint32_t entry_plus_one) {
    size_t mask = buckets_.size() - 1;
    size_t i = h & mask;
    while (buckets_[i].entry != 0) i = (i + 1) & mask;
    buckets_[i] = Bucket{h, entry_plus_one};
  }

  void Grow() {
    std::vector<Bucket> old = std::move(buckets_);
    buckets_.assign(old.empty() ? 16 : old.size() * 2, Bucket{});
    for (const Bucket& b : old) {
      if (b.entry != 0) Place(b.hash, b.entry);
    }
    if (filter_.empty()) RebuildFilter();
  }

  // Four bits of one word, chosen by the hash's low bits (the word by its high bits).
  static uint64_t FilterBits(uint64_t h) {
    return (1ull << (h & 63)) | (1ull << ((h >> 6) & 63)) | (1ull << ((h >> 12) & 63)) | (1ull << ((h >> 18) & 63));
  }

  void RebuildFilter() {
    size_t words = 16;
    while (words * 8 < count_ * 2) words *= 2;  // 64 bits per 8 keys at most, 4 at least
    filter_.assign(words, 0);
    filter_shift_ = 64 - static_cast<int>(std::countr_zero(words));
    for (const Bucket& b : buckets_) {
      if (b.entry != 0) filter_[b.hash >> filter_shift_] |= FilterBits(b.hash);
    }
    erased_ = 0;
  }

  uint64_t seed_ = 0x243F6A8885A308D3ull;
  std::vector<uint64_t> filter_;
  int filter_shift_ = 60;
  size_t erased_ = 0;
  std::vector<Bucket> buckets_;
  std::vector<Entry> entries_;
  std::vector<uint32_t> free_;
  size_t count_ = 0;
};

// A registered length (of prefixes, suffixes, CIDR masks) and how many anchors use it.
struct LenCount {
  uint32_t len;
  uint32_t count;
};

void AddLen(std::vector<LenCount>* lens, uint32_t len) {
  for (LenCount& l : *lens) {
    if (l.len == len) {
      ++l.count;
      return;
    }
  }
  lens->push_back({len, 1});
  std::sort(lens->begin(), lens->end(), [](const LenCount& a, const LenCount& b) { return a.len < b.len; });
}

void DropLen(std::vector<LenCount>* lens, uint32_t len) {
  for (size_t i = 0; i < lens->size(); ++i) {
    if ((*lens)[i].len == len) {
      if (--(*lens)[i].count == 0) lens->erase(lens->begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
  }
}

void DropSlot(std::vector<Slot>* v, Slot s) {
  auto it = std::find(v->begin(), v->end(), s);
  if (it != v->end()) {
    *it = v->back();
    v->pop_back();
  }
}

struct RangeEntry {
  NumericRange range;
  Slot slot;
};

// Numeric-range anchors of one path. Ranges with only a lower bound are kept sorted by
// it (every entry up to the value is a hit), likewise those with only an upper bound;
// two-sided ranges are sorted by their lower bound and scanned from value - widest span.
struct RangeIndex {
  std::vector<RangeEntry> lower_only;  // ascending low
  std::vector<RangeEntry> upper_only;  // descending high
  std::vector<RangeEntry> bounded;     // ascending low
  double max_span = 0;

  bool empty() const { return lower_only.empty() && upper_only.empty() && bounded.empty(); }

  void Add(const NumericRange& r, Slot slot) {
    RangeEntry e{r, slot};
    if (r.has_low && !r.has_high) {
      auto at = std::upper_bound(lower_only.begin(), lower_only.end(), r.low,
                                 [](double v, const RangeEntry& x) { return v < x.range.low; });
      lower_only.insert(at, e);
    } else if (!r.has_low) {
      auto at = std::upper_bound(upper_only.begin(), upper_only.end(), r.high,
                                 [](double v, const RangeEntry& x) { return v > x.range.high; });
      upper_only.insert(at, e);
    } else {
      auto at = std::upper_bound(bounded.begin(), bounded.end(), r.low,
                                 [](double v, const RangeEntry& x) { return v < x.range.low; });
      bounded.insert(at, e);
      max_span = std::max(max_span, r.high - r.low);
    }
  }

  void Remove(const NumericRange& r, Slot slot) {
    auto drop = [&](std::vector<RangeEntry>* v) {
      for (size_t i = 0; i < v->size(); ++i) {
        const RangeEntry& x = (*v)[i];
        if (x.slot == slot && x.range.low == r.low && x.range.high == r.high && x.range.has_low == r.has_low &&
            x.range.has_high == r.has_high) {
          v->erase(v->begin() + static_cast<std::ptrdiff_t>(i));
          return;
        }
      }
    };
    if (r.has_low && !r.has_high) {
      drop(&lower_only);
    } else if (!r.has_low) {
      drop(&upper_only);
    } else {
      drop(&bounded);
      max_span = 0;
      for (const RangeEntry& x : bounded) max_span = std::max(max_span, x.range.high - x.range.low);
    }
  }

  template <class Emit>
  void Query(double v, Emit&& emit) const {
    for (const RangeEntry& e : lower_only) {
      if (e.range.low > v) break;
      if (e.range.Contains(v)) emit(e.slot);
    }
    for (const RangeEntry& e : upper_only) {
      if (e.range.high < v) break;
      if (e.range.Contains(v)) emit(e.slot);
    }
    if (!bounded.empty()) {
      auto it = std::lower_bound(bounded.begin(), bounded.end(), v - max_span,
                                 [](const RangeEntry& x, double lo) { return x.range.low < lo; });
      for (; it != bounded.end() && it->range.low <= v; ++it) {
        if (it->range.Contains(v)) emit(it->slot);
      }
    }
  }
};

// What is indexed at one trie node.
struct NodeIndex {
  uint32_t anchors = 0;  // all anchors here; 0: scalars here need no probing
  uint32_t subtree = 0;  // anchors here and below; 0: the probe does not go here
  uint32_t exact_strings = 0, exact_numbers = 0, literals = 0, ips = 0, folded = 0, exclusions = 0;
  std::vector<LenCount> prefix_lens, suffix_lens, fold_prefix_lens, fold_suffix_lens;
  std::vector<LenCount> cidr4_masks, cidr6_masks;
  RangeIndex ranges;
  std::vector<Slot> any;           // fire on any scalar here
  std::vector<Slot> anything_but;  // fire on any scalar not excluded ('A' keys)
};

// One anchor of a pattern: a condition that a matching event must satisfy somewhere.
struct Anchor {
  enum class Kind : uint8_t { kKey, kRange, kAny, kAnythingBut };
  Kind kind = Kind::kAny;
  int32_t node = 0;
  char tag = 0;                     // kKey
  std::string bytes;                // kKey payload
  uint32_t len = 0;                 // kKey 'p'/'x'/'P'/'X': length; 'c': mask bits
  NumericRange range;               // kRange
  std::vector<std::string> excluded;  // kAnythingBut: 'A' payloads
};

// Finds candidates: shown every scalar of the event that sits on an anchored path, it
// looks the value up and marks the patterns whose anchors fire. ProbeDom walks a parsed
// event by itself, visiting only paths that lead to anchors, so that events without
// candidates never need a view.
class IndexProbe {
 public:
  IndexProbe(const PathTrie& trie, const KeyIndex& keys, const std::vector<NodeIndex>& nodes, Scratch& s)
      : trie_(trie), keys_(keys), nodes_(nodes), s_(s) {}

  void ProbeDom(simdjson::dom::element e, int32_t t) {
    using simdjson::dom::element_type;
    element_type type = e.type();
    if (type == element_type::OBJECT) {
      const NodeIndex& ni = nodes_[static_cast<size_t>(t)];
      if (ni.subtree == ni.anchors) return;  // nothing anchored below
      simdjson::dom::object object;
      if (e.get_object().get(object)) return;
      for (simdjson::dom::key_value_pair field : object) {
        int32_t kid = trie_.Find(t, field.key);
        if (kid >= 0 && static_cast<size_t>(kid) < nodes_.size() && nodes_[static_cast<size_t>(kid)].subtree > 0) {
          ProbeDom(field.value, kid);
        }
      }
    } else if (type == element_type::ARRAY) {
      simdjson::dom::array array;
      if (e.get_array().get(array)) return;
      for (simdjson::dom::element item : array) ProbeDom(item, t);
    } else if (nodes_[static_cast<size_t>(t)].anchors > 0) {
      VNode v;
      DomScalar(e, &v);
      OnScalar(t, v);
    }
  }

  void OnScalar(int32_t trie, const VNode& v) {
    if (static_cast<size_t>(trie) >= nodes_.size()) return;
    const NodeIndex& ni = nodes_[static_cast<size_t>(trie)];
    if (ni.anchors == 0) return;
    switch (v.kind) {
      case VKind::kString:
        OnString(trie, ni, v.str);
        break;
      case VKind::kNumber:
        if (ni.exact_numbers > 0) {
          s_.keybuf.clear();
          AppendNumKey(&s_.keybuf, v.key);
          Lookup(trie, 'n', s_.keybuf);
        }
        if (!ni.ranges.empty() && v.num >= -kFiveBillion && v.num <= kFiveBillion) {
          ni.ranges.Query(v.num, [this](Slot slot) { Emit(slot); });
        }
        break;
      case VKind::kTrue:
        if (ni.literals > 0) Lookup(trie, 'l', "t");
        break;
      case VKind::kFalse:
        if (ni.literals > 0) Lookup(trie, 'l', "f");
        break;
      case VKind::kNull:
        if (ni.literals > 0) Lookup(trie, 'l', "z");
        break;
      default:
        return;
    }
    if (!ni.any.empty() && s_.node_any[static_cast<size_t>(trie)] != s_.epoch) {
      s_.node_any[static_cast<size_t>(trie)] = s_.epoch;
      for (Slot slot : ni.any) Emit(slot);
    }
    if (!ni.anything_but.empty() && s_.node_but[static_cast<size_t>(trie)] != s_.epoch) AnythingBut(trie, ni, v);
  }

 private:
  void Emit(Slot slot) {
    if (s_.mark[slot] != s_.epoch) {
      s_.mark[slot] = s_.epoch;
      s_.candidates.push_back(slot);
    }
  }

  const Postings* Find(int32_t trie, char tag, std::string_view bytes) const {
    return keys_.Find(trie, tag, bytes);
  }

  void Lookup(int32_t trie, char tag, std::string_view bytes) {
    if (const Postings* p = Find(trie, tag, bytes)) {
      for (Slot slot : *p) Emit(slot);
    }
  }

  void OnString(int32_t trie, const NodeIndex& ni, std::string_view str) {
    if (ni.exact_strings > 0) Lookup(trie, 's', str);
    for (const LenCount& l : ni.prefix_lens) {
      if (l.len > str.size()) break;
      Lookup(trie, 'p', str.substr(0, l.len));
    }
    for (const LenCount& l : ni.suffix_lens) {
      if (l.len > str.size()) break;
      Lookup(trie, 'x', str.substr(str.size() - l.len));
    }
    if (ni.folded > 0 || !ni.fold_prefix_lens.empty() || !ni.fold_suffix_lens.empty()) {
      FoldInto(str, &s_.fold);
      std::string_view f = s_.fold;
      if (ni.folded > 0) Lookup(trie, 'e', f);
      for (const LenCount& l : ni.fold_prefix_lens) {
        if (l.len > f.size()) break;
        Lookup(trie, 'P', f.substr(0, l.len));
      }
      for (const LenCount& l : ni.fold_suffix_lens) {
        if (l.len > f.size()) break;
        Lookup(trie, 'X', f.substr(f.size() - l.len));
      }
    }
    if (ni.ips > 0 || !ni.cidr4_masks.empty() || !ni.cidr6_masks.empty()) {
      IpAddr ip;
      if (ParseIp(str, &ip)) {
        if (ni.ips > 0) {
          s_.keybuf.assign(1, static_cast<char>(ip.family));
          s_.keybuf.append(reinterpret_cast<const char*>(ip.bytes), ip.size());
          Lookup(trie, 'i', s_.keybuf);
        }
        for (const LenCount& l : ip.family == 4 ? ni.cidr4_masks : ni.cidr6_masks) {
          uint8_t masked[16];
          MaskAddress(ip, static_cast<int>(l.len), masked);
          s_.keybuf.assign(1, static_cast<char>(ip.family));
          s_.keybuf.push_back(static_cast<char>(l.len));
          s_.keybuf.append(reinterpret_cast<const char*>(masked), ip.size());
          Lookup(trie, 'c', s_.keybuf);
        }
      }
    }
  }

  void AnythingBut(int32_t trie, const NodeIndex& ni, const VNode& v) {
    const Postings* excluded = nullptr;
    if (ni.exclusions > 0 && (v.kind == VKind::kString || v.kind == VKind::kNumber)) {
      s_.keybuf.clear();
      if (v.kind == VKind::kString) {
        s_.keybuf.push_back('s');
        s_.keybuf.append(v.str);
      } else {
        s_.keybuf.push_back('n');
        AppendNumKey(&s_.keybuf, v.key);
      }
      excluded = Find(trie, 'A', s_.keybuf);
    }
    if (excluded != nullptr && excluded->size() == ni.anything_but.size()) return;  // all excluded
    if (excluded == nullptr) {
      s_.node_but[static_cast<size_t>(trie)] = s_.epoch;
      for (Slot slot : ni.anything_but) Emit(slot);
      return;
    }
    uint32_t epoch = s_.NextExclEpoch();
    for (Slot slot : *excluded) s_.excl_mark[slot] = epoch;
    for (Slot slot : ni.anything_but) {
      if (s_.excl_mark[slot] != epoch) Emit(slot);
    }
  }

  const PathTrie& trie_;
  const KeyIndex& keys_;
  const std::vector<NodeIndex>& nodes_;
  Scratch& s_;
};

inline int32_t ViewBuilder::AddScalar(VKind kind, int32_t trie, std::string_view str, double num, NumKey key) {
  int32_t id = NewNode(kind, trie);
  VNode& n = view_[static_cast<size_t>(id)];
  n.str = str;
  n.num = num;
  n.key = key;
  if (probe_ != nullptr) probe_->OnScalar(trie, n);
  return id;
}

// Anchor choice. Each option is costed by how many patterns already sit on the same key
// (a key many rules share, like a common "source", makes a poor anchor) plus a per-kind
// base reflecting how often such conditions fire.
struct AnchorPlan {
  bool ok = false;
  uint64_t cost = 0;
  std::vector<Anchor> anchors;
};

class AnchorPlanner {
 public:
  AnchorPlanner(const PathTrie& trie, const KeyIndex& keys, const std::vector<NodeIndex>& nodes)
      : trie_(trie), keys_(keys), nodes_(nodes) {}

  AnchorPlan Plan(const CompiledPattern& p) { return PlanObject(p, 0); }

 private:
  size_t KeyLoad(int32_t node, char tag, std::string_view bytes) const {
    const Postings* p = keys_.Find(node, tag, bytes);
    return p == nullptr ? 0 : p->size();
  }
  const NodeIndex* Node(int32_t node) const {
    return static_cast<size_t>(node) < nodes_.size() ? &nodes_[static_cast<size_t>(node)] : nullptr;
  }

  AnchorPlan PlanObject(const CompiledPattern& p, int32_t obj) {
    AnchorPlan best;
    const PObj& o = p.objs[static_cast<size_t>(obj)];
    auto consider = [&best](AnchorPlan&& plan) {
      if (plan.ok && (!best.ok || plan.cost < best.cost)) best = std::move(plan);
    };
    for (const PField& f : o.fields) {
      consider(f.leaf >= 0 ? PlanLeaf(p.leaves[static_cast<size_t>(f.leaf)], f.trie) : PlanObject(p, f.obj));
    }
    for (const std::vector<int32_t>& branches : o.ors) {
      AnchorPlan all;
      all.ok = true;
      for (int32_t b : branches) {
        AnchorPlan one = PlanObject(p, b);
        if (!one.ok) {
          all.ok = false;
          break;
        }
        all.cost += one.cost;
        for (Anchor& a : one.anchors) all.anchors.push_back(std::move(a));
      }
      consider(std::move(all));
    }
    return best;
  }

  AnchorPlan PlanLeaf(const Leaf& leaf, int32_t node) {
    AnchorPlan plan;
    plan.ok = true;
    for (const Cond& c : leaf.conds) {
      if (!PlanCond(c, node, &plan)) {
        plan.ok = false;
        plan.anchors.clear();
        return plan;
      }
    }
    return plan;
  }

  void AddKey(AnchorPlan* plan, int32_t node, char tag, std::string bytes, uint32_t len, uint64_t base) {
    Anchor a;
    a.kind = Anchor::Kind::kKey;
    a.node = node;
    a.tag = tag;
    a.len = len;
    plan->cost += base + KeyLoad(node, tag, bytes) + PathPenalty(node);
    a.bytes = std::move(bytes);
    plan->anchors.push_back(std::move(a));
  }

  void AddAny(AnchorPlan* plan, int32_t node) {
    Anchor a;
    a.kind = Anchor::Kind::kAny;
    a.node = node;
    const NodeIndex* ni = Node(node);
    plan->cost += 1000 + (ni ? ni->any.size() : 0);
    plan->anchors.push_back(std::move(a));
  }

  bool PlanCond(const Cond& c, int32_t node, AnchorPlan* plan) {
    switch (c.kind) {
      case CondKind::kExactString:
        AddKey(plan, node, 's', c.str, 0, 1);
        return true;
      case CondKind::kExactIp: {
        std::string b(1, static_cast<char>(c.ip.family));
        b.append(reinterpret_cast<const char*>(c.ip.bytes), c.ip.size());
        AddKey(plan, node, 'i', std::move(b), 0, 1);
        return true;
      }
      case CondKind::kExactNumber: {
        std::string b;
        AppendNumKey(&b, c.num);
        AddKey(plan, node, 'n', std::move(b), 0, 1);
        return true;
      }
      case CondKind::kExactTrue:
        AddKey(plan, node, 'l', "t", 0, 16);  // three values: a poor anchor
        return true;
      case CondKind::kExactFalse:
        AddKey(plan, node, 'l', "f", 0, 16);  // three values: a poor anchor
        return true;
      case CondKind::kExactNull:
        AddKey(plan, node, 'l', "z", 0, 16);  // three values: a poor anchor
        return true;
      case CondKind::kPrefix:
        AddKey(plan, node, 'p', c.str, static_cast<uint32_t>(c.str.size()), 4);
        return true;
      case CondKind::kSuffix:
        AddKey(plan, node, 'x', c.str, static_cast<uint32_t>(c.str.size()), 4);
        return true;
      case CondKind::kPrefixFold:
        AddKey(plan, node, 'P', c.str, static_cast<uint32_t>(c.str.size()), 6);
        return true;
      case CondKind::kSuffixFold:
        AddKey(plan, node, 'X', c.str, static_cast<uint32_t>(c.str.size()), 6);
        return true;
      case CondKind::kEqualsFold:
        AddKey(plan, node, 'e', c.str, 0, 3);
        return true;
      case CondKind::kWildcard: {
        // Anchor on the literal text before the first star (or after the last).
        // Whichever is less loaded: rules often share their leading text (an ARN's
        // service and region), so spreading them over their endings keeps few
        // candidates per event.
        const std::vector<std::string>& seg = c.wilds[0].segments;
        if (seg.size() == 1) {
          AddKey(plan, node, 's', seg[0], 0, 1);
        } else if (!seg.front().empty() &&
                   (seg.back().empty() || KeyLoad(node, 'p', seg.front()) <= KeyLoad(node, 'x', seg.back()))) {
          AddKey(plan, node, 'p', seg.front(), static_cast<uint32_t>(seg.front().size()), 8);
        } else if (!seg.back().empty()) {
          AddKey(plan, node, 'x', seg.back(), static_cast<uint32_t>(seg.back().size()), 8);
        } else {
          AddAny(plan, node);
        }
        return true;
      }
      case CondKind::kNumeric: {
        if (c.range.has_low && c.range.has_high && c.range.low == c.range.high && !c.range.low_open &&
            !c.range.high_open) {
          std::string b;
          AppendNumKey(&b, NumKeyFromDouble(c.range.low));
          AddKey(plan, node, 'n', std::move(b), 0, 1);
          return true;
        }
        Anchor a;
        a.kind = Anchor::Kind::kRange;
        a.node = node;
        a.range = c.range;
        const NodeIndex* ni = Node(node);
        size_t load = ni ? ni->ranges.lower_only.size() + ni->ranges.upper_only.size() + ni->ranges.bounded.size() : 0;
        plan->cost += 16 + load / 4;
        plan->anchors.push_back(std::move(a));
        return true;
      }
      case CondKind::kCidr: {
        std::string b(1, static_cast<char>(c.cidr.low.family));
        b.push_back(static_cast<char>(c.cidr.mask_bits));
        uint8_t masked[16];
        MaskAddress(c.cidr.low, c.cidr.mask_bits, masked);
        b.append(reinterpret_cast<const char*>(masked), c.cidr.low.size());
        AddKey(plan, node, 'c', std::move(b), static_cast<uint32_t>(c.cidr.mask_bits), 6);
        return true;
      }
      case CondKind::kExists:
        AddAny(plan, node);
        return true;
      case CondKind::kNotExists:
        return false;
      case CondKind::kButStrings:
      case CondKind::kButNumbers: {
        Anchor a;
        a.kind = Anchor::Kind::kAnythingBut;
        a.node = node;
        if (c.kind == CondKind::kButStrings) {
          for (const std::string& s : c.strs) a.excluded.push_back(StrCat("s", s));
        } else {
          for (const NumKey& k : c.nums) {
            std::string b("n");
            AppendNumKey(&b, k);
            a.excluded.push_back(std::move(b));
          }
        }
        const NodeIndex* ni = Node(node);
        plan->cost += 500 + (ni ? ni->anything_but.size() : 0);
        plan->anchors.push_back(std::move(a));
        return true;
      }
      case CondKind::kButPrefix:
      case CondKind::kButSuffix:
      case CondKind::kButFold:
      case CondKind::kButWildcard:
        AddAny(plan, node);
        return true;
    }
    return false;
  }

  // EventBridge's envelope fields take few values (every rule of a service names the
  // same source), so a pattern anchored there becomes a candidate for much of the
  // traffic; other fields are preferred unless they are far more loaded.
  uint64_t PathPenalty(int32_t node) const {
    static constexpr std::string_view kEnvelope[] = {"source", "detail-type", "account", "region", "version"};
    if (node <= 0 || trie_.Parent(node) != 0) return 0;
    const std::string& name = trie_.Name(node);
    return std::find(std::begin(kEnvelope), std::end(kEnvelope), name) != std::end(kEnvelope) ? 16 : 0;
  }

  const PathTrie& trie_;
  const KeyIndex& keys_;
  const std::vector<NodeIndex>& nodes_;
};

}  // namespace

// ---------------------------------------------------------------------------------------
// PatternSet

struct PatternSet::Impl {
  struct Entry {
    uint64_t id = 0;
    CompiledPattern pattern;
    std::vector<Anchor> anchors;
    bool always = false;  // no anchor: verified for every event
  };

  PatternLimits limits;
  PathTrie trie;
  std::vector<std::unique_ptr<Entry>> slots;
  std::vector<Slot> free_slots;
  std::unordered_map<uint64_t, Slot> by_id;
  std::vector<Slot> always;
  KeyIndex keys;
  std::vector<NodeIndex> nodes;  // by trie node id

  NodeIndex& Node(int32_t id) {
    if (nodes.size() < trie.capacity()) nodes.resize(trie.capacity());
    return nodes[static_cast<size_t>(id)];
  }

  static std::vector<LenCount>* LensFor(NodeIndex& ni, char tag) {
    switch (tag) {
      case 'p': return &ni.prefix_lens;
      case 'x': return &ni.suffix_lens;
      case 'P': return &ni.fold_prefix_lens;
      case 'X': return &ni.fold_suffix_lens;
      default: return nullptr;
    }
  }

  static uint32_t* CounterFor(NodeIndex& ni, char tag) {
    switch (tag) {
      case 's': return &ni.exact_strings;
      case 'n': return &ni.exact_numbers;
      case 'l': return &ni.literals;
      case 'i': return &ni.ips;
      case 'e': return &ni.folded;
      default: return nullptr;
    }
  }

  void Register(const Anchor& a, Slot slot) {
    NodeIndex& ni = Node(a.node);
    ++ni.anchors;
    for (int32_t t = a.node; t >= 0; t = trie.Parent(t)) ++nodes[static_cast<size_t>(t)].subtree;
    switch (a.kind) {
      case Anchor::Kind::kKey: {
        keys.Insert(a.node, a.tag, a.bytes).push_back(slot);
        if (std::vector<LenCount>* lens = LensFor(ni, a.tag)) AddLen(lens, a.len);
        if (uint32_t* counter = CounterFor(ni, a.tag)) ++*counter;
        if (a.tag == 'c') AddLen(a.bytes[0] == 4 ? &ni.cidr4_masks : &ni.cidr6_masks, a.len);
        break;
      }
      case Anchor::Kind::kRange:
        ni.ranges.Add(a.range, slot);
        break;
      case Anchor::Kind::kAny:
        ni.any.push_back(slot);
        break;
      case Anchor::Kind::kAnythingBut:
        ni.anything_but.push_back(slot);
        for (const std::string& b : a.excluded) {
          keys.Insert(a.node, 'A', b).push_back(slot);
          ++ni.exclusions;
        }
        break;
    }
  }

  void DropKey(int32_t node, char tag, const std::string& bytes, Slot slot) {
    Postings* postings = keys.FindMutable(node, tag, bytes);
    if (postings == nullptr) return;
    DropSlot(postings, slot);
    if (postings->empty()) keys.Erase(node, tag, bytes);
  }

  void Unregister(const Anchor& a, Slot slot) {
    NodeIndex& ni = Node(a.node);
    --ni.anchors;
    for (int32_t t = a.node; t >= 0; t = trie.Parent(t)) --nodes[static_cast<size_t>(t)].subtree;
    switch (a.kind) {
      case Anchor::Kind::kKey: {
        DropKey(a.node, a.tag, a.bytes, slot);
        if (std::vector<LenCount>* lens = LensFor(ni, a.tag)) DropLen(lens, a.len);
        if (uint32_t* counter = CounterFor(ni, a.tag)) --*counter;
        if (a.tag == 'c') DropLen(a.bytes[0] == 4 ? &ni.cidr4_masks : &ni.cidr6_masks, a.len);
        break;
      }
      case Anchor::Kind::kRange:
        ni.ranges.Remove(a.range, slot);
        break;
      case Anchor::Kind::kAny:
        DropSlot(&ni.any, slot);
        break;
      case Anchor::Kind::kAnythingBut:
        DropSlot(&ni.anything_but, slot);
        for (const std::string& b : a.excluded) {
          DropKey(a.node, 'A', b, slot);
          --ni.exclusions;
        }
        break;
    }
  }

  void RemoveSlot(Slot slot) {
    std::unique_ptr<Entry>& e = slots[slot];
    for (const Anchor& a : e->anchors) Unregister(a, slot);
    if (e->always) DropSlot(&always, slot);
    for (auto it = e->pattern.trie_refs.rbegin(); it != e->pattern.trie_refs.rend(); ++it) trie.Release(*it);
    by_id.erase(e->id);
    e.reset();
    free_slots.push_back(slot);
  }

  absl::Status Add(uint64_t id, std::string_view text) {
    auto entry = std::make_unique<Entry>();
    entry->id = id;
    RETURN_IF_ERROR(CompilePattern(text, limits, &trie, &entry->pattern));
    // The old pattern goes only once the new one compiled. Its trie references go after
    // the new pattern took its own, so shared paths keep their node ids.
    auto old = by_id.find(id);
    if (old != by_id.end()) RemoveSlot(old->second);
    Node(0);  // size the node index to the trie
    AnchorPlan plan = AnchorPlanner(trie, keys, nodes).Plan(entry->pattern);
    Slot slot;
    if (!free_slots.empty()) {
      slot = free_slots.back();
      free_slots.pop_back();
    } else {
      slot = static_cast<Slot>(slots.size());
      slots.emplace_back();
    }
    if (plan.ok) {
      entry->anchors = std::move(plan.anchors);
      for (const Anchor& a : entry->anchors) Register(a, slot);
    } else {
      entry->always = true;
      always.push_back(slot);
    }
    slots[slot] = std::move(entry);
    by_id[id] = slot;
    return absl::OkStatus();
  }

  void Collect(int32_t root, Scratch& s, std::vector<uint64_t>* out) const {
    for (Slot slot : always) {
      if (s.mark[slot] != s.epoch) {
        s.mark[slot] = s.epoch;
        s.candidates.push_back(slot);
      }
    }
    Verifier verifier(s.view, &s.fold2);
    for (Slot slot : s.candidates) {
      const Entry& e = *slots[slot];
      if (verifier.Matches(e.pattern, root)) out->push_back(e.id);
    }
  }

  absl::Status Match(std::string_view event, std::vector<uint64_t>* out) const {
    Scratch& s = ThreadScratch();
    s.Begin(slots.size(), nodes.size());
    simdjson::dom::element root;
    JValue fallback;
    bool used_fallback = false;
    RETURN_IF_ERROR(ParseEvent(event, s, &root, &fallback, &used_fallback));
    IndexProbe probe(trie, keys, nodes, s);
    if (used_fallback) {
      ViewBuilder builder(trie, &s.view, &probe);
      Collect(builder.FromJson(fallback, 0), s, out);
      return absl::OkStatus();
    }
    // Probe first; the view is built only for events that have candidates.
    if (!nodes.empty()) probe.ProbeDom(root, 0);
    if (s.candidates.empty() && always.empty()) return absl::OkStatus();
    // The view needs only the paths the candidates use.
    ViewBuilder builder(trie, &s.view, nullptr);
    if (always.empty()) {
      for (Slot slot : s.candidates) {
        for (int32_t node : slots[slot]->pattern.trie_refs) s.node_need[static_cast<size_t>(node)] = s.epoch;
      }
      builder.Restrict(&s.node_need, s.epoch);
    }
    Collect(builder.FromDom(root, 0), s, out);
    return absl::OkStatus();
  }

  void MatchFields(const std::vector<FlatField>& fields, std::vector<uint64_t>* out) const {
    Scratch& s = ThreadScratch();
    s.Begin(slots.size(), nodes.size());
    IndexProbe probe(trie, keys, nodes, s);
    ViewBuilder builder(trie, &s.view, &probe);
    int32_t vroot = builder.FromFields(fields);
    Collect(vroot, s, out);
  }
};

PatternSet::PatternSet() : PatternSet(PatternLimits{}) {}
PatternSet::PatternSet(PatternLimits limits) : impl_(std::make_unique<Impl>()) { impl_->limits = limits; }
PatternSet::~PatternSet() = default;
PatternSet::PatternSet(PatternSet&&) noexcept = default;
PatternSet& PatternSet::operator=(PatternSet&&) noexcept = default;

absl::Status PatternSet::Add(uint64_t id, std::string_view pattern_json) { return impl_->Add(id, pattern_json); }

void PatternSet::Remove(uint64_t id) {
  auto it = impl_->by_id.find(id);
  if (it != impl_->by_id.end()) impl_->RemoveSlot(it->second);
}

size_t PatternSet::size() const { return impl_->by_id.size(); }

absl::Status PatternSet::Match(std::string_view event_json, std::vector<uint64_t>* out) const {
  return impl_->Match(event_json, out);
}

void PatternSet::MatchFields(const std::vector<FlatField>& fields, std::vector<uint64_t>* out) const {
  impl_->MatchFields(fields, out);
}

// ---------------------------------------------------------------------------------------
// Single patterns

absl::Status ValidatePattern(std::string_view pattern_json) { return ValidatePattern(pattern_json, PatternLimits{}); }

absl::Status ValidatePattern(std::string_view pattern_json, const PatternLimits& limits) {
  CompiledPattern pattern;
  return CompilePattern(pattern_json, limits, nullptr, &pattern);
}

absl::StatusOr<bool> MatchesPattern(std::string_view pattern_json, std::string_view event_json) {
  PathTrie trie;
  CompiledPattern pattern;
  RETURN_IF_ERROR(CompilePattern(pattern_json, PatternLimits{}, &trie, &pattern));
  Scratch& s = ThreadScratch();
  s.Begin(0, 0);
  simdjson::dom::element root;
  JValue fallback;
  bool used_fallback = false;
  RETURN_IF_ERROR(ParseEvent(event_json, s, &root, &fallback, &used_fallback));
  ViewBuilder builder(trie, &s.view, nullptr);
  int32_t vroot = used_fallback ? builder.FromJson(fallback, 0) : builder.FromDom(root, 0);
  return Verifier(s.view, &s.fold2).Matches(pattern, vroot);
}

}  // namespace sluice::events
