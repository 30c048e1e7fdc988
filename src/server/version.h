#pragma once

namespace sluice {

inline constexpr const char* kSluiceVersion = "0.1.0";

}  // namespace sluice
