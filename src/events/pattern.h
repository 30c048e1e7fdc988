#pragma once

// The EventBridge event-pattern engine: validation of event patterns, matching of one
// event against one pattern (TestEventPattern), and a PatternSet that matches each event
// against all the rules of an event bus at once. SNS filter policies reuse it.
//
// Semantics (AWS "Amazon EventBridge event patterns" and "Comparison operators"):
//   - A pattern is a JSON object. Nested objects are paths into the event; every other
//     field holds an array of conditions, any of which may match (OR). All fields must
//     match (AND). `"$or": [{...}, {...}]` at any object level ORs whole sub-patterns.
//   - Conditions: exact values (strings, numbers compared as numbers, true, false, null;
//     a string that is an IP address literal also matches other spellings of that
//     address), `prefix`, `suffix` (both also as `{"equals-ignore-case": s}`),
//     `equals-ignore-case`, `wildcard`, `anything-but` (a value, a list of strings or of
//     numbers, or `{"prefix"|"suffix"|"wildcard"|"equals-ignore-case": ...}`),
//     `numeric`, `exists`, `cidr`.
//   - When the event holds an array, a condition matches if any element matches. A
//     sub-pattern over an array of objects must be satisfied by one element ("array
//     consistency", as EventBridge's rulesForJSONEvent).
//   - A field missing from the event (or holding an object, or an empty array) matches
//     only `{"exists": false}`; `{"exists": true}` matches any value, null included.
//   - `anything-but` matches every value its operand does not: other types and null too,
//     but never a missing field.
//   - Numbers match by value (300 = 3.0e2 = 300.0); `numeric` takes operands within
//     ±5e9 and matches only JSON numbers within that range. `cidr` follows AWS: masks
//     below /32 (/128), and the range starts at the address as written.
//   - Duplicate keys in a pattern: the last one counts (all must be valid).
// Errors are absl::InvalidArgument; pattern errors carry AWS's InvalidEventPatternException
// wording: `Event pattern is not valid. Reason: <reason>\n at [Source: (String)"..."; line: L,
// column: C]`. Nothing here throws.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace sluice::events {

// Limits applied to a pattern's text before anything else. The defaults are
// EventBridge's: the PutRule API's hard maximum of 4096 characters (the per-account quota,
// 2048 by default and adjustable up to 4096, is the API adapter's business), and Jackson's
// default nesting limit. SNS filter policies pass larger limits.
struct PatternLimits {
  size_t max_length = 4096;  // bytes; 0: unlimited
  int max_depth = 1000;      // nesting of objects and arrays
};

// Validates an EventBridge event pattern against `limits` (EventBridge's by default).
// InvalidArgument with AWS's reason wording for a bad pattern.
absl::Status ValidatePattern(std::string_view pattern_json);
absl::Status ValidatePattern(std::string_view pattern_json, const PatternLimits& limits);

// Whether one event (JSON object text) matches one pattern (TestEventPattern).
// InvalidArgument for a bad pattern, or an event that is not a JSON object.
// Thread-safe.
absl::StatusOr<bool> MatchesPattern(std::string_view pattern_json, std::string_view event_json);

// One scalar of an event given as fields rather than JSON (see PatternSet::MatchFields).
struct Value {
  enum class Kind { kString, kNumber, kTrue, kFalse, kNull };
  Kind kind = Kind::kNull;
  std::string text;  // kString: the string itself (not JSON-escaped); kNumber: JSON number text

  static Value String(std::string s) { return {Kind::kString, std::move(s)}; }
  static Value Number(std::string json_number) { return {Kind::kNumber, std::move(json_number)}; }
  static Value Bool(bool b) { return {b ? Kind::kTrue : Kind::kFalse, {}}; }
  static Value Null() { return {Kind::kNull, {}}; }
};

// A field of a flattened event: the path of object keys from the event's root, and the
// field's values (several values behave as an array).
struct FlatField {
  std::vector<std::string> path;
  std::vector<Value> values;
};

// Many patterns compiled into one matcher (one per event bus).
//
// Each event is parsed once (simdjson DOM). An index holds one "anchor" per pattern (per
// branch, for an `$or`): a condition any match must satisfy (an exact value, a prefix or
// suffix, a case-folded value, a CIDR network, a numeric range, ...; the least loaded one
// is chosen when the pattern is added). The parsed event is walked along the anchored paths only, and each
// scalar there is looked up (a Bloom filter first, then a hash table keyed by path and
// value), which yields the candidate patterns. Only events with candidates are turned into
// a small view of the paths the patterns use, against which each candidate is verified
// in full. Patterns that cannot be anchored (only `exists: false`, say) are verified for
// every event. Matching time thus grows with the number of candidates, not of patterns.
//
// Thread-safety: Match() and MatchFields() are const and may run concurrently from many
// threads (each thread keeps its own parser and scratch buffers). Add() and Remove() must
// not run concurrently with anything else on the same set (the owner swaps whole
// PatternSets under a lock, or guards one with a shared_mutex).
class PatternSet {
 public:
  PatternSet();
  explicit PatternSet(PatternLimits limits);
  ~PatternSet();
  PatternSet(PatternSet&&) noexcept;
  PatternSet& operator=(PatternSet&&) noexcept;
  PatternSet(const PatternSet&) = delete;
  PatternSet& operator=(const PatternSet&) = delete;

  // Compiles and adds a pattern, replacing the pattern that had this id. On error the
  // set is unchanged.
  absl::Status Add(uint64_t id, std::string_view pattern_json);
  // Removes a pattern; unknown ids are ignored.
  void Remove(uint64_t id);
  size_t size() const;

  // Appends the ids of matching patterns to *out (each once, any order).
  // InvalidArgument if the event is not a JSON object.
  absl::Status Match(std::string_view event_json, std::vector<uint64_t>* out) const;

  // The same for an event given as flattened fields (SNS message attributes). Arrays of
  // objects cannot be expressed this way, so array consistency does not apply.
  void MatchFields(const std::vector<FlatField>& fields, std::vector<uint64_t>* out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::events
