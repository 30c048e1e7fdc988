#include "states/validate.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/json.h"
#include "base/strings.h"
#include "nlohmann/json.hpp"

namespace sluice::states {
namespace {

// Not ordered_json: its vector of pairs with const keys copies (recursively) when it
// grows. The order in which states were written comes from the SAX scan instead.
using Json = nlohmann::json;
// State names of each "States" object, in document order, keyed by the object's location.
using StateOrder = std::unordered_map<std::string, std::vector<std::string>>;

constexpr char kInvalidJson[] = "INVALID_JSON_DESCRIPTION";
constexpr char kMissingDescription[] = "MISSING_DESCRIPTION";
constexpr char kSchema[] = "SCHEMA_VALIDATION_FAILED";
constexpr char kInvalidResource[] = "INVALID_RESOURCE";
constexpr char kMissingEndState[] = "MISSING_END_STATE";
constexpr char kDuplicateStateName[] = "DUPLICATE_STATE_NAME";
constexpr char kInvalidStateName[] = "INVALID_STATE_NAME";
constexpr char kMissingTarget[] = "MISSING_TRANSITION_TARGET";
constexpr char kTooDeeplyNested[] = "TOO_DEEPLY_NESTED";
constexpr char kNoDollar[] = "NO_DOLLAR";
constexpr char kNoPath[] = "NO_PATH";
constexpr char kPassResultIsStatic[] = "PASS_RESULT_IS_STATIC";

constexpr size_t kNpos = std::string_view::npos;
// Step Functions' ceiling for second counts (TimeoutSeconds, IntervalSeconds, ...).
constexpr int64_t kMaxSeconds = 99999999;
// MaxDelaySeconds must be below 31622401 (one leap year).
constexpr int64_t kMaxDelaySeconds = 31622400;
constexpr int64_t kMaxReaderItems = 100000000;
constexpr size_t kMaxStateNameLength = 80;
constexpr size_t kMaxVariableNameLength = 80;
constexpr size_t kMaxLabelLength = 40;
// Parallel branches and Map processors nested deeper than this are refused; it also
// bounds the validator's recursion.
constexpr int kMaxMachineNesting = 40;
// Payload templates and choice rules are walked recursively only this deep.
constexpr int kMaxWalkDepth = 200;
// The SAX scan tracks locations only this deep into the JSON document (enough for
// kMaxMachineNesting levels of Parallel branches).
constexpr size_t kMaxScanDepth = 256;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
// Identifier characters for variable names; bytes of multi-byte UTF-8 count as letters.
bool IsIdentStart(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c); }

size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string FieldLocation(const std::string& base, std::string_view field) {
  return StrCat(base, "/", field);
}
std::string IndexLocation(const std::string& base, size_t index) {
  return StrCat(base, "[", index, "]");
}

// ---------------------------------------------------------------------------------------
// JSONPath syntax. Paths are "$"-rooted; "$$" roots the Context Object and "$name" a
// workflow variable where the rules allow them. A Reference Path names a single node:
// only ".name", "['name']" and "[index]" steps.

struct PathRules {
  bool context;
  bool variables;
  bool reference;
};
// InputPath, OutputPath, and the values of ".$" fields.
constexpr PathRules kDataPath{true, true, false};
// Fields that read one value: *Path fields, ItemsPath, choice Variable operands.
constexpr PathRules kReadReference{true, true, true};
// ResultPath and Catch ResultPath: where a result is written in the state's input.
constexpr PathRules kResultPath{false, false, true};

// From a quote at s[i], the index after the matching quote (backslash escapes), or kNpos.
size_t SkipQuoted(std::string_view s, size_t i) {
  const char quote = s[i++];
  while (i < s.size()) {
    if (s[i] == '\\') {
      i += 2;
      continue;
    }
    if (s[i] == quote) return i + 1;
    ++i;
  }
  return kNpos;
}

// From '(' at s[i], the index after the matching ')', skipping quoted text, or kNpos.
size_t SkipParens(std::string_view s, size_t i) {
  int depth = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\'' || c == '"') {
      i = SkipQuoted(s, i);
      if (i == kNpos) return kNpos;
      continue;
    }
    if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth == 0) return i + 1;
    }
    ++i;
  }
  return kNpos;
}

size_t SkipSpaces(std::string_view s, size_t i) {
  while (i < s.size() && IsSpace(s[i])) ++i;
  return i;
}

bool IsInteger(std::string_view s, bool allow_negative) {
  s = StripWhitespace(s);
  if (allow_negative && !s.empty() && s[0] == '-') s.remove_prefix(1);
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

// Parses a bracket step starting at s[i] == '['; the index after its ']', or kNpos.
size_t ParseBracket(std::string_view s, size_t i, bool reference) {
  i = SkipSpaces(s, i + 1);
  if (i >= s.size()) return kNpos;
  auto close = [&](size_t j) -> size_t {
    j = SkipSpaces(s, j);
    return (j < s.size() && s[j] == ']') ? j + 1 : kNpos;
  };
  const char c = s[i];
  if (c == '*') return reference ? kNpos : close(i + 1);
  if (c == '?' || c == '(') {
    if (reference) return kNpos;
    if (c == '?') i = SkipSpaces(s, i + 1);
    if (i >= s.size() || s[i] != '(') return kNpos;
    const size_t j = SkipParens(s, i);
    return j == kNpos ? kNpos : close(j);
  }
  if (c == '\'' || c == '"') {
    int names = 0;
    while (true) {
      if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) return kNpos;
      const size_t j = SkipQuoted(s, i);
      if (j == kNpos) return kNpos;
      ++names;
      i = SkipSpaces(s, j);
      if (i >= s.size()) return kNpos;
      if (s[i] == ']') return (reference && names > 1) ? kNpos : i + 1;
      if (s[i] != ',') return kNpos;
      i = SkipSpaces(s, i + 1);
    }
  }
  // An index, a union of indexes, or a slice.
  const size_t end = s.find(']', i);
  if (end == kNpos) return kNpos;
  const std::string_view body = s.substr(i, end - i);
  if (body.find(':') != kNpos) {
    if (reference) return kNpos;
    const std::vector<std::string_view> parts = Split(body, ':');
    if (parts.size() > 3) return kNpos;
    for (std::string_view part : parts) {
      if (!StripWhitespace(part).empty() && !IsInteger(part, true)) return kNpos;
    }
    return end + 1;
  }
  if (body.find(',') != kNpos) {
    if (reference) return kNpos;
    for (std::string_view part : Split(body, ',')) {
      if (!IsInteger(part, true)) return kNpos;
    }
    return end + 1;
  }
  return IsInteger(body, !reference) ? end + 1 : kNpos;
}

