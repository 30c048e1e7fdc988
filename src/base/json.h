#pragma once

#include <cstddef>
#include <string_view>

#include "nlohmann/json.hpp"

// The one way Sluice parses JSON text into a mutable document. Every JSON text that
// reaches Sluice (request bodies, strings inside them that hold JSON, stored rows) is
// parsed here, so nesting is bounded everywhere: nlohmann::json's destructor, dump() and
// Sluice's own tree walks recurse, and 100,000 '[' would overflow a worker's stack.
namespace sluice {

// Deeper documents are refused. AWS documents no general limit; 128 levels is far beyond
// real payloads (DynamoDB allows 32) and far below what any recursive walk can overflow.
inline constexpr int kMaxJsonDepth = 128;
// Documents Sluice stored itself (SQLite rows, checkpoints, history) wrap user JSON that was
// bounded on the way in, and state machine definitions nest states: a larger, still
// stack-safe bound.
inline constexpr int kMaxStoredJsonDepth = 1024;

// True when the deepest nesting of arrays/objects in `text` is at most `max_depth`
// (strings and escapes are skipped; the text need not be valid JSON).
bool JsonDepthWithin(std::string_view text, int max_depth = kMaxJsonDepth);

// Parses `text`; a value that is_discarded() when the text is not JSON or nests deeper
// than `max_depth`. Never throws. Drop-in for nlohmann::json::parse(text, nullptr, false).
nlohmann::json ParseJson(std::string_view text, int max_depth = kMaxJsonDepth);

// Same, distinguishing the two failures for error messages.
enum class JsonParseError { kNone, kSyntax, kTooDeep };
nlohmann::json ParseJson(std::string_view text, JsonParseError* error, int max_depth = kMaxJsonDepth);

}  // namespace sluice
