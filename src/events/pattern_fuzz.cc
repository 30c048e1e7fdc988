// libFuzzer target for the event-pattern engine. The input is split at its first newline
// into a pattern and an event; both texts are tried in both roles, through
// ValidatePattern, MatchesPattern and a PatternSet, and the set must agree with
// MatchesPattern on every event it accepts.
//
//   cmake -B build-fuzz -DSLUICE_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang
//   ninja -C build-fuzz pattern_fuzz && build-fuzz/src/events/pattern_fuzz
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "events/pattern.h"

namespace {

using sluice::events::MatchesPattern;
using sluice::events::PatternSet;

void CheckAgreement(const PatternSet& set, uint64_t id, std::string_view pattern, std::string_view event) {
  absl::StatusOr<bool> one = MatchesPattern(pattern, event);
  std::vector<uint64_t> ids;
  absl::Status many = set.Match(event, &ids);
  if (one.ok() != many.ok()) std::abort();
  if (!one.ok()) return;
  bool found = false;
  for (uint64_t i : ids) found |= i == id;
  if (found != *one) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t cut = input.find('\n');
  std::string_view pattern = input.substr(0, cut);
  std::string_view event = cut == std::string_view::npos ? std::string_view() : input.substr(cut + 1);

  (void)sluice::events::ValidatePattern(pattern);
  (void)sluice::events::ValidatePattern(event);

  PatternSet set;
  bool pattern_ok = set.Add(1, pattern).ok();
  bool event_ok = set.Add(2, event).ok();
  // A fixed pattern with every operator, so that the index is exercised on any event.
  (void)set.Add(3, R"({"a":["x",1,null,{"prefix":"p"},{"suffix":"s"},{"wildcard":"w*z"},)"
                   R"({"equals-ignore-case":"E"},{"numeric":[">",0,"<",9]},{"cidr":"10.0.0.0/8"},)"
                   R"({"anything-but":["q"]},{"exists":false}],"$or":[{"b":{"c":[true]}},{"d":[{"exists":true}]}]})");
  if (pattern_ok) CheckAgreement(set, 1, pattern, event);
  if (event_ok) CheckAgreement(set, 2, event, pattern);
  set.Remove(1);
  if (event_ok) CheckAgreement(set, 2, event, event);
  std::vector<uint64_t> ids;
  (void)set.Match(pattern, &ids);
  return 0;
}