bool IsValidPath(std::string_view p, PathRules rules) {
  if (p.empty() || p[0] != '$') return false;
  size_t i = 1;
  if (i < p.size() && p[i] == '$') {
    if (!rules.context) return false;
    ++i;
  } else if (i < p.size() && IsIdentStart(p[i])) {
    if (!rules.variables) return false;
    while (i < p.size() && IsIdentChar(p[i])) ++i;
  }
  while (i < p.size()) {
    if (p[i] == '[') {
      i = ParseBracket(p, i, rules.reference);
      if (i == kNpos) return false;
      continue;
    }
    if (p[i] != '.') return false;
    ++i;
    bool deep = false;
    if (i < p.size() && p[i] == '.') {
      if (rules.reference) return false;
      deep = true;
      ++i;
    }
    if (i >= p.size()) return false;
    if (p[i] == '*') {
      if (rules.reference) return false;
      ++i;
      continue;
    }
    if (p[i] == '[') {
      if (!deep) return false;
      continue;
    }
    const size_t start = i;
    while (i < p.size() && p[i] != '.' && p[i] != '[' && p[i] != ']' && p[i] != '(' &&
           p[i] != ')' && !IsSpace(p[i])) {
      ++i;
    }
    if (i == start) return false;
    if (i < p.size() && p[i] == '(') {
      // A function such as length() ends the path.
      if (rules.reference) return false;
      const size_t j = SkipParens(p, i);
      return j == p.size();
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Intrinsic functions: States.Name(arg, ...), where an argument is a 'string', a number,
// null/true/false, a path, or another intrinsic function.

struct IntrinsicSpec {
  std::string_view name;
  int min_args;
  int max_args;
};
constexpr int kVariadic = std::numeric_limits<int>::max();
constexpr IntrinsicSpec kIntrinsics[] = {
    {"States.Format", 1, kVariadic}, {"States.StringToJson", 1, 1},
    {"States.JsonToString", 1, 1},   {"States.Array", 0, kVariadic},
    {"States.ArrayPartition", 2, 2}, {"States.ArrayContains", 2, 2},
    {"States.ArrayRange", 3, 3},     {"States.ArrayGetItem", 2, 2},
    {"States.ArrayLength", 1, 1},    {"States.ArrayUnique", 1, 1},
    {"States.Base64Encode", 1, 1},   {"States.Base64Decode", 1, 1},
    {"States.Hash", 2, 2},           {"States.JsonMerge", 3, 3},
    {"States.MathRandom", 2, 3},     {"States.MathAdd", 2, 2},
    {"States.StringSplit", 2, 2},    {"States.UUID", 0, 0},
};

class IntrinsicParser {
 public:
  explicit IntrinsicParser(std::string_view text) : s_(text) {}

  // Empty when the whole text is one well-formed call; otherwise what is wrong.
  std::string Parse() {
    i_ = SkipSpaces(s_, 0);
    std::string error = Call(0);
    if (!error.empty()) return error;
    i_ = SkipSpaces(s_, i_);
    if (i_ != s_.size()) return "unexpected text after the closing parenthesis";
    return "";
  }

 private:
  std::string Call(int depth) {
    if (depth > 16) return "intrinsic functions are nested too deeply";
    const size_t start = i_;
    if (s_.substr(i_, 7) != "States.") return "expected a function name starting with 'States.'";
    i_ += 7;
    while (i_ < s_.size() && IsIdentChar(s_[i_])) ++i_;
    const std::string_view name = s_.substr(start, i_ - start);
    const IntrinsicSpec* spec = nullptr;
    for (const IntrinsicSpec& candidate : kIntrinsics) {
      if (candidate.name == name) spec = &candidate;
    }
    if (spec == nullptr) return StrCat("unknown intrinsic function ", name);
    i_ = SkipSpaces(s_, i_);
    if (i_ >= s_.size() || s_[i_] != '(') return StrCat("expected '(' after ", name);
    i_ = SkipSpaces(s_, i_ + 1);
    int args = 0;
    if (i_ < s_.size() && s_[i_] == ')') {
      ++i_;
    } else {
      while (true) {
        std::string error = Argument(depth);
        if (!error.empty()) return error;
        ++args;
        i_ = SkipSpaces(s_, i_);
        if (i_ >= s_.size()) return StrCat("missing ')' after the arguments of ", name);
        if (s_[i_] == ')') {
          ++i_;
          break;
        }
        if (s_[i_] != ',') return StrCat("expected ',' or ')' in the arguments of ", name);
        i_ = SkipSpaces(s_, i_ + 1);
      }
    }
    if (args < spec->min_args || args > spec->max_args) {
      return StrCat(name, " does not accept ", args, " argument", args == 1 ? "" : "s");
    }
    return "";
  }

  std::string Argument(int depth) {
    if (i_ >= s_.size()) return "missing argument";
    const char c = s_[i_];
    if (c == '\'') {
      ++i_;
      while (i_ < s_.size()) {
        if (s_[i_] == '\\') {
          i_ += 2;
          continue;
        }
        if (s_[i_] == '\'') {
          ++i_;
          return "";
        }
        ++i_;
      }
      return "unterminated string literal";
    }
    if (c == '$') {
      const size_t start = i_;
      int nesting = 0;
      while (i_ < s_.size()) {
        const char d = s_[i_];
        if (d == '\'' || d == '"') {
          const size_t j = SkipQuoted(s_, i_);
          if (j == kNpos) return "unterminated quote in a path argument";
          i_ = j;
          continue;
        }
        if (d == '[' || d == '(') {
          ++nesting;
        } else if (d == ']' || d == ')') {
          if (nesting == 0) break;
          --nesting;
        } else if (d == ',' && nesting == 0) {
          break;
        }
        ++i_;
      }
      const std::string_view path = StripWhitespace(s_.substr(start, i_ - start));
      if (!IsValidPath(path, kDataPath)) return StrCat("invalid path argument ", path);
      return "";
    }
    if (s_.substr(i_, 7) == "States.") return Call(depth + 1);
    if (c == '-' || IsDigit(c)) {
      if (c == '-') ++i_;
      const size_t digits = i_;
      while (i_ < s_.size() && IsDigit(s_[i_])) ++i_;
      if (i_ == digits) return "invalid number argument";
      if (i_ < s_.size() && s_[i_] == '.') {
        const size_t fraction = ++i_;
        while (i_ < s_.size() && IsDigit(s_[i_])) ++i_;
        if (i_ == fraction) return "invalid number argument";
      }
      return "";
    }
    for (std::string_view literal : {"null", "true", "false"}) {
      if (s_.substr(i_, literal.size()) == literal &&
          (i_ + literal.size() == s_.size() || !IsIdentChar(s_[i_ + literal.size()]))) {
        i_ += literal.size();
        return "";
      }
    }
    return "unexpected argument";
  }

  std::string_view s_;
  size_t i_ = 0;
};

// Empty when `value`, the value of a ".$" field, is a valid path or intrinsic call.
std::string DynamicValueProblem(std::string_view value) {
  if (!value.empty() && value[0] == '$') {
    return IsValidPath(value, kDataPath) ? "" : "invalid JSONPath";
  }
  if (value.starts_with("States.")) return IntrinsicParser(value).Parse();
  return "neither a JSONPath nor an intrinsic function call";
}

// A static string that an author probably meant as a path or intrinsic function.
bool LooksDynamic(std::string_view s) {
  if (s == "$" || s == "$$" || s.starts_with("$.") || s.starts_with("$$.") || s.starts_with("$[")) {
    return true;
  }
  return s.starts_with("States.") && s.find('(') != kNpos && s.ends_with(")");
}

bool LooksLikePath(std::string_view s) {
  return s == "$" || s.starts_with("$.") || s.starts_with("$$.") || s.starts_with("$[");
}

// ---------------------------------------------------------------------------------------
// Other value syntaxes.

bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// RFC 3339 date-time with an uppercase "T" and "Z" (or a numeric offset), as ASL requires.
bool IsValidTimestamp(std::string_view s) {
  auto digits = [&](size_t pos, size_t n, int* out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (size_t k = pos; k < pos + n; ++k) {
      if (!IsDigit(s[k])) return false;
      v = v * 10 + (s[k] - '0');
    }
    *out = v;
    return true;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(0, 4, &year) || s.size() < 20 || s[4] != '-' || !digits(5, 2, &month) ||
      s[7] != '-' || !digits(8, 2, &day) || s[10] != 'T' || !digits(11, 2, &hour) || s[13] != ':' ||
      !digits(14, 2, &minute) || s[16] != ':' || !digits(17, 2, &second)) {
    return false;
  }
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    const size_t start = ++i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    if (i == start) return false;
  }
  if (i >= s.size()) return false;
  if (s[i] == 'Z') {
    ++i;
  } else if (s[i] == '+' || s[i] == '-') {
    int offset_hours = 0, offset_minutes = 0;
    if (!digits(i + 1, 2, &offset_hours) || i + 3 >= s.size() || s[i + 3] != ':' ||
        !digits(i + 4, 2, &offset_minutes) || offset_hours > 23 || offset_minutes > 59) {
      return false;
    }
    i += 6;
  } else {
    return false;
  }
  if (i != s.size()) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return false;
  const int days = kDays[month - 1] + (month == 2 && IsLeapYear(year) ? 1 : 0);
  return day <= days && hour <= 23 && minute <= 59 && second <= 59;
}

bool AllOf(std::string_view s, bool (*pred)(char)) {
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}
bool IsArnToken(char c) { return (c >= 'a' && c <= 'z') || IsDigit(c) || c == '-' || c == '.'; }
bool IsVisible(char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7F; }

// arn:partition:service:region:account:resource, region and account possibly empty.
bool IsValidArn(std::string_view s) {
  if (!ConsumePrefix(&s, "arn:")) return false;
  std::string_view parts[4];
  for (std::string_view& part : parts) {
    const size_t colon = s.find(':');
    if (colon == kNpos) return false;
    part = s.substr(0, colon);
    s.remove_prefix(colon + 1);
  }
  return !parts[0].empty() && AllOf(parts[0], IsArnToken) && !parts[1].empty() &&
         AllOf(parts[1], IsArnToken) && AllOf(parts[2], IsArnToken) &&
         AllOf(parts[3], IsArnToken) && !s.empty() && AllOf(s, IsVisible);
}

// arn:<partition>:states:::<action>, the form of Step Functions' own integrations.
bool IsStatesIntegration(std::string_view resource, std::string_view action) {
  if (!ConsumePrefix(&resource, "arn:")) return false;
  const size_t colon = resource.find(':');
  if (colon == kNpos || colon == 0) return false;
  resource.remove_prefix(colon + 1);
  return ConsumePrefix(&resource, "states:::") && resource == action;
}

bool IsJsonataExpression(const Json& v) {
  if (!v.is_string()) return false;
  const std::string_view s = StripWhitespace(v.get_ref<const std::string&>());
  return s.size() >= 4 && s.starts_with("{%") && s.ends_with("%}");
}

bool IsVariableName(std::string_view name) {
  if (name.empty() || Utf8Length(name) > kMaxVariableNameLength || !IsIdentStart(name[0])) {
    return false;
  }
  return AllOf(name, IsIdentChar);
}

// ---------------------------------------------------------------------------------------
// The fields each state type accepts.

enum class Language { kJsonPath, kJsonata };
enum class StateType { kPass, kTask, kChoice, kWait, kSucceed, kFail, kParallel, kMap };
enum class MachineKind { kRoot, kBranch, kProcessor };

std::string_view LanguageName(Language language) {
  return language == Language::kJsonPath ? "JSONPath" : "JSONata";
}

using FieldList = std::vector<std::string_view>;

struct TypeFields {
  std::string_view name;
  StateType type;
  FieldList both;
  FieldList jsonpath_only;
  FieldList jsonata_only;
};

const std::vector<TypeFields>& TypeTable() {
  static const std::vector<TypeFields> kTable = {
      {"Task",
       StateType::kTask,
       {"Next", "End", "Assign", "Resource", "TimeoutSeconds", "HeartbeatSeconds", "Retry", "Catch",
        "Credentials"},
       {"InputPath", "OutputPath", "Parameters", "ResultPath", "ResultSelector",
        "TimeoutSecondsPath", "HeartbeatSecondsPath"},
       {"Output", "Arguments"}},
      {"Wait",
       StateType::kWait,
       {"Next", "End", "Assign", "Seconds", "Timestamp"},
       {"InputPath", "OutputPath", "SecondsPath", "TimestampPath"},
       {"Output"}},
      {"Pass",
       StateType::kPass,
       {"Next", "End", "Assign"},
       {"InputPath", "OutputPath", "Parameters", "ResultPath", "Result"},
       {"Output"}},
      {"Succeed", StateType::kSucceed, {}, {"InputPath", "OutputPath"}, {"Output"}},
      {"Fail", StateType::kFail, {"Error", "Cause"}, {"ErrorPath", "CausePath"}, {}},
      {"Choice",
       StateType::kChoice,
       {"Choices", "Default", "Assign"},
       {"InputPath", "OutputPath"},
       {"Output"}},
      {"Parallel",
       StateType::kParallel,
       {"Next", "End", "Assign", "Branches", "Retry", "Catch"},
       {"InputPath", "OutputPath", "Parameters", "ResultPath", "ResultSelector"},
       {"Output", "Arguments"}},
      {"Map",
       StateType::kMap,
       {"Next", "End", "Assign", "Iterator", "ItemProcessor", "ItemReader", "ItemSelector",
        "ItemBatcher", "ResultWriter", "MaxConcurrency", "ToleratedFailurePercentage",
        "ToleratedFailureCount", "Label", "Retry", "Catch"},
       {"InputPath", "OutputPath", "Parameters", "ResultPath", "ResultSelector", "ItemsPath",
        "MaxConcurrencyPath", "ToleratedFailurePercentagePath", "ToleratedFailureCountPath"},
       {"Output", "Items"}},
  };
  return kTable;
}

const TypeFields* FindType(std::string_view name) {
  for (const TypeFields& t : TypeTable()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

bool Contains(const FieldList& list, std::string_view field) {
  for (std::string_view f : list) {
    if (f == field) return true;
  }
  return false;
}

// Choice rule comparison operators and the operand each expects.
enum class Operand { kString, kNumber, kBoolean, kTimestamp, kPath, kTypeTest };

struct ComparisonOperator {
  std::string name;
  Operand operand;
};

const std::vector<ComparisonOperator>& ComparisonOperators() {
  static const std::vector<ComparisonOperator> kOperators = [] {
    std::vector<ComparisonOperator> ops;
    const std::pair<std::string_view, Operand> kFamilies[] = {{"String", Operand::kString},
                                                              {"Numeric", Operand::kNumber},
                                                              {"Timestamp", Operand::kTimestamp}};
    for (const auto& [family, operand] : kFamilies) {
      for (std::string_view relation :
           {"Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals"}) {
        ops.push_back({StrCat(family, relation), operand});
        ops.push_back({StrCat(family, relation, "Path"), Operand::kPath});
      }
    }
    ops.push_back({"StringMatches", Operand::kString});
    ops.push_back({"BooleanEquals", Operand::kBoolean});
    ops.push_back({"BooleanEqualsPath", Operand::kPath});
    for (std::string_view test :
         {"IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"}) {
      ops.push_back({std::string(test), Operand::kTypeTest});
    }
    return ops;
  }();
  return kOperators;
}

const ComparisonOperator* FindOperator(std::string_view name) {
  for (const ComparisonOperator& op : ComparisonOperators()) {
    if (op.name == name) return &op;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------
// A SAX pass over the text: the parse error with its position, the order of state names,
// and state names written twice in one "States" object (which a DOM silently collapses).

class ScanHandler {
 public:
  struct Duplicate {
    std::string name;
    std::string location;
  };

  bool null() { return Value(); }
  bool boolean(bool) { return Value(); }
  bool number_integer(Json::number_integer_t) { return Value(); }
  bool number_unsigned(Json::number_unsigned_t) { return Value(); }
  bool number_float(Json::number_float_t, const Json::string_t&) { return Value(); }
  bool string(Json::string_t&) { return Value(); }
  bool binary(Json::binary_t&) { return Value(); }
  bool start_object(std::size_t) {
    Push(false);
    return true;
  }
  bool end_object() {
    Pop();
    return Value();
  }
  bool start_array(std::size_t) {
    Push(true);
    return true;
  }
  bool end_array() {
    Pop();
    return Value();
  }
  bool key(Json::string_t& name) {
    if (untracked_ > 0) return true;
    Frame& frame = frames_.back();
    frame.key = name;
    if (frame.states_map) {
      if (frame.keys.insert(name).second) {
        state_order_[frame.location].push_back(name);
      } else {
        duplicates_.push_back({name, StrCat(frame.location, "/", name)});
      }
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    std::string_view what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " tag; keep "parse error at line
    // L, column C: ...".
    if (what.starts_with("[")) {
      const size_t close = what.find("] ");
      if (close != kNpos) what.remove_prefix(close + 2);
    }
    error_ = std::string(what);
    return false;
  }

  const std::string& error() const { return error_; }
  const std::vector<Duplicate>& duplicates() const { return duplicates_; }
  const StateOrder& state_order() const { return state_order_; }

 private:
  struct Frame {
    bool array = false;
    bool states_map = false;
    size_t index = 0;
    std::string location;
    std::string key;
    std::unordered_set<std::string> keys;
  };

  // Whether `location` is where a state machine object (root, branch, processor) sits.
  static bool IsMachineLocation(std::string_view location) {
    if (location.empty() || location.ends_with("/ItemProcessor") ||
        location.ends_with("/Iterator")) {
      return true;
    }
    const size_t slash = location.rfind('/');
    return slash != kNpos && location.substr(slash + 1).starts_with("Branches[") &&
           location.ends_with("]");
  }

  void Push(bool array) {
    if (untracked_ > 0 || frames_.size() >= kMaxScanDepth) {
      ++untracked_;
      return;
    }
    Frame frame;
    frame.array = array;
    if (!frames_.empty()) {
      const Frame& parent = frames_.back();
      frame.location = parent.array ? IndexLocation(parent.location, parent.index)
                                    : FieldLocation(parent.location, parent.key);
      frame.states_map =
          !array && !parent.array && parent.key == "States" && IsMachineLocation(parent.location);
    }
    frames_.push_back(std::move(frame));
  }
  void Pop() {
    if (untracked_ > 0) {
      --untracked_;
    } else if (!frames_.empty()) {
      frames_.pop_back();
    }
  }
  bool Value() {
    if (untracked_ == 0 && !frames_.empty() && frames_.back().array) ++frames_.back().index;
    return true;
  }

  std::vector<Frame> frames_;
  size_t untracked_ = 0;
  std::string error_;
  std::vector<Duplicate> duplicates_;
  StateOrder state_order_;
};

// ---------------------------------------------------------------------------------------
// The validator proper: one instance per definition, collecting diagnostics.

struct Edge {
  std::string target;
  std::string location;
};

// A state as the transition graph sees it.
struct StateNode {
  std::string name;
  std::string location;
  std::vector<Edge> edges;
  // Ends the workflow (End: true, Succeed, Fail); also set for states too broken to
  // judge, so that one schema error does not surface again as MISSING_END_STATE.
  bool terminal = false;
};

class Validator {
 public:
  explicit Validator(const StateOrder* state_order) : state_order_(state_order) {}

  void Error(std::string_view code, std::string message, std::string location) {
    out_.push_back({kSeverityError, std::string(code), std::move(message), std::move(location)});
  }
  void Warning(std::string_view code, std::string message, std::string location) {
    out_.push_back({kSeverityWarning, std::string(code), std::move(message), std::move(location)});
  }

  void Root(const Json& root) {
    if (!root.is_object()) {
      Error(kSchema, "The state machine definition must be a JSON object", "");
      return;
    }
    if (const Json* q = Find(root, "QueryLanguage")) {
      if (q->is_string() && q->get_ref<const std::string&>() == "JSONata") {
        machine_language_ = Language::kJsonata;
      } else if (!q->is_string() || q->get_ref<const std::string&>() != "JSONPath") {
        EnumError("QueryLanguage", {"JSONPath", "JSONata"}, "/QueryLanguage");
      }
    }
    Machine(root, "", MachineKind::kRoot, 0);
  }

  std::vector<Diagnostic> Take() { return std::move(out_); }

 private:
  static const Json* Find(const Json& obj, std::string_view field) {
    const auto it = obj.find(std::string(field));
    return it == obj.end() ? nullptr : &*it;
  }

  // --- Message helpers. `base` is the location of the object holding the field.

  void Missing(std::string_view field, const std::string& base) {
    Error(kSchema, StrCat("The field \"", field, "\" is required but was missing"), base);
  }
  void NotSupported(std::string_view field, const std::string& base) {
    Error(kSchema, StrCat("Field '", field, "' is not supported"), base);
  }
  void ValueError(std::string_view field, std::string_view what, const std::string& base) {
    Error(kSchema, StrCat("The value for the field '", field, "' must be ", what),
          FieldLocation(base, field));
  }
  void EnumError(std::string_view field, const FieldList& values, std::string location) {
    Error(kSchema,
          StrCat("The field \"", field, "\" should have one of these values: [", Join(values, ", "),
                 "]"),
          std::move(location));
  }
  void Exclusive(std::string_view a, std::string_view b, const std::string& base) {
    Error(kSchema, StrCat("The fields \"", a, "\" and \"", b, "\" are mutually exclusive"), base);
  }

  // Reports every field of `obj` not in `allowed`.
  void CheckFields(const Json& obj, const std::string& base, const FieldList& allowed) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (!Contains(allowed, it.key())) NotSupported(it.key(), base);
    }
  }

  // --- Typed field readers; each reports a wrong type and returns nullptr/nullopt.

  const std::string* StringField(const Json& obj, std::string_view field, const std::string& base,
                                 bool required) {
    const Json* v = Find(obj, field);
    if (v == nullptr) {
      if (required) Missing(field, base);
      return nullptr;
    }
    if (!v->is_string()) {
      ValueError(field, "a string", base);
      return nullptr;
    }
    return &v->get_ref<const std::string&>();
  }

  void EnumField(const Json& obj, std::string_view field, const std::string& base,
                 const FieldList& values, bool required) {
    const std::string* v = StringField(obj, field, base, required);
    if (v != nullptr && !Contains(values, *v)) {
      EnumError(field, values, FieldLocation(base, field));
    }
  }

  // An integer in [min, max]; JSONata states may give a {% expression %} instead.
  std::optional<int64_t> IntField(const Json& obj, std::string_view field, const std::string& base,
                                  int64_t min, int64_t max, Language language) {
    const Json* v = Find(obj, field);
    if (v == nullptr) return std::nullopt;
    if (language == Language::kJsonata && IsJsonataExpression(*v)) return std::nullopt;
    std::optional<int64_t> n;
    if (v->is_number_unsigned()) {
      const uint64_t u = v->get<uint64_t>();
      n = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
              ? std::numeric_limits<int64_t>::max()
              : static_cast<int64_t>(u);
    } else if (v->is_number_integer()) {
      n = v->get<int64_t>();
    }
    if (!n || *n < min || *n > max) {
      ValueError(field,
                 max == std::numeric_limits<int64_t>::max()
                     ? StrCat("an integer greater than or equal to ", min)
                     : StrCat("an integer between ", min, " and ", max),
                 base);
      return std::nullopt;
    }
    return n;
  }

  void NumberField(const Json& obj, std::string_view field, const std::string& base, int64_t min,
                   int64_t max, Language language) {
    const Json* v = Find(obj, field);
    if (v == nullptr) return;
    if (language == Language::kJsonata && IsJsonataExpression(*v)) return;
    if (!v->is_number() || !(v->get<double>() >= static_cast<double>(min)) ||
        !(v->get<double>() <= static_cast<double>(max))) {
      ValueError(field, StrCat("a number between ", min, " and ", max), base);
    }
  }

  void PathField(const Json& obj, std::string_view field, const std::string& base, PathRules rules,
                 bool nullable) {
    const Json* v = Find(obj, field);
    if (v == nullptr || (nullable && v->is_null())) return;
    if (!v->is_string() || !IsValidPath(v->get_ref<const std::string&>(), rules)) {
      ValueError(field, "a valid JSONPath", base);
    }
  }

  // Path-or-intrinsic fields such as Fail's ErrorPath and CausePath.
  void DynamicField(const Json& obj, std::string_view field, const std::string& base) {
    const Json* v = Find(obj, field);
    if (v == nullptr) return;
    if (!v->is_string() || !DynamicValueProblem(v->get_ref<const std::string&>()).empty()) {
      ValueError(field, "a valid JSONPath or a valid intrinsic function call", base);
    }
  }

  // --- Payload templates (Parameters, ResultSelector, ItemSelector, ...), JSONPath only.

  void ObjectTemplateField(const Json& obj, std::string_view field, const std::string& base) {
    const Json* v = Find(obj, field);
    if (v == nullptr) return;
    if (!v->is_object()) {
      ValueError(field, "an object", base);
      return;
    }
    PayloadTemplate(*v, FieldLocation(base, field), 0);
  }

  void PayloadTemplate(const Json& v, const std::string& location, int depth) {
    if (depth > kMaxWalkDepth) return;
    if (v.is_array()) {
      for (size_t i = 0; i < v.size(); ++i) {
        PayloadTemplate(v[i], IndexLocation(location, i), depth + 1);
      }
      return;
    }
    if (!v.is_object()) return;
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string& key = it.key();
      const Json& value = it.value();
      if (key.ends_with(".$")) {
        DynamicTemplateValue(key, value, location);
      } else {
        if (value.is_string() && LooksDynamic(value.get_ref<const std::string&>())) {
          Warning(kNoDollar,
                  StrCat("The value of the field '", key,
                         "' looks like a JSONPath or an intrinsic function, but the field "
                         "name does not end with '.$'"),
                  FieldLocation(location, key));
        }
        PayloadTemplate(value, FieldLocation(location, key), depth + 1);
      }
    }
  }

  void DynamicTemplateValue(const std::string& key, const Json& value,
                            const std::string& location) {
    if (!value.is_string()) {
      ValueError(key, "a string that contains a JSONPath or an intrinsic function", location);
      return;
    }
    const std::string problem = DynamicValueProblem(value.get_ref<const std::string&>());
    if (!problem.empty()) {
      ValueError(key, StrCat("a valid JSONPath or a valid intrinsic function call (", problem, ")"),
                 location);
    }
  }

  // Whether a Pass state's static Result has ".$" fields, which are not evaluated.
  static bool HasDynamicKeys(const Json& v, int depth) {
    if (depth > kMaxWalkDepth) return false;
    if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (it.key().ends_with(".$") || HasDynamicKeys(it.value(), depth + 1)) return true;
      }
    } else if (v.is_array()) {
      for (const Json& e : v) {
        if (HasDynamicKeys(e, depth + 1)) return true;
      }
    }
    return false;
  }

  void AssignField(const Json& obj, const std::string& base, Language language) {
    const Json* v = Find(obj, "Assign");
    if (v == nullptr) return;
    if (!v->is_object()) {
      ValueError("Assign", "an object", base);
      return;
    }
    const std::string location = FieldLocation(base, "Assign");
    for (auto it = v->begin(); it != v->end(); ++it) {
      std::string_view name = it.key();
      const bool dynamic = language == Language::kJsonPath && name.ends_with(".$");
      if (dynamic) name.remove_suffix(2);
      if (!IsVariableName(name)) {
        Error(kSchema, StrCat("The variable name '", name, "' is not valid"),
              FieldLocation(location, it.key()));
        continue;
      }
      if (language != Language::kJsonPath) continue;
      if (dynamic) {
        DynamicTemplateValue(it.key(), it.value(), location);
      } else {
        PayloadTemplate(it.value(), FieldLocation(location, it.key()), 1);
      }
    }
  }

  // --- State machines.

  void Machine(const Json& m, const std::string& location, MachineKind kind, int depth) {
    if (depth > kMaxMachineNesting) {
      Error(kTooDeeplyNested, "The states are too deeply nested", location);
      return;
    }
    FieldList allowed = {"StartAt", "States", "Comment"};
    if (kind == MachineKind::kRoot) {
      allowed.insert(allowed.end(), {"Version", "TimeoutSeconds", "QueryLanguage"});
    } else if (kind == MachineKind::kProcessor) {
      allowed.push_back("ProcessorConfig");
    }
    CheckFields(m, location, allowed);
    StringField(m, "Comment", location, false);
    if (kind == MachineKind::kRoot) {
      StringField(m, "Version", location, false);
      IntField(m, "TimeoutSeconds", location, 1, kMaxSeconds, Language::kJsonPath);
    }
    const std::string* start_at = StringField(m, "StartAt", location, true);

    std::vector<StateNode> nodes;
    const Json* states = Find(m, "States");
    const std::string states_location = FieldLocation(location, "States");
    if (states == nullptr) {
      Missing("States", location);
    } else if (!states->is_object()) {
      ValueError("States", "an object", location);
    } else if (states->empty()) {
      Error(kSchema, "The field \"States\" must contain at least one state", states_location);
    } else {
      for (const std::string& name : StateNames(*states, states_location)) {
        const std::string state_location = FieldLocation(states_location, name);
        if (name.empty() || Utf8Length(name) > kMaxStateNameLength) {
          Error(kInvalidStateName,
                StrCat("State names must be between 1 and ", kMaxStateNameLength,
                       " characters long: '", name, "'"),
                state_location);
        }
        if (!seen_names_.insert(name).second) {
          Error(kDuplicateStateName, StrCat("Duplicate state name: ", name), state_location);
        }
        nodes.push_back(State(name, *states->find(name), state_location, depth));
      }
    }
    Graph(nodes, start_at, location);
  }

  // The names in `states` in the order they were written, when the scan recorded it.
  // (A state name containing '/' can make two objects share a location; the order is
  // used only when it names exactly the states of this object.)
  std::vector<std::string> StateNames(const Json& states, const std::string& location) const {
    if (state_order_ != nullptr) {
      const auto it = state_order_->find(location);
      if (it != state_order_->end() && it->second.size() == states.size()) {
        bool all_present = true;
        for (const std::string& name : it->second) {
          all_present = all_present && states.find(name) != states.end();
        }
        if (all_present) return it->second;
      }
    }
    std::vector<std::string> names;
    for (auto it = states.begin(); it != states.end(); ++it) names.push_back(it.key());
    return names;
  }

  void Graph(const std::vector<StateNode>& nodes, const std::string* start_at,
             const std::string& location) {
    std::unordered_map<std::string_view, size_t> index;
    for (size_t i = 0; i < nodes.size(); ++i) index.emplace(nodes[i].name, i);
    bool start_known = false;
    if (start_at != nullptr) {
      start_known = index.count(*start_at) > 0;
      if (!start_known && !nodes.empty()) {
        Error(kMissingTarget, StrCat("Missing 'StartAt' target: ", *start_at),
              FieldLocation(location, "StartAt"));
      }
    }
    for (const StateNode& node : nodes) {
      for (const Edge& edge : node.edges) {
        if (index.count(edge.target) == 0) {
          Error(kMissingTarget, StrCat("Missing 'Next' target: ", edge.target), edge.location);
        }
      }
    }
    if (nodes.empty()) return;
    bool any_terminal = false;
    for (const StateNode& node : nodes) any_terminal = any_terminal || node.terminal;
    if (!any_terminal) {
      // AWS reports this alone, without walking for unreachable states.
      Error(kMissingEndState, "Workflow has no terminal state", location);
      return;
    }
    if (!start_known) return;
    std::vector<bool> reached(nodes.size(), false);
    std::vector<size_t> pending = {index.at(*start_at)};
    reached[pending.back()] = true;
    while (!pending.empty()) {
      const size_t current = pending.back();
      pending.pop_back();
      for (const Edge& edge : nodes[current].edges) {
        const auto it = index.find(edge.target);
        if (it != index.end() && !reached[it->second]) {
          reached[it->second] = true;
          pending.push_back(it->second);
        }
      }
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (!reached[i]) {
        Error(kMissingTarget, StrCat("State \"", nodes[i].name, "\" is not reachable."),
              nodes[i].location);
      }
    }
  }

  // --- States.

  Language StateLanguage(const Json& state, const std::string& location) {
    const Json* q = Find(state, "QueryLanguage");
    if (q == nullptr) return machine_language_;
    const std::string* value = q->is_string() ? &q->get_ref<const std::string&>() : nullptr;
    if (value != nullptr && *value == "JSONata") return Language::kJsonata;
    if (value == nullptr || *value != "JSONPath") {
      EnumError("QueryLanguage", {"JSONPath", "JSONata"}, FieldLocation(location, "QueryLanguage"));
      return machine_language_;
    }
    if (machine_language_ == Language::kJsonata) {
      Error(kSchema,
            "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
            location);
    }
    return Language::kJsonPath;
  }

  void CheckStateFields(const Json& state, const std::string& location, const TypeFields& type,
                        Language language) {
    const FieldList& mine =
        language == Language::kJsonPath ? type.jsonpath_only : type.jsonata_only;
    const FieldList& other =
        language == Language::kJsonPath ? type.jsonata_only : type.jsonpath_only;
    const Language other_language =
        language == Language::kJsonPath ? Language::kJsonata : Language::kJsonPath;
    for (auto it = state.begin(); it != state.end(); ++it) {
      const std::string& key = it.key();
      if (key == "Type" || key == "Comment" || key == "QueryLanguage" || Contains(type.both, key) ||
          Contains(mine, key)) {
        continue;
      }
      if (Contains(other, key)) {
        Error(kSchema,
              StrCat("The QueryLanguage is set to '", LanguageName(language), "', but field '", key,
                     "' is only supported for the '", LanguageName(other_language),
                     "' QueryLanguage"),
              location);
      } else {
        NotSupported(key, location);
      }
    }
  }

  StateNode State(const std::string& name, const Json& state, const std::string& location,
                  int depth) {
    StateNode node{name, location, {}, false};
    if (!state.is_object()) {
      Error(kSchema, "A state must be a JSON object", location);
      node.terminal = true;
      return node;
    }
    const TypeFields* type = nullptr;
    if (const Json* t = Find(state, "Type"); t == nullptr) {
      Missing("Type", location);
    } else if (!t->is_string() || (type = FindType(t->get_ref<const std::string&>())) == nullptr) {
      EnumError("Type", {"Task", "Wait", "Pass", "Succeed", "Fail", "Choice", "Parallel", "Map"},
                FieldLocation(location, "Type"));
    }
    const Language language = StateLanguage(state, location);
    StringField(state, "Comment", location, false);
    if (type == nullptr) {
      // Without a type nothing else can be judged; keep its transition so that its target
      // does not also look unreachable.
      if (const Json* next = Find(state, "Next"); next != nullptr && next->is_string()) {
        node.edges.push_back({next->get<std::string>(), FieldLocation(location, "Next")});
      }
      node.terminal = true;
      return node;
    }
    CheckStateFields(state, location, *type, language);
    const StateType kind = type->type;
    const bool jsonpath = language == Language::kJsonPath;

    if (jsonpath && kind != StateType::kFail) {
      PathField(state, "InputPath", location, kDataPath, true);
      PathField(state, "OutputPath", location, kDataPath, true);
    }
    const bool has_result = kind == StateType::kPass || kind == StateType::kTask ||
                            kind == StateType::kParallel || kind == StateType::kMap;
    if (jsonpath && has_result) {
      PathField(state, "ResultPath", location, kResultPath, true);
      if (kind != StateType::kMap) ObjectTemplateField(state, "Parameters", location);
      if (kind != StateType::kPass) ObjectTemplateField(state, "ResultSelector", location);
    }
    if (!jsonpath && (kind == StateType::kTask || kind == StateType::kParallel)) {
      const Json* arguments = Find(state, "Arguments");
      if (arguments != nullptr && !arguments->is_object() && !IsJsonataExpression(*arguments)) {
        ValueError("Arguments", "an object or a JSONata expression", location);
      }
    }
    if (kind != StateType::kSucceed && kind != StateType::kFail) {
      AssignField(state, location, language);
    }
    if (kind == StateType::kTask || kind == StateType::kParallel || kind == StateType::kMap) {
      if (const Json* retry = Find(state, "Retry")) {
        Retriers(*retry, FieldLocation(location, "Retry"));
      }
      if (const Json* catchers = Find(state, "Catch")) {
        Catchers(*catchers, FieldLocation(location, "Catch"), language, &node);
      }
    }

    switch (kind) {
      case StateType::kPass:
        PassState(state, location, language);
        break;
      case StateType::kTask:
        TaskState(state, location, language);
        break;
      case StateType::kChoice:
        ChoiceState(state, location, language, &node);
        break;
      case StateType::kWait:
        WaitState(state, location, language);
        break;
      case StateType::kSucceed:
        break;
      case StateType::kFail:
        FailState(state, location, language);
        break;
      case StateType::kParallel:
        ParallelState(state, location, depth);
        break;
      case StateType::kMap:
        MapState(state, location, language, depth);
        break;
    }

    if (kind == StateType::kSucceed || kind == StateType::kFail) {
      node.terminal = true;
    } else if (kind != StateType::kChoice) {
      NextOrEnd(state, location, &node);
    }
    return node;
  }

  void NextOrEnd(const Json& state, const std::string& location, StateNode* node) {
    const Json* next = Find(state, "Next");
    const Json* end = Find(state, "End");
    bool end_true = false;
    if (end != nullptr) {
      if (end->is_boolean()) {
        end_true = end->get<bool>();
      } else {
        ValueError("End", "a boolean", location);
      }
    }
    if (next != nullptr && !next->is_string()) ValueError("Next", "a string", location);
    if (next != nullptr && end_true) {
      Exclusive("Next", "End", location);
    } else if (next == nullptr && !end_true && (end == nullptr || end->is_boolean())) {
      Missing("Next", location);
    }
    if (next != nullptr && next->is_string()) {
      node->edges.push_back({next->get<std::string>(), FieldLocation(location, "Next")});
    }
    node->terminal = end_true || next == nullptr;
  }

  void CheckErrorEquals(const Json& obj, const std::string& location, bool last,
                        std::string_view list) {
    const Json* errors = Find(obj, "ErrorEquals");
    if (errors == nullptr) {
      Missing("ErrorEquals", location);
      return;
    }
    if (!errors->is_array() || errors->empty()) {
      ValueError("ErrorEquals", "a non-empty array of error names", location);
      return;
    }
    const std::string errors_location = FieldLocation(location, "ErrorEquals");
    bool catch_all = false;
    for (size_t i = 0; i < errors->size(); ++i) {
      const Json& e = (*errors)[i];
      if (!e.is_string() || e.get_ref<const std::string&>().empty()) {
        Error(kSchema, "Error names in 'ErrorEquals' must be non-empty strings",
              IndexLocation(errors_location, i));
      } else if (e.get_ref<const std::string&>() == "States.ALL") {
        catch_all = true;
      }
    }
    if (catch_all && errors->size() > 1) {
      Error(kSchema, "'States.ALL' must appear alone in 'ErrorEquals'", errors_location);
    }
    if (catch_all && !last) {
      Error(kSchema,
            StrCat("The element of '", list,
                   "' whose 'ErrorEquals' contains 'States.ALL' must be the last one"),
            errors_location);
    }
  }

  void Retriers(const Json& retry, const std::string& location) {
    if (!retry.is_array()) {
      Error(kSchema, "The value for the field 'Retry' must be an array", location);
      return;
    }
    for (size_t i = 0; i < retry.size(); ++i) {
      const Json& r = retry[i];
      const std::string at = IndexLocation(location, i);
      if (!r.is_object()) {
        Error(kSchema, "A retrier must be a JSON object", at);
        continue;
      }
      CheckFields(r, at,
                  {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate",
                   "MaxDelaySeconds", "JitterStrategy", "Comment"});
      CheckErrorEquals(r, at, i + 1 == retry.size(), "Retry");
      IntField(r, "IntervalSeconds", at, 1, kMaxSeconds, Language::kJsonPath);
      IntField(r, "MaxAttempts", at, 0, kMaxSeconds, Language::kJsonPath);
      if (const Json* rate = Find(r, "BackoffRate");
          rate != nullptr && (!rate->is_number() || !(rate->get<double>() >= 1.0) ||
                              !std::isfinite(rate->get<double>()))) {
        ValueError("BackoffRate", "a number greater than or equal to 1.0", at);
      }
      IntField(r, "MaxDelaySeconds", at, 1, kMaxDelaySeconds, Language::kJsonPath);
      EnumField(r, "JitterStrategy", at, {"FULL", "NONE"}, false);
      StringField(r, "Comment", at, false);
    }
  }

  void Catchers(const Json& catchers, const std::string& location, Language language,
                StateNode* node) {
    if (!catchers.is_array()) {
      Error(kSchema, "The value for the field 'Catch' must be an array", location);
      return;
    }
    for (size_t i = 0; i < catchers.size(); ++i) {
      const Json& c = catchers[i];
      const std::string at = IndexLocation(location, i);
      if (!c.is_object()) {
        Error(kSchema, "A catcher must be a JSON object", at);
        continue;
      }
      FieldList allowed = {"ErrorEquals", "Next", "Comment", "Assign"};
      allowed.push_back(language == Language::kJsonPath ? "ResultPath" : "Output");
      CheckFields(c, at, allowed);
      CheckErrorEquals(c, at, i + 1 == catchers.size(), "Catch");
      if (const std::string* next = StringField(c, "Next", at, true)) {
        node->edges.push_back({*next, FieldLocation(at, "Next")});
      }
      if (language == Language::kJsonPath) PathField(c, "ResultPath", at, kResultPath, true);
      AssignField(c, at, language);
      StringField(c, "Comment", at, false);
    }
  }

  void PassState(const Json& state, const std::string& location, Language language) {
    if (language != Language::kJsonPath) return;
    if (const Json* result = Find(state, "Result");
        result != nullptr && HasDynamicKeys(*result, 0)) {
      Warning(kPassResultIsStatic,
              "The 'Result' of a Pass state is static: fields ending in '.$' are not evaluated; "
              "use 'Parameters' for paths and intrinsic functions",
              FieldLocation(location, "Result"));
    }
  }

  void TaskState(const Json& state, const std::string& location, Language language) {
    if (const Json* resource = Find(state, "Resource"); resource == nullptr) {
      Missing("Resource", location);
    } else if (!resource->is_string()) {
      ValueError("Resource", "a string", location);
    } else if (!IsValidArn(resource->get_ref<const std::string&>())) {
      Error(kInvalidResource,
            StrCat("The value for the field 'Resource' must be a valid ARN: '",
                   resource->get_ref<const std::string&>(), "'"),
            FieldLocation(location, "Resource"));
    }
    const std::optional<int64_t> timeout =
        IntField(state, "TimeoutSeconds", location, 1, kMaxSeconds, language);
    const std::optional<int64_t> heartbeat =
        IntField(state, "HeartbeatSeconds", location, 1, kMaxSeconds, language);
    if (language == Language::kJsonPath) {
      PathField(state, "TimeoutSecondsPath", location, kReadReference, false);
      PathField(state, "HeartbeatSecondsPath", location, kReadReference, false);
      if (Find(state, "TimeoutSeconds") && Find(state, "TimeoutSecondsPath")) {
        Exclusive("TimeoutSeconds", "TimeoutSecondsPath", location);
      }
      if (Find(state, "HeartbeatSeconds") && Find(state, "HeartbeatSecondsPath")) {
        Exclusive("HeartbeatSeconds", "HeartbeatSecondsPath", location);
      }
    }
    if (timeout && heartbeat && *heartbeat >= *timeout) {
      Error(kSchema,
            "The value for the field 'HeartbeatSeconds' must be smaller than the value for the "
            "field 'TimeoutSeconds'",
            FieldLocation(location, "HeartbeatSeconds"));
    }
    if (const Json* credentials = Find(state, "Credentials")) {
      const std::string at = FieldLocation(location, "Credentials");
      if (!credentials->is_object()) {
        ValueError("Credentials", "an object", location);
        return;
      }
      FieldList allowed = {"RoleArn"};
      if (language == Language::kJsonPath) allowed.push_back("RoleArn.$");
      CheckFields(*credentials, at, allowed);
      const bool fixed = Find(*credentials, "RoleArn") != nullptr;
      const Json* dynamic = Find(*credentials, "RoleArn.$");
      if (fixed && dynamic != nullptr) {
        Exclusive("RoleArn", "RoleArn.$", at);
      } else if (!fixed && dynamic == nullptr) {
        Missing("RoleArn", at);
      }
      StringField(*credentials, "RoleArn", at, false);
      if (dynamic != nullptr && language == Language::kJsonPath) {
        DynamicTemplateValue("RoleArn.$", *dynamic, at);
      }
    }
  }

  void WaitState(const Json& state, const std::string& location, Language language) {
    FieldList waits = {"Seconds", "Timestamp"};
    if (language == Language::kJsonPath)
      waits.insert(waits.end(), {"SecondsPath", "TimestampPath"});
    int present = 0;
    for (std::string_view field : waits) present += Find(state, field) != nullptr ? 1 : 0;
    if (present != 1) {
      Error(kSchema, StrCat("Exactly one of these fields must be set: [", Join(waits, ", "), "]"),
            location);
    }
    IntField(state, "Seconds", location, 0, kMaxSeconds, language);
    if (const Json* ts = Find(state, "Timestamp")) {
      const bool expression = language == Language::kJsonata && IsJsonataExpression(*ts);
      if (!expression &&
          (!ts->is_string() || !IsValidTimestamp(ts->get_ref<const std::string&>()))) {
        ValueError("Timestamp", "a valid RFC 3339 timestamp, such as 2016-03-14T01:59:00Z",
                   location);
      }
    }
    if (language == Language::kJsonPath) {
      PathField(state, "SecondsPath", location, kReadReference, false);
      PathField(state, "TimestampPath", location, kReadReference, false);
    }
  }

  void FailState(const Json& state, const std::string& location, Language language) {
    for (std::string_view field : {"Error", "Cause"}) {
      const std::string* text = StringField(state, field, location, false);
      if (language != Language::kJsonPath) continue;
      const std::string path_field = StrCat(field, "Path");
      if (Find(state, field) != nullptr && Find(state, path_field) != nullptr) {
        Exclusive(field, path_field, location);
      }
      DynamicField(state, path_field, location);
      if (text != nullptr && LooksLikePath(*text)) {
        Warning(kNoPath,
                StrCat("The value of the field '", field,
                       "' looks like a path, but the field "
                       "name does not end with 'Path'"),
                FieldLocation(location, field));
      }
    }
  }

  void ChoiceState(const Json& state, const std::string& location, Language language,
                   StateNode* node) {
    const Json* choices = Find(state, "Choices");
    if (choices == nullptr) {
      Missing("Choices", location);
    } else if (!choices->is_array() || choices->empty()) {
      ValueError("Choices", "a non-empty array of choice rules", location);
    } else {
      const std::string choices_location = FieldLocation(location, "Choices");
      for (size_t i = 0; i < choices->size(); ++i) {
        ChoiceRule((*choices)[i], IndexLocation(choices_location, i), true, language, 0, node);
      }
    }
    if (const std::string* target = StringField(state, "Default", location, false)) {
      node->edges.push_back({*target, FieldLocation(location, "Default")});
    }
  }

  void ChoiceRule(const Json& rule, const std::string& location, bool top, Language language,
                  int depth, StateNode* node) {
    if (depth > kMaxWalkDepth) {
      Error(kTooDeeplyNested, "Choice rules are nested too deeply", location);
      return;
    }
    if (!rule.is_object()) {
      Error(kSchema, "A choice rule must be a JSON object", location);
      return;
    }
    if (top) {
      if (const std::string* next = StringField(rule, "Next", location, true)) {
        node->edges.push_back({*next, FieldLocation(location, "Next")});
      }
      AssignField(rule, location, language);
    }
    StringField(rule, "Comment", location, false);

    if (language == Language::kJsonata) {
      FieldList allowed = {"Condition", "Comment"};
      if (top) allowed.insert(allowed.end(), {"Next", "Assign", "Output"});
      CheckFields(rule, location, allowed);
      const Json* condition = Find(rule, "Condition");
      if (condition == nullptr) {
        Missing("Condition", location);
      } else if (!condition->is_boolean() && !IsJsonataExpression(*condition)) {
        ValueError("Condition", "a JSONata expression enclosed in {% %}", location);
      }
      return;
    }

    std::vector<std::string_view> operators;
    for (auto it = rule.begin(); it != rule.end(); ++it) {
      const std::string& key = it.key();
      if (key == "And" || key == "Or" || key == "Not" || FindOperator(key) != nullptr) {
        operators.push_back(key);
      } else if (key != "Variable" && key != "Comment" &&
                 !(top && (key == "Next" || key == "Assign"))) {
        NotSupported(key, location);
      }
    }
    if (operators.size() != 1) {
      Error(kSchema,
            operators.empty()
                ? "A choice rule must contain a comparison operator, or one of 'And', 'Or' "
                  "and 'Not'"
                : StrCat("A choice rule must contain exactly one comparison operator, found: ",
                         Join(operators, ", ")),
            location);
      return;
    }
    const std::string_view op = operators.front();
    const Json& operand = *Find(rule, op);
    if (op == "And" || op == "Or" || op == "Not") {
      if (Find(rule, "Variable") != nullptr) NotSupported("Variable", location);
      const std::string at = FieldLocation(location, op);
      if (op == "Not") {
        ChoiceRule(operand, at, false, language, depth + 1, node);
      } else if (!operand.is_array() || operand.empty()) {
        ValueError(op, "a non-empty array of choice rules", location);
      } else {
        for (size_t i = 0; i < operand.size(); ++i) {
          ChoiceRule(operand[i], IndexLocation(at, i), false, language, depth + 1, node);
        }
      }
      return;
    }

    const Json* variable = Find(rule, "Variable");
    if (variable == nullptr) {
      Missing("Variable", location);
    } else if (!variable->is_string() ||
               !IsValidPath(variable->get_ref<const std::string&>(), kDataPath)) {
      ValueError("Variable", "a valid JSONPath", location);
    }
    switch (FindOperator(op)->operand) {
      case Operand::kString:
        if (!operand.is_string()) {
          ValueError(op, "a string", location);
        } else if (LooksLikePath(operand.get_ref<const std::string&>())) {
          Warning(kNoPath,
                  StrCat("The value of the field '", op,
                         "' looks like a path, but the field "
                         "name does not end with 'Path'"),
                  FieldLocation(location, op));
        }
        break;
      case Operand::kNumber:
        if (!operand.is_number()) ValueError(op, "a number", location);
        break;
      case Operand::kBoolean:
      case Operand::kTypeTest:
        if (!operand.is_boolean()) ValueError(op, "a boolean", location);
        break;
      case Operand::kTimestamp:
        if (!operand.is_string() || !IsValidTimestamp(operand.get_ref<const std::string&>())) {
          ValueError(op, "a valid RFC 3339 timestamp, such as 2016-03-14T01:59:00Z", location);
        }
        break;
      case Operand::kPath:
        if (!operand.is_string() ||
            !IsValidPath(operand.get_ref<const std::string&>(), kReadReference)) {
          ValueError(op, "a valid JSONPath", location);
        }
        break;
    }
  }

  void ParallelState(const Json& state, const std::string& location, int depth) {
    const Json* branches = Find(state, "Branches");
    if (branches == nullptr) {
      Missing("Branches", location);
      return;
    }
    if (!branches->is_array() || branches->empty()) {
      ValueError("Branches", "a non-empty array of state machines", location);
      return;
    }
    const std::string branches_location = FieldLocation(location, "Branches");
    for (size_t i = 0; i < branches->size(); ++i) {
      const std::string at = IndexLocation(branches_location, i);
      if (!(*branches)[i].is_object()) {
        Error(kSchema, "A branch must be a JSON object with 'StartAt' and 'States'", at);
        continue;
      }
      Machine((*branches)[i], at, MachineKind::kBranch, depth + 1);
    }
  }

  void MapState(const Json& state, const std::string& location, Language language, int depth) {
    const bool jsonpath = language == Language::kJsonPath;
    const Json* processor = Find(state, "ItemProcessor");
    const Json* iterator = Find(state, "Iterator");
    bool distributed = false;
    if (processor != nullptr && iterator != nullptr) {
      Exclusive("ItemProcessor", "Iterator", location);
    } else if (processor == nullptr && iterator == nullptr) {
      Missing("ItemProcessor", location);
    }
    if (const Json* p = processor != nullptr ? processor : iterator) {
      const std::string_view field = processor != nullptr ? "ItemProcessor" : "Iterator";
      const std::string at = FieldLocation(location, field);
      if (!p->is_object()) {
        ValueError(field, "an object with 'StartAt' and 'States'", location);
      } else {
        distributed = ProcessorConfig(*p, at);
        Machine(*p, at, MachineKind::kProcessor, depth + 1);
      }
    }

    if (jsonpath) {
      if (Find(state, "Parameters") != nullptr && Find(state, "ItemSelector") != nullptr) {
        Exclusive("ItemSelector", "Parameters", location);
      }
      ObjectTemplateField(state, "Parameters", location);
      ObjectTemplateField(state, "ItemSelector", location);
      PathField(state, "ItemsPath", location, kReadReference, false);
    } else {
      if (const Json* items = Find(state, "Items");
          items != nullptr && !items->is_array() && !IsJsonataExpression(*items)) {
        ValueError("Items", "an array or a JSONata expression", location);
      }
      if (const Json* selector = Find(state, "ItemSelector");
          selector != nullptr && !selector->is_object() && !IsJsonataExpression(*selector)) {
        ValueError("ItemSelector", "an object or a JSONata expression", location);
      }
    }

    IntField(state, "MaxConcurrency", location, 0, std::numeric_limits<int64_t>::max(), language);
    NumberField(state, "ToleratedFailurePercentage", location, 0, 100, language);
    IntField(state, "ToleratedFailureCount", location, 0, std::numeric_limits<int64_t>::max(),
             language);
    if (jsonpath) {
      for (std::string_view field :
           {"MaxConcurrency", "ToleratedFailurePercentage", "ToleratedFailureCount"}) {
        const std::string path_field = StrCat(field, "Path");
        PathField(state, path_field, location, kReadReference, false);
        if (Find(state, field) != nullptr && Find(state, path_field) != nullptr) {
          Exclusive(field, path_field, location);
        }
      }
    }
    if (const std::string* label = StringField(state, "Label", location, false);
        label != nullptr && (label->empty() || Utf8Length(*label) > kMaxLabelLength)) {
      ValueError("Label", StrCat("between 1 and ", kMaxLabelLength, " characters long"), location);
    }

    if (!distributed) {
      for (std::string_view field :
           {"ItemReader", "ItemBatcher", "ResultWriter", "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath", "ToleratedFailureCount", "ToleratedFailureCountPath",
            "Label"}) {
        if (Find(state, field) != nullptr) {
          Error(kSchema,
                StrCat("Field '", field,
                       "' is only supported when the ProcessorConfig 'Mode' is 'DISTRIBUTED'"),
                location);
        }
      }
    }
    if (const Json* reader = Find(state, "ItemReader")) {
      ItemReader(*reader, FieldLocation(location, "ItemReader"), language);
    }
    if (const Json* batcher = Find(state, "ItemBatcher")) {
      ItemBatcher(*batcher, FieldLocation(location, "ItemBatcher"), language);
    }
    if (const Json* writer = Find(state, "ResultWriter")) {
      ResultWriter(*writer, FieldLocation(location, "ResultWriter"), language);
    }
  }

  // Checks an ItemProcessor's ProcessorConfig; true when its mode is DISTRIBUTED.
  bool ProcessorConfig(const Json& processor, const std::string& location) {
    const Json* config = Find(processor, "ProcessorConfig");
    if (config == nullptr) return false;
    if (!config->is_object()) {
      ValueError("ProcessorConfig", "an object", location);
      return false;
    }
    const std::string at = FieldLocation(location, "ProcessorConfig");
    CheckFields(*config, at, {"Mode", "ExecutionType"});
    EnumField(*config, "Mode", at, {"INLINE", "DISTRIBUTED"}, false);
    EnumField(*config, "ExecutionType", at, {"STANDARD", "EXPRESS"}, false);
    const Json* mode = Find(*config, "Mode");
    const bool distributed = mode != nullptr && *mode == "DISTRIBUTED";
    if (distributed && Find(*config, "ExecutionType") == nullptr) Missing("ExecutionType", at);
    return distributed;
  }

  void PayloadField(const Json& obj, const std::string& location, Language language) {
    if (language == Language::kJsonPath) {
      ObjectTemplateField(obj, "Parameters", location);
    } else if (const Json* arguments = Find(obj, "Arguments"); arguments != nullptr &&
                                                               !arguments->is_object() &&
                                                               !IsJsonataExpression(*arguments)) {
      ValueError("Arguments", "an object or a JSONata expression", location);
    }
  }

  void ItemReader(const Json& reader, const std::string& location, Language language) {
    if (!reader.is_object()) {
      Error(kSchema, "The value for the field 'ItemReader' must be an object", location);
      return;
    }
    CheckFields(
        reader, location,
        {"Resource", "ReaderConfig", language == Language::kJsonPath ? "Parameters" : "Arguments"});
    if (const std::string* resource = StringField(reader, "Resource", location, true);
        resource != nullptr && !IsStatesIntegration(*resource, "s3:getObject") &&
        !IsStatesIntegration(*resource, "s3:listObjectsV2")) {
      ValueError("Resource", "arn:aws:states:::s3:getObject or arn:aws:states:::s3:listObjectsV2",
                 location);
    }
    PayloadField(reader, location, language);
    const Json* config = Find(reader, "ReaderConfig");
    if (config == nullptr) return;
    if (!config->is_object()) {
      ValueError("ReaderConfig", "an object", location);
      return;
    }
    const std::string at = FieldLocation(location, "ReaderConfig");
    FieldList allowed = {"InputType",    "CSVHeaderLocation", "CSVHeaders",
                         "CSVDelimiter", "MaxItems",          "ManifestType"};
    if (language == Language::kJsonPath) allowed.push_back("MaxItemsPath");
    CheckFields(*config, at, allowed);
    EnumField(*config, "InputType", at, {"CSV", "JSON", "JSONL", "MANIFEST", "PARQUET"}, false);
    EnumField(*config, "CSVHeaderLocation", at, {"FIRST_ROW", "GIVEN"}, false);
    EnumField(*config, "CSVDelimiter", at, {"COMMA", "PIPE", "SEMICOLON", "SPACE", "TAB"}, false);
    StringField(*config, "ManifestType", at, false);
    const Json* headers = Find(*config, "CSVHeaders");
    if (headers != nullptr) {
      bool ok = headers->is_array() && !headers->empty();
      if (ok) {
        for (const Json& h : *headers) ok = ok && h.is_string();
      }
      if (!ok) ValueError("CSVHeaders", "a non-empty array of strings", at);
    }
    if (const Json* where = Find(*config, "CSVHeaderLocation");
        where != nullptr && *where == "GIVEN" && headers == nullptr) {
      Missing("CSVHeaders", at);
    }
    IntField(*config, "MaxItems", at, 0, kMaxReaderItems, language);
    if (language == Language::kJsonPath) {
      PathField(*config, "MaxItemsPath", at, kReadReference, false);
      if (Find(*config, "MaxItems") != nullptr && Find(*config, "MaxItemsPath") != nullptr) {
        Exclusive("MaxItems", "MaxItemsPath", at);
      }
    }
  }

  void ItemBatcher(const Json& batcher, const std::string& location, Language language) {
    if (!batcher.is_object()) {
      Error(kSchema, "The value for the field 'ItemBatcher' must be an object", location);
      return;
    }
    FieldList limits = {"MaxItemsPerBatch", "MaxInputBytesPerBatch"};
    if (language == Language::kJsonPath) {
      limits.insert(limits.end(), {"MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath"});
    }
    FieldList allowed = limits;
    allowed.push_back("BatchInput");
    CheckFields(batcher, location, allowed);
    bool any = false;
    for (std::string_view field : limits) any = any || Find(batcher, field) != nullptr;
    if (!any) {
      Error(kSchema, StrCat("At least one of these fields must be set: [", Join(limits, ", "), "]"),
            location);
    }
    IntField(batcher, "MaxItemsPerBatch", location, 1, std::numeric_limits<int64_t>::max(),
             language);
    IntField(batcher, "MaxInputBytesPerBatch", location, 1, 262144, language);
    if (language == Language::kJsonPath) {
      PathField(batcher, "MaxItemsPerBatchPath", location, kReadReference, false);
      PathField(batcher, "MaxInputBytesPerBatchPath", location, kReadReference, false);
      ObjectTemplateField(batcher, "BatchInput", location);
    }
  }

  void ResultWriter(const Json& writer, const std::string& location, Language language) {
    if (!writer.is_object()) {
      Error(kSchema, "The value for the field 'ResultWriter' must be an object", location);
      return;
    }
    CheckFields(
        writer, location,
        {"Resource", "WriterConfig", language == Language::kJsonPath ? "Parameters" : "Arguments"});
    if (const std::string* resource = StringField(writer, "Resource", location, false);
        resource != nullptr && !IsStatesIntegration(*resource, "s3:putObject")) {
      ValueError("Resource", "arn:aws:states:::s3:putObject", location);
    }
    PayloadField(writer, location, language);
    if (const Json* config = Find(writer, "WriterConfig")) {
      const std::string at = FieldLocation(location, "WriterConfig");
      if (!config->is_object()) {
        ValueError("WriterConfig", "an object", location);
      } else {
        CheckFields(*config, at, {"OutputType", "Transformation"});
        EnumField(*config, "OutputType", at, {"JSON", "JSONL"}, false);
        EnumField(*config, "Transformation", at, {"NONE", "COMPACT", "FLATTEN"}, false);
      }
    }
  }

  const StateOrder* state_order_;
  Language machine_language_ = Language::kJsonPath;
  // Every state name seen so far: names are unique across the whole state machine,
  // nested branches and processors included.
  std::unordered_set<std::string> seen_names_;
  std::vector<Diagnostic> out_;
};

}  // namespace

std::vector<Diagnostic> ValidateDefinition(std::string_view definition_json) {
  ScanHandler scan;
  Validator validator(&scan.state_order());
  if (StripWhitespace(definition_json).empty()) {
    validator.Error(kMissingDescription, "The state machine definition is empty", "");
    return validator.Take();
  }
  Json::sax_parse(definition_json, &scan);
  if (!scan.error().empty()) {
    validator.Error(kInvalidJson, StrCat("Invalid JSON: ", scan.error()), "");
    return validator.Take();
  }
  JsonParseError parse_error = JsonParseError::kNone;
  const Json root = ParseJson(definition_json, &parse_error, kMaxStoredJsonDepth);
  if (parse_error == JsonParseError::kTooDeep) {
    validator.Error(kTooDeeplyNested,
                    StrCat("The definition nests JSON deeper than ", kMaxStoredJsonDepth, " levels"), "");
    return validator.Take();
  }
  if (root.is_discarded()) {
    validator.Error(kInvalidJson, "Invalid JSON", "");
    return validator.Take();
  }
  if (root.is_null()) {
    validator.Error(kMissingDescription, "The state machine definition is null", "");
    return validator.Take();
  }
  for (const ScanHandler::Duplicate& duplicate : scan.duplicates()) {
    validator.Error(kDuplicateStateName, StrCat("Duplicate state name: ", duplicate.name),
                    duplicate.location);
  }
  validator.Root(root);
  return validator.Take();
}

bool HasErrors(const std::vector<Diagnostic>& diagnostics) {
  for (const Diagnostic& d : diagnostics) {
    if (d.severity == kSeverityError) return true;
  }
  return false;
}

std::string InvalidDefinitionMessage(const std::vector<Diagnostic>& diagnostics) {
  std::vector<std::string> errors;
  for (const Diagnostic& d : diagnostics) {
    if (d.severity != kSeverityError) continue;
    errors.push_back(d.location.empty() ? StrCat(d.code, ": ", d.message)
                                        : StrCat(d.code, ": ", d.message, " at ", d.location));
  }
  return StrCat("Invalid State Machine Definition: '", Join(errors, ", "), "'");
}

}  // namespace sluice::states
