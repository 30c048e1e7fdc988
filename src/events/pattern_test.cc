#include "events/pattern.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sluice::events {
namespace {

using Json = nlohmann::json;

// tests/events/patterns.json, found from this file's place in the source tree.
std::string CasesPath() {
  std::string here = __FILE__;
  return here.substr(0, here.rfind('/')) + "/../../tests/events/patterns.json";
}

struct Case {
  std::string name;
  std::string pattern;
  std::string event;
  bool has_event = false;
  bool match = false;
  std::string error;        // expected pattern error (substring)
  std::string event_error;  // expected event error (substring)
};

std::vector<Case> LoadCases() {
  std::ifstream in(CasesPath());
  std::stringstream text;
  text << in.rdbuf();
  Json doc = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  std::vector<Case> cases;
  if (doc.is_discarded() || !doc.contains("cases")) return cases;
  for (const Json& c : doc["cases"]) {
    Case k;
    k.name = c.value("name", "");
    k.pattern = c.contains("pattern_text") ? c["pattern_text"].get<std::string>() : c["pattern"].dump();
    if (c.contains("event_text")) {
      k.event = c["event_text"].get<std::string>();
      k.has_event = true;
    } else if (c.contains("event")) {
      k.event = c["event"].dump();
      k.has_event = true;
    }
    k.match = c.value("match", false);
    k.error = c.value("error", "");
    k.event_error = c.value("event_error", "");
    cases.push_back(std::move(k));
  }
  return cases;
}

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = LoadCases();
  return cases;
}

std::vector<uint64_t> Sorted(std::vector<uint64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(PatternCases, TableIsLoaded) {
  ASSERT_GE(Cases().size(), 120u) << "could not read " << CasesPath();
  std::set<std::string> names;
  for (const Case& c : Cases()) EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
}

TEST(PatternCases, EachCaseThroughMatchesPatternAndAPatternSet) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name + ": " + c.pattern);
    absl::Status valid = ValidatePattern(c.pattern);
    PatternSet set;
    absl::Status added = set.Add(1, c.pattern);
    if (!c.error.empty()) {
      ASSERT_FALSE(valid.ok());
      EXPECT_EQ(valid.code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(std::string(valid.message()).find(c.error), std::string::npos) << valid.message();
      EXPECT_EQ(added, valid);
      EXPECT_EQ(set.size(), 0u);
      absl::StatusOr<bool> m = MatchesPattern(c.pattern, R"({"a":"b"})");
      EXPECT_EQ(m.status(), valid);
      continue;
    }
    ASSERT_TRUE(valid.ok()) << valid;
    ASSERT_TRUE(added.ok()) << added;
    ASSERT_TRUE(c.has_event);
    absl::StatusOr<bool> m = MatchesPattern(c.pattern, c.event);
    std::vector<uint64_t> ids = {99};
    absl::Status matched = set.Match(c.event, &ids);
    if (!c.event_error.empty()) {
      ASSERT_FALSE(m.ok());
      EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(std::string(m.status().message()).find(c.event_error), std::string::npos) << m.status();
      EXPECT_EQ(matched, m.status());
      EXPECT_EQ(ids, std::vector<uint64_t>{99}) << "nothing is appended for a bad event";
      continue;
    }
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(*m, c.match);
    ASSERT_TRUE(matched.ok()) << matched;
    EXPECT_EQ(ids, c.match ? (std::vector<uint64_t>{99, 1}) : (std::vector<uint64_t>{99}));
  }
}

