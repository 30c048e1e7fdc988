#include "base/json.h"

namespace sluice {

bool JsonDepthWithin(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) return false;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return true;
}

nlohmann::json ParseJson(std::string_view text, JsonParseError* error, int max_depth) {
  if (!JsonDepthWithin(text, max_depth)) {
    if (error) *error = JsonParseError::kTooDeep;
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (error) *error = j.is_discarded() ? JsonParseError::kSyntax : JsonParseError::kNone;
  return j;
}

nlohmann::json ParseJson(std::string_view text, int max_depth) { return ParseJson(text, nullptr, max_depth); }

}  // namespace sluice
