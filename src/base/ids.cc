#include "base/ids.h"

#include <cstdint>
#include <random>

namespace sluice {
namespace {

std::mt19937_64& Rng() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return rng;
}

}  // namespace

std::string RandomHex(size_t chars) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(chars);
  while (out.size() < chars) {
    uint64_t v = Rng()();
    for (int i = 0; i < 16 && out.size() < chars; ++i, v >>= 4) out.push_back(kDigits[v & 15]);
  }
  return out;
}

std::string NewUuid() {
  std::string h = RandomHex(32);
  h[12] = '4';                                               // version 4
  h[16] = "89ab"[std::string("0123456789abcdef").find(h[16]) & 3];  // RFC 4122 variant
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

}  // namespace sluice
