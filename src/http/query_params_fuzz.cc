// libFuzzer target: query-protocol parameter decoding (form bodies and query strings, then
// the list / structure / map readers services use) never crashes or loops.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/message.h"
#include "http/query_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  sluice::QueryParams params(sluice::ParseForm(text));
  for (const auto& [name, value] : sluice::ParseQuery(text)) (void)params.Find(name);
  (void)params.Get("Action");
  (void)params.List("Attribute", "");
  (void)params.List("AttributeName");
  (void)params.Map("Attributes");
  (void)params.Map("MessageAttribute", "", "Name", "Value.StringValue");
  for (const auto& prefix : params.StructPrefixes("Entries")) (void)params.Get(prefix + ".Id");
  (void)sluice::UriDecode(text, true);
  (void)sluice::UriEncode(text, false);
  return 0;
}