// Every valid pattern of the table in one set, every event of the table against it: the
// set must find exactly the patterns MatchesPattern accepts one by one.
TEST(PatternCases, SetOfAllPatternsAgreesWithEachPattern) {
  PatternSet set;
  std::vector<std::pair<uint64_t, std::string>> patterns;
  std::vector<std::string> events;
  for (size_t i = 0; i < Cases().size(); ++i) {
    const Case& c = Cases()[i];
    if (!c.error.empty()) continue;
    ASSERT_TRUE(set.Add(i, c.pattern).ok()) << c.name;
    patterns.emplace_back(i, c.pattern);
    if (c.event_error.empty()) events.push_back(c.event);
  }
  ASSERT_EQ(set.size(), patterns.size());
  size_t matches = 0;
  for (const std::string& event : events) {
    SCOPED_TRACE(event);
    std::vector<uint64_t> want;
    for (const auto& [id, pattern] : patterns) {
      absl::StatusOr<bool> m = MatchesPattern(pattern, event);
      ASSERT_TRUE(m.ok()) << m.status();
      if (*m) want.push_back(id);
    }
    std::vector<uint64_t> got;
    ASSERT_TRUE(set.Match(event, &got).ok());
    EXPECT_EQ(Sorted(got), want);
    matches += want.size();
  }
  EXPECT_GT(matches, events.size()) << "the cross product should find plenty of matches";
}

// Flattens a JSON event into FlatFields (objects inside arrays cannot be expressed).
bool Flatten(const Json& j, std::vector<std::string>* path, std::vector<FlatField>* out) {
  auto scalar = [](const Json& v, Value* value) {
    if (v.is_string()) {
      *value = Value::String(v.get<std::string>());
    } else if (v.is_number()) {
      *value = Value::Number(v.dump());
    } else if (v.is_boolean()) {
      *value = Value::Bool(v.get<bool>());
    } else if (v.is_null()) {
      *value = Value::Null();
    } else {
      return false;
    }
    return true;
  };
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      path->push_back(it.key());
      if (!Flatten(it.value(), path, out)) return false;
      path->pop_back();
    }
    return true;
  }
  FlatField f;
  f.path = *path;
  std::vector<const Json*> todo = {&j};
  while (!todo.empty()) {
    const Json* v = todo.back();
    todo.pop_back();
    if (v->is_array()) {
      for (auto it = v->rbegin(); it != v->rend(); ++it) todo.push_back(&*it);
      continue;
    }
    Value value;
    if (!scalar(*v, &value)) return false;
    f.values.push_back(std::move(value));
  }
  out->push_back(std::move(f));
  return true;
}

