#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "base/strings.h"
#include "nlohmann/json.hpp"

// Private to events/: AWS's model constraints on request members (lengths in characters,
// integer ranges), with AWS's validation wording. Errors are InvalidArgument, which the
// events APIs answer as ValidationException.
namespace sluice::events {

// A model length is in characters: UTF-8 continuation bytes do not count.
inline size_t Chars(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

inline absl::Status LengthError(const std::string& where, const std::string& value, size_t min, size_t max) {
  std::string shown = value.size() > 64 ? value.substr(0, 64) + "..." : value;
  return absl::InvalidArgumentError(StrCat("1 validation error detected: Value '", shown, "' at '", where,
                        "' failed to satisfy constraint: Member must have length ",
                        Chars(value) < min ? StrCat("greater than or equal to ", min) : StrCat("less than or equal to ", max)));
}

// `in[key]`, when present, must be a string of min..max characters.
inline absl::Status CheckLength(const nlohmann::json& in, const char* key, const std::string& where, size_t min, size_t max) {
  if (!in.is_object() || !in.contains(key)) return absl::OkStatus();
  if (!in[key].is_string()) return absl::InvalidArgumentError(StrCat("1 validation error detected: Value at '", where, "' must be a string"));
  const std::string& v = in[key].get_ref<const std::string&>();
  if (Chars(v) < min || Chars(v) > max) return LengthError(where, v, min, max);
  return absl::OkStatus();
}

// `in[key]`, when present, must be an integer in min..max.
inline absl::Status CheckRange(const nlohmann::json& in, const char* key, const std::string& where, int64_t min, int64_t max) {
  if (!in.is_object() || !in.contains(key)) return absl::OkStatus();
  if (!in[key].is_number_integer()) return absl::InvalidArgumentError(StrCat("1 validation error detected: Value at '", where, "' must be an integer"));
  int64_t v = in[key].get<int64_t>();
  if (v < min || v > max) {
    return absl::InvalidArgumentError(StrCat("1 validation error detected: Value '", v, "' at '", where,
                          "' failed to satisfy constraint: Member must have value ",
                          v < min ? StrCat("greater than or equal to ", min) : StrCat("less than or equal to ", max)));
  }
  return absl::OkStatus();
}

}  // namespace sluice::events
