#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"

// Time formats that AWS APIs exchange. All in UTC.
namespace sluice {

// 20250801T120000Z (SigV4's X-Amz-Date).
std::string FormatAmzDate(absl::Time t);
// 2025-08-01T12:00:00.000Z (S3 XML timestamps).
std::string FormatIso8601(absl::Time t);
// Fri, 01 Aug 2025 12:00:00 GMT (HTTP Date, Last-Modified).
std::string FormatHttpDate(absl::Time t);
// Seconds since the epoch, to the millisecond (the JSON protocols' timestamps).
inline double EpochSeconds(absl::Time t) { return static_cast<double>(absl::ToUnixMillis(t)) / 1000.0; }

std::optional<absl::Time> ParseAmzDate(std::string_view s);
// Accepts RFC 1123 (and the RFC 850 / asctime forms HTTP allows) and ISO 8601.
std::optional<absl::Time> ParseHttpDate(std::string_view s);

}  // namespace sluice
