// libFuzzer target: the aws-chunked decoder never crashes, loops or over-reads, whatever
// the bytes and however they are split.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/aws_chunked.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  sluice::SigV4Auth auth;
  auth.payload_mode = data[0] & 1 ? sluice::PayloadMode::kStreamingSigned : sluice::PayloadMode::kStreamingUnsignedTrailer;
  auth.signing_key = "key";
  auth.signature = std::string(64, '0');
  size_t step = 1 + data[1] % 64;
  std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);
  sluice::AwsChunkedDecoder decoder(auth);
  uint64_t total = 0;
  for (size_t i = 0; i < body.size(); i += step) {
    auto err = decoder.Feed(body.substr(i, step), [&](std::string_view s) {
      total += s.size();
      return true;
    });
    if (err) return 0;
  }
  (void)decoder.Finish();
  if (total != decoder.decoded_size()) __builtin_trap();
  return 0;
}