TEST(PatternCases, FlatFieldsAgreeWithJsonEvents) {
  PatternSet set;
  std::vector<std::string> events;
  for (size_t i = 0; i < Cases().size(); ++i) {
    const Case& c = Cases()[i];
    if (!c.error.empty()) continue;
    ASSERT_TRUE(set.Add(i, c.pattern).ok());
    if (c.event_error.empty()) events.push_back(c.event);
  }
  size_t compared = 0;
  for (const std::string& event : events) {
    Json j = Json::parse(event, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    std::vector<std::string> path;
    std::vector<FlatField> fields;
    if (!Flatten(j, &path, &fields)) continue;
    if (event.find("E") != std::string::npos || event.find("e9") != std::string::npos) continue;  // number text
    std::vector<uint64_t> from_json, from_fields;
    ASSERT_TRUE(set.Match(j.dump(), &from_json).ok());
    set.MatchFields(fields, &from_fields);
    EXPECT_EQ(Sorted(from_fields), Sorted(from_json)) << event;
    ++compared;
  }
  EXPECT_GT(compared, 20u);
}

TEST(PatternSet, AddReplaceRemove) {
  PatternSet set;
  ASSERT_TRUE(set.Add(7, R"({"source":["a"]})").ok());
  ASSERT_TRUE(set.Add(8, R"({"source":["b"]})").ok());
  EXPECT_EQ(set.size(), 2u);
  std::vector<uint64_t> out;
  ASSERT_TRUE(set.Match(R"({"source":"a"})", &out).ok());
  EXPECT_EQ(out, std::vector<uint64_t>{7});

  // Replacing id 7: the old pattern stops matching, the new one starts.
  ASSERT_TRUE(set.Add(7, R"({"source":[{"prefix":"c"}]})").ok());
  EXPECT_EQ(set.size(), 2u);
  out.clear();
  ASSERT_TRUE(set.Match(R"({"source":"a"})", &out).ok());
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(set.Match(R"({"source":"cat"})", &out).ok());
  EXPECT_EQ(out, std::vector<uint64_t>{7});

  set.Remove(7);
  set.Remove(12345);  // unknown: ignored
  EXPECT_EQ(set.size(), 1u);
  out.clear();
  ASSERT_TRUE(set.Match(R"({"source":"cat"})", &out).ok());
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(set.Match(R"({"source":"b"})", &out).ok());
  EXPECT_EQ(out, std::vector<uint64_t>{8});
  set.Remove(8);
  EXPECT_EQ(set.size(), 0u);
  out.clear();
  ASSERT_TRUE(set.Match(R"({"source":"b"})", &out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(PatternSet, EmptySetMatchesNothing) {
  PatternSet set;
  std::vector<uint64_t> out;
  EXPECT_TRUE(set.Match(R"({"a":"b"})", &out).ok());
  EXPECT_FALSE(set.Match("[]", &out).ok());
  set.MatchFields({{{"a"}, {Value::String("b")}}}, &out);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(set.Add(1, "{}").ok());
  EXPECT_TRUE(set.Match(R"({"a":"b"})", &out).ok());
  EXPECT_TRUE(out.empty());
}

TEST(PatternSet, InvalidReplacementKeepsTheOldPattern) {
  PatternSet set;
  ASSERT_TRUE(set.Add(1, R"({"detail":{"state":["on"]}})").ok());
  EXPECT_FALSE(set.Add(1, R"({"detail":{"state":"on"}})").ok());
  EXPECT_FALSE(set.Add(2, R"({"detail":{"x":[{"nope":1}]}})").ok());
  EXPECT_EQ(set.size(), 1u);
  std::vector<uint64_t> out;
  ASSERT_TRUE(set.Match(R"({"detail":{"state":"on","x":1}})", &out).ok());
  EXPECT_EQ(out, std::vector<uint64_t>{1});
}

TEST(PatternSet, PatternsSharingPathsSurviveEachOthersRemoval) {
  PatternSet set;
  ASSERT_TRUE(set.Add(1, R"({"detail":{"a":["x"],"b":[{"prefix":"p"}]}})").ok());
  ASSERT_TRUE(set.Add(2, R"({"detail":{"a":["x"]}})").ok());
  ASSERT_TRUE(set.Add(3, R"({"detail":{"b":[{"numeric":[">",1]}]}})").ok());
  set.Remove(1);
  ASSERT_TRUE(set.Add(4, R"({"detail":{"c":[{"exists":false}]}})").ok());
  std::vector<uint64_t> out;
  ASSERT_TRUE(set.Match(R"({"detail":{"a":"x","b":5}})", &out).ok());
  EXPECT_EQ(Sorted(out), (std::vector<uint64_t>{2, 3, 4}));
  set.Remove(2);
  set.Remove(3);
  set.Remove(4);
  ASSERT_TRUE(set.Add(5, R"({"detail":{"a":[{"suffix":"x"}]}})").ok());
  out.clear();
  ASSERT_TRUE(set.Match(R"({"detail":{"a":"xx","b":5}})", &out).ok());
  EXPECT_EQ(out, std::vector<uint64_t>{5});
}

TEST(PatternSet, MatchAppendsWithoutClearing) {
  PatternSet set;
  ASSERT_TRUE(set.Add(3, R"({"a":["b"]})").ok());
  std::vector<uint64_t> out = {1, 2};
  ASSERT_TRUE(set.Match(R"({"a":["b","b"]})", &out).ok());
  EXPECT_EQ(out, (std::vector<uint64_t>{1, 2, 3}));
}

TEST(PatternSet, SameKeyAnchorsManyPatterns) {
  // Many rules on one common value: each is verified, each matches once.
  PatternSet set;
  for (uint64_t i = 0; i < 200; ++i) {
    ASSERT_TRUE(set.Add(i, R"({"source":["shop"],"detail":{"n":[)" + std::to_string(i % 10) + "]}}").ok());
  }
  std::vector<uint64_t> out;
  ASSERT_TRUE(set.Match(R"({"source":"shop","detail":{"n":3}})", &out).ok());
  EXPECT_EQ(out.size(), 20u);
  for (uint64_t id : out) EXPECT_EQ(id % 10, 3u);
}

TEST(PatternSet, MatchFieldsForMessageAttributes) {
  PatternSet set;
  ASSERT_TRUE(set.Add(1, R"({"store":["example_corp"],"price_usd":[{"numeric":[">=",100]}]})").ok());
  ASSERT_TRUE(set.Add(2, R"({"event":[{"anything-but":"order_cancelled"}]})").ok());
  ASSERT_TRUE(set.Add(3, R"({"customer_interests":["rugby","football"]})").ok());
  std::vector<FlatField> fields = {
      {{"store"}, {Value::String("example_corp")}},
      {{"event"}, {Value::String("order_placed")}},
      {{"price_usd"}, {Value::Number("210.75")}},
      {{"customer_interests"}, {Value::String("soccer"), Value::String("rugby")}},
  };
  std::vector<uint64_t> out;
  set.MatchFields(fields, &out);
  EXPECT_EQ(Sorted(out), (std::vector<uint64_t>{1, 2, 3}));
  fields[2].values[0] = Value::Number("99");
  fields[1].values[0] = Value::String("order_cancelled");
  out.clear();
  set.MatchFields(fields, &out);
  EXPECT_EQ(out, std::vector<uint64_t>{3});
}

TEST(PatternErrors, LocationCountsLinesAndColumns) {
  absl::Status s = ValidatePattern("{\n  \"source\": [\"a\"],\n  \"detail\": 5\n}");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("\"detail\" must be an object or an array"), std::string::npos);
  EXPECT_NE(std::string(s.message()).find("line: 3, column: 14]"), std::string::npos) << s.message();
}

TEST(PatternErrors, LongSourcesAreTruncatedInMessages) {
  std::string pattern = R"({"source":[)";
  for (int i = 0; i < 100; ++i) pattern += R"("aws.service", )";
  pattern += "5]}x";
  absl::Status s = ValidatePattern(pattern);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("[truncated "), std::string::npos) << s.message();
}

TEST(PatternErrors, LengthLimit) {
  std::string pattern = R"({"source":["a"],"x":[")" + std::string(4096, 'y') + R"("]})";
  absl::Status s = ValidatePattern(pattern);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("longer than 4096"), std::string::npos) << s.message();
  EXPECT_TRUE(ValidatePattern(pattern, PatternLimits{.max_length = 0, .max_depth = 1000}).ok());
  PatternSet sns(PatternLimits{.max_length = 256 * 1024, .max_depth = 1000});
  EXPECT_TRUE(sns.Add(1, pattern).ok());
}

TEST(PatternErrors, NestingLimit) {
  std::string deep;
  for (int i = 0; i < 1200; ++i) deep += R"({"a":)";
  deep += R"(["x"])";
  for (int i = 0; i < 1200; ++i) deep += "}";
  absl::Status s = ValidatePattern(deep, PatternLimits{.max_length = 0, .max_depth = 1000});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find("nesting depth"), std::string::npos) << s.message();
  // Within the limit, deep patterns compile and match.
  std::string ok_pattern, event;
  for (int i = 0; i < 200; ++i) ok_pattern += R"({"a":)";
  event = ok_pattern;
  ok_pattern += R"(["x"])";
  event += R"("x")";
  for (int i = 0; i < 200; ++i) {
    ok_pattern += "}";
    event += "}";
  }
  absl::StatusOr<bool> m = MatchesPattern(ok_pattern, event);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(*m);
}

