// libFuzzer target: JSON-protocol request decoding (what MakeJsonService does with a body
// before a service sees it) never crashes, and whatever it accepts is a JSON object within
// the nesting bound that survives a dump/parse round trip.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/json.h"
#include "http/json_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  sluice::JsonParseError error = sluice::JsonParseError::kNone;
  nlohmann::json input = sluice::ParseJson(body, &error);
  if (sluice::JsonBodyError(input, error)) return 0;
  if (!input.is_object()) __builtin_trap();
  std::string text = input.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  nlohmann::json again = sluice::ParseJson(text, &error);
  if (error != sluice::JsonParseError::kNone) __builtin_trap();
  (void)sluice::JsonString(again, "Name");
  return 0;
}
