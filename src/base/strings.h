#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/strings/string_view.h"

// String vocabulary over std::string_view. (Debian's Abseil is built with its own
// absl::string_view, distinct from std::string_view, so Sluice uses these instead of
// absl's string functions.)
namespace sluice {

namespace strings_internal {
inline void AppendPiece(std::string& out, std::string_view s) { out.append(s); }
inline void AppendPiece(std::string& out, const char* s) { out.append(s); }
inline void AppendPiece(std::string& out, const std::string& s) { out.append(s); }
inline void AppendPiece(std::string& out, char c) { out.push_back(c); }
inline void AppendPiece(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
template <class T, std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, char> &&
                                        !std::is_same_v<T, bool>, int> = 0>
void AppendPiece(std::string& out, T v) {
  out.append(std::to_string(v));
}
}  // namespace strings_internal

template <class... Args>
void StrAppend(std::string* out, const Args&... args) {
  (strings_internal::AppendPiece(*out, args), ...);
}

template <class... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  StrAppend(&out, args...);
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep, bool skip_empty = false);
template <class Container>
std::string Join(const Container& parts, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const auto& p : parts) {
    if (!first) out.append(sep);
    first = false;
    out.append(std::string_view(p));
  }
  return out;
}
std::string_view StripWhitespace(std::string_view s);
std::string AsciiLower(std::string_view s);
std::string AsciiUpper(std::string_view s);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// Removes `prefix` from the front of *s when it is there.
bool ConsumePrefix(std::string_view* s, std::string_view prefix);
bool IsHexDigit(char c);

// The whole of `s` as a number in `base`; false on anything else (sign, spaces, overflow).
template <class T>
bool ParseNumber(std::string_view s, T* out, int base = 10) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, base);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace sluice