TEST(PatternEvents, DeepOrHugeEventsAreHandled) {
  std::string deep = R"({"a":)";
  for (int i = 0; i < 5000; ++i) deep += "[";
  for (int i = 0; i < 5000; ++i) deep += "]";
  deep += "}";
  absl::StatusOr<bool> m = MatchesPattern(R"({"a":[{"exists":false}]})", deep);
  EXPECT_FALSE(m.ok());  // deeper than simdjson's limit: not valid for us
  std::string wide = R"({"a":[)";
  for (int i = 0; i < 100000; ++i) wide += std::to_string(i) + ",";
  wide += R"("x"]})";
  m = MatchesPattern(R"({"a":["x"]})", wide);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(*m);
  // Unconditional anchors fire once per path, not once per array element.
  PatternSet set;
  for (uint64_t i = 0; i < 500; ++i) {
    ASSERT_TRUE(set.Add(i, i % 2 ? R"({"a":[{"exists":true}]})" : R"({"a":[{"anything-but":"zz"}]})").ok());
  }
  std::vector<uint64_t> out;
  ASSERT_TRUE(set.Match(wide, &out).ok());
  EXPECT_EQ(out.size(), 500u);
}

// Random patterns over a small vocabulary, so that they often match.
class RandomPatterns {
 public:
  explicit RandomPatterns(uint32_t seed) : rng_(seed) {}

