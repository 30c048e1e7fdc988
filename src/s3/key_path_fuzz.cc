// libFuzzer target: every key segment maps to a safe file name ('/'-free, never "." or
// "..", at most 255 bytes) that decodes back to the segment unless it had to be hashed.
#include <cstddef>
#include <cstdint>
#include <string>

#include "s3/key_path.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  int variant = data[0] % 4;
  std::string seg(reinterpret_cast<const char*>(data + 1), size - 1);
  if (seg.find('/') != std::string::npos) return 0;
  std::string name = sluice::SegmentName(seg, variant);
  if (name.empty() || name == "." || name == ".." || name.size() > 255 || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos) {
    __builtin_trap();
  }
  if (!name.starts_with("%#") && sluice::DecodeSegmentName(name) != seg) __builtin_trap();
  return 0;
}
