#include "base/time.h"

#include "base/strings.h"

namespace sluice {

std::string FormatAmzDate(absl::Time t) {
  return absl::FormatTime("%Y%m%dT%H%M%SZ", t, absl::UTCTimeZone());
}

std::string FormatIso8601(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

std::string FormatHttpDate(absl::Time t) {
  return absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", t, absl::UTCTimeZone());
}

std::optional<absl::Time> ParseAmzDate(std::string_view s) {
  // Fixed width: absl's %Y would swallow the month and day digits.
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  int v[6];
  static constexpr int kPos[6][2] = {{0, 4}, {4, 2}, {6, 2}, {9, 2}, {11, 2}, {13, 2}};
  for (int i = 0; i < 6; ++i) {
    if (!ParseNumber(s.substr(kPos[i][0], kPos[i][1]), &v[i])) return std::nullopt;
  }
  if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60) {
    return std::nullopt;
  }
  return absl::FromCivil(absl::CivilSecond(v[0], v[1], v[2], v[3], v[4], v[5]), absl::UTCTimeZone());
}

std::optional<absl::Time> ParseHttpDate(std::string_view s) {
  std::string in(StripWhitespace(s));
  static constexpr const char* kFormats[] = {
      "%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y",
      "%Y-%m-%dT%H:%M:%E*SZ",      "%Y-%m-%dT%H:%M:%E*S%Ez",
  };
  if (auto t = ParseAmzDate(in)) return t;
  for (const char* f : kFormats) {
    absl::Time t;
    std::string err;
    if (absl::ParseTime(f, in, absl::UTCTimeZone(), &t, &err)) return t;
  }
  return std::nullopt;
}

}  // namespace sluice