  std::string Pattern() { return Object(0).dump(); }

  std::string Event() {
    Json e = Json::object();
    for (const char* f : {"a", "b", "c", "d"}) {
      if (Pick(4) != 0) e[f] = EventValue();
    }
    if (Pick(3) != 0) {
      if (Pick(3) == 0) {
        Json arr = Json::array();
        for (int i = 0, n = Pick(3); i < n; ++i) arr.push_back(EventObject());
        e["n"] = arr;
      } else {
        e["n"] = EventObject();
      }
    }
    return e.dump();
  }

 private:
  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  template <class T>
  const T& OneOf(const std::vector<T>& v) {
    return v[static_cast<size_t>(Pick(static_cast<int>(v.size())))];
  }

  Json Scalar() {
    static const std::vector<Json> kScalars = {"aa", "ab", "ba", "b", "AB", "Ab", "", "10.0.0.1", "10.0.1.7",
                                               "::1", 0, 1, 2.5, -3, 100, true, false, nullptr};
    return OneOf(kScalars);
  }
  Json EventValue() {
    if (Pick(4) == 0) {
      Json arr = Json::array();
      for (int i = 0, n = Pick(4); i < n; ++i) arr.push_back(Scalar());
      return arr;
    }
    return Scalar();
  }
  Json EventObject() {
    Json o = Json::object();
    for (const char* f : {"x", "y"}) {
      if (Pick(3) != 0) o[f] = EventValue();
    }
    return o;
  }

  Json Cond() {
    static const std::vector<std::string> kStrings = {"aa", "ab", "ba", "b", "10.0.0.1"};
    switch (Pick(16)) {
      case 0: return OneOf(kStrings);
      case 1: return OneOf(std::vector<Json>{0, 1, 2.5, -3, 100, true, false, nullptr});
      case 2: return {{"prefix", OneOf(std::vector<std::string>{"a", "b", "", "10."})}};
      case 3: return {{"suffix", OneOf(std::vector<std::string>{"a", "b", ".1"})}};
      case 4: return {{"prefix", {{"equals-ignore-case", OneOf(std::vector<std::string>{"A", "aB"})}}}};
      case 5: return {{"suffix", {{"equals-ignore-case", OneOf(std::vector<std::string>{"B", "Ab"})}}}};
      case 6: return {{"equals-ignore-case", OneOf(std::vector<std::string>{"AB", "aa", "B"})}};
      case 7: return {{"wildcard", OneOf(std::vector<std::string>{"a*", "*b", "*", "a*b", "*0*", "ab"})}};
      case 8: {
        switch (Pick(6)) {
          case 0: return {{"anything-but", OneOf(kStrings)}};
          case 1: return {{"anything-but", Json::array({"aa", "b"})}};
          case 2: return {{"anything-but", Json::array({0, 100})}};
          case 3: return {{"anything-but", {{"prefix", "a"}}}};
          case 4: return {{"anything-but", {{"equals-ignore-case", Json::array({"AA", "B"})}}}};
          default: return {{"anything-but", {{"wildcard", "*b"}}}};
        }
      }
      case 9: return {{"numeric", Json::array({">", 0})}};
      case 10: return {{"numeric", Json::array({">=", -3, "<", 2.5})}};
      case 11: return {{"numeric", Json::array({"=", 100})}};
      case 12: return {{"numeric", Json::array({"<=", 1})}};
      case 13: return {{"exists", Pick(2) == 0}};
      case 14: return {{"cidr", OneOf(std::vector<std::string>{"10.0.0.0/24", "10.0.0.0/8", "::/1"})}};
      default: return {{"suffix", "a"}};
    }
  }

