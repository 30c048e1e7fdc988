// libFuzzer target: request parsing and signature verification (SigV4 and SigV2) on
// arbitrary targets and headers never crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/strings.h"
#include "http/sigv2.h"
#include "http/sigv4.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto lines = sluice::Split(in, '\n');
  sluice::HttpRequest req;
  req.method = "GET";
  std::string target = lines.empty() ? "/" : std::string(lines[0]);
  auto q = target.find('?');
  req.path = target.substr(0, q);
  if (q != std::string::npos) req.raw_query = target.substr(q + 1);
  req.query = sluice::ParseQuery(req.raw_query);
  for (size_t i = 1; i < lines.size(); ++i) {
    auto colon = lines[i].find(':');
    if (colon == std::string_view::npos) continue;
    req.headers.emplace_back(sluice::AsciiLower(lines[i].substr(0, colon)), std::string(lines[i].substr(colon + 1)));
  }
  sluice::AccessKeys keys = {{"test", "test"}};
  sluice::SigV4Auth auth;
  std::string sha(64, 'a');
  (void)sluice::VerifySigV4(req, keys, absl::Now(), true, nullptr, &auth);
  (void)sluice::VerifySigV4(req, keys, absl::Now(), false, &sha, &auth);
  if (sluice::HasSigV2(req)) (void)sluice::VerifySigV2(req, keys, absl::Now(), &auth);
  (void)sluice::FindCredentialScope(req);
  return 0;
}