  Json Leaf() {
    Json arr = Json::array();
    for (int i = 0, n = 1 + Pick(3); i < n; ++i) arr.push_back(Cond());
    return arr;
  }

  Json Object(int depth) {
    Json o = Json::object();
    int fields = 1 + Pick(2);
    for (int i = 0; i < fields; ++i) {
      int kind = Pick(depth == 0 ? 7 : 5);
      if (kind < 4) {
        o[depth == 0 ? OneOf(std::vector<std::string>{"a", "b", "c", "d"})
                     : OneOf(std::vector<std::string>{"x", "y"})] = Leaf();
      } else if (kind == 4 && depth < 2) {
        Json ors = Json::array();
        for (int b = 0, n = 2 + Pick(2); b < n; ++b) ors.push_back(Object(depth + 1));
        o["$or"] = ors;
      } else if (depth == 0) {
        o["n"] = Object(1);
      } else {
        o["x"] = Leaf();
      }
    }
    return o;
  }

  std::mt19937 rng_;
};

TEST(PatternSet, RandomizedAgreesWithMatchesPattern) {
  RandomPatterns gen(20240607);
  PatternSet set;
  std::map<uint64_t, std::string> live;
  std::vector<std::string> events;
  for (int i = 0; i < 300; ++i) events.push_back(gen.Event());
  std::mt19937 rng(7);
  size_t total_matches = 0;
  for (int round = 0; round < 6; ++round) {
    // Add, replace and remove some patterns each round.
    for (int i = 0; i < 120; ++i) {
      uint64_t id = rng() % 400;
      if (rng() % 5 == 0) {
        set.Remove(id);
        live.erase(id);
        continue;
      }
      std::string p = gen.Pattern();
      absl::Status s = set.Add(id, p);
      ASSERT_TRUE(s.ok()) << p << ": " << s;
      live[id] = p;
    }
    ASSERT_EQ(set.size(), live.size());
    for (const std::string& event : events) {
      std::vector<uint64_t> want;
      for (const auto& [id, pattern] : live) {
        absl::StatusOr<bool> m = MatchesPattern(pattern, event);
        ASSERT_TRUE(m.ok()) << m.status();
        if (*m) want.push_back(id);
      }
      std::vector<uint64_t> got;
      ASSERT_TRUE(set.Match(event, &got).ok());
      ASSERT_EQ(Sorted(got), want) << "event " << event;
      total_matches += want.size();
    }
  }
  EXPECT_GT(total_matches, 1000u);
}

TEST(PatternSet, ConcurrentMatchesAgree) {
  RandomPatterns gen(99);
  PatternSet set;
  for (uint64_t i = 0; i < 200; ++i) ASSERT_TRUE(set.Add(i, gen.Pattern()).ok());
  std::vector<std::string> events;
  for (int i = 0; i < 200; ++i) events.push_back(gen.Event());
  std::vector<std::vector<uint64_t>> want(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_TRUE(set.Match(events[i], &want[i]).ok());
    want[i] = Sorted(want[i]);
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 20; ++rep) {
        for (size_t i = 0; i < events.size(); ++i) {
          std::vector<uint64_t> got;
          if (!set.Match(events[i], &got).ok() || Sorted(got) != want[i]) ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

}  // namespace
}  // namespace sluice::events
