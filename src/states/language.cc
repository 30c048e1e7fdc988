#include <openssl/evp.h>

#include "base/json.h"
#include "base/json.h"
#include "states/language.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "base/status.h"
#include "base/ids.h"
#include "base/strings.h"

namespace sluice::states {
namespace {

// The payload that carries the ASL error name on a Status.
constexpr char kErrorPayloadUrl[] = "type.sluice.dev/states.Error";
// Bounds on recursion driven by definitions and inputs (filter nesting, nested intrinsic
// calls, payload template depth, Choice rule nesting), so hostile text cannot exhaust the
// stack. AWS's own limits (10 nested intrinsics, ...) are enforced by validation.
constexpr int kMaxNesting = 64;
constexpr int kMaxTemplateDepth = 512;
// Step Functions' limit on the string arguments of Base64Encode/Decode and Hash.
constexpr size_t kMaxIntrinsicStringChars = 10000;
constexpr int64_t kMaxArrayRangeItems = 1000;
// The longest string a filter's =~ is matched against (see PathEvaluator::Compare).
constexpr size_t kMaxRegexSubject = 4096;

// Never throws: strings with invalid UTF-8 are dumped with U+FFFD in their place.
std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

absl::Status RuntimeError(const std::string& cause) { return StatesError("States.Runtime", cause); }
absl::Status IntrinsicError(const std::string& cause) { return StatesError("States.IntrinsicFailure", cause); }

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsWordChar(char c) { return IsAlpha(c) || IsDigit(c) || c == '_'; }

// ---------------------------------------------------------------------------------------
// UTF-8

// Decodes the sequence at s[*i] and advances past it; a malformed byte decodes as U+FFFD
// and advances by one, with *ok false.
char32_t DecodeUtf8(std::string_view s, size_t* i, bool* ok) {
  *ok = true;
  unsigned char c = static_cast<unsigned char>(s[*i]);
  if (c < 0x80) {
    ++*i;
    return c;
  }
  size_t len;
  char32_t cp, min;
  if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    ++*i;
    *ok = false;
    return 0xFFFD;
  }
  if (*i + len > s.size()) {
    ++*i;
    *ok = false;
    return 0xFFFD;
  }
  for (size_t k = 1; k < len; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[*i + k]);
    if ((cc & 0xC0) != 0x80) {
      ++*i;
      *ok = false;
      return 0xFFFD;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++*i;
    *ok = false;
    return 0xFFFD;
  }
  *i += len;
  return cp;
}

void AppendUtf8(std::string* out, char32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// UTF-16 code units: Step Functions runs on the JVM, so string order (Java's compareTo) and
// "characters" in size limits are counted in UTF-16 units.
std::u16string ToUtf16(std::string_view s) {
  std::u16string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    bool ok;
    char32_t cp = DecodeUtf8(s, &i, &ok);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

size_t Utf16Length(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    bool ok;
    n += DecodeUtf8(s, &i, &ok) >= 0x10000 ? 2 : 1;
  }
  return n;
}

// Replaces malformed UTF-8 with U+FFFD, as Java does when it decodes bytes to a String.
std::string SanitizeUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    bool ok;
    AppendUtf8(&out, DecodeUtf8(s, &i, &ok));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// JSONPath: syntax tree

struct FilterExpr;

// One step of a path: ".name", "['a','b']", "[0]", "[0,2]", "[*]", "[1:3]", "[?(...)]",
// each possibly preceded by ".." (descendant).
struct Selector {
  enum class Kind { kName, kNames, kIndex, kIndexes, kWildcard, kSlice, kFilter };
  Kind kind = Kind::kName;
  bool descendant = false;
  std::vector<std::string> names;
  std::vector<int64_t> indexes;
  std::optional<int64_t> start, end;
  int64_t step = 1;
  std::shared_ptr<const FilterExpr> filter;
};

struct JsonPath {
  enum class Root { kInput, kContext, kCurrent };
  Root root = Root::kInput;
  std::vector<Selector> selectors;

  // A definite path names at most one node: only single names and single indexes.
  bool Definite() const {
    for (const Selector& s : selectors) {
      if (s.descendant || (s.kind != Selector::Kind::kName && s.kind != Selector::Kind::kIndex)) return false;
    }
    return true;
  }
};

struct FilterOperand {
  enum class Kind { kPath, kLiteral, kRegex };
  Kind kind = Kind::kLiteral;
  JsonPath path;
  Json literal;
  std::shared_ptr<const std::regex> regex;
};

struct FilterExpr {
  enum class Kind { kOr, kAnd, kNot, kExists, kCompare };
  Kind kind = Kind::kExists;
  std::vector<std::shared_ptr<const FilterExpr>> children;
  std::string op;
  FilterOperand lhs, rhs;
};

// ---------------------------------------------------------------------------------------
// JSONPath: parser

class PathParser {
 public:
  explicit PathParser(std::string_view text) : s_(text) {}

  // The whole text as a path ("$...", "$$..."); nullopt when it is not one.
  std::optional<JsonPath> ParseAll() {
    JsonPath path;
    if (!ParseRoot(&path, /*in_filter=*/false) || pos_ != s_.size()) return std::nullopt;
    return path;
  }

 private:
  // Counts filter nesting for the lifetime of one ParseOr call.
  class DepthGuard {
   public:
    explicit DepthGuard(int* depth) : depth_(depth) { ++*depth_; }
    ~DepthGuard() { --*depth_; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;

   private:
    int* depth_;
  };

  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek(size_t ahead = 0) const { return pos_ + ahead < s_.size() ? s_[pos_ + ahead] : '\0'; }
  void SkipSpaces() {
    while (!AtEnd() && IsSpace(s_[pos_])) ++pos_;
  }
  bool Consume(char c) {
    if (AtEnd() || s_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  bool ConsumeWord(std::string_view w) {
    if (s_.substr(pos_).substr(0, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  // A word not followed by another word character ("in" but not "index").
  bool ConsumeKeyword(std::string_view w) {
    if (s_.substr(pos_).substr(0, w.size()) != w) return false;
    if (pos_ + w.size() < s_.size() && IsWordChar(s_[pos_ + w.size()])) return false;
    pos_ += w.size();
    return true;
  }

  bool ParseRoot(JsonPath* path, bool in_filter) {
    if (ConsumeWord("$$")) {
      path->root = JsonPath::Root::kContext;
    } else if (Consume('$')) {
      path->root = JsonPath::Root::kInput;
    } else if (in_filter && Consume('@')) {
      path->root = JsonPath::Root::kCurrent;
    } else {
      return false;
    }
    return ParseSegments(path, in_filter);
  }

  bool ParseSegments(JsonPath* path, bool in_filter) {
    while (!AtEnd()) {
      Selector sel;
      char c = Peek();
      if (c == '.') {
        ++pos_;
        if (Consume('.')) {
          sel.descendant = true;
          if (Consume('[')) {
            if (!ParseBracket(&sel)) return false;
            path->selectors.push_back(std::move(sel));
            continue;
          }
        }
        if (Consume('*')) {
          sel.kind = Selector::Kind::kWildcard;
        } else {
          std::string name = ReadName(in_filter);
          if (name.empty()) return false;
          sel.names.push_back(std::move(name));
        }
      } else if (c == '[') {
        ++pos_;
        if (!ParseBracket(&sel)) return false;
      } else {
        // Inside a filter the path ends where an operator or ')' begins.
        return in_filter;
      }
      path->selectors.push_back(std::move(sel));
    }
    return true;
  }

  std::string ReadName(bool in_filter) {
    static constexpr std::string_view kFilterStops = "=!<>&|)],~";
    size_t begin = pos_;
    while (!AtEnd()) {
      char c = s_[pos_];
      if (c == '.' || c == '[') break;
      if (in_filter && (IsSpace(c) || kFilterStops.find(c) != std::string_view::npos)) break;
      ++pos_;
    }
    return std::string(s_.substr(begin, pos_ - begin));
  }

  // A quoted string ('...' or "...") with backslash escapes; pos_ is at the quote.
  bool ReadQuoted(std::string* out) {
    char quote = s_[pos_++];
    while (!AtEnd()) {
      char c = s_[pos_++];
      if (c == quote) return true;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (AtEnd()) return false;
      char e = s_[pos_++];
      switch (e) {
        case 'n':
          out->push_back('\n');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'u': {
          uint32_t cp = 0;
          if (pos_ + 4 > s_.size() || !ParseNumber(s_.substr(pos_, 4), &cp, 16)) return false;
          pos_ += 4;
          AppendUtf8(out, static_cast<char32_t>(cp));
          break;
        }
        default:
          out->push_back(e);
      }
    }
    return false;
  }

  std::optional<int64_t> ReadInt() {
    size_t begin = pos_;
    if (Peek() == '-') ++pos_;
    while (!AtEnd() && IsDigit(s_[pos_])) ++pos_;
    int64_t v = 0;
    if (!ParseNumber(s_.substr(begin, pos_ - begin), &v)) {
      pos_ = begin;
      return std::nullopt;
    }
    return v;
  }

  // The inside of [...]; pos_ is just past '['.
  bool ParseBracket(Selector* sel) {
    SkipSpaces();
    if (AtEnd()) return false;
    char c = Peek();
    if (c == '*') {
      ++pos_;
      SkipSpaces();
      sel->kind = Selector::Kind::kWildcard;
      return Consume(']');
    }
    if (c == '?') {
      ++pos_;
      SkipSpaces();
      if (!Consume('(')) return false;
      std::shared_ptr<const FilterExpr> expr = ParseOr();
      if (!expr) return false;
      SkipSpaces();
      if (!Consume(')')) return false;
      SkipSpaces();
      sel->kind = Selector::Kind::kFilter;
      sel->filter = std::move(expr);
      return Consume(']');
    }
    if (c == '\'' || c == '"') {
      for (;;) {
        if (Peek() != '\'' && Peek() != '"') return false;
        std::string name;
        if (!ReadQuoted(&name)) return false;
        sel->names.push_back(std::move(name));
        SkipSpaces();
        if (Consume(']')) break;
        if (!Consume(',')) return false;
        SkipSpaces();
      }
      sel->kind = sel->names.size() == 1 ? Selector::Kind::kName : Selector::Kind::kNames;
      return true;
    }
    std::optional<int64_t> first = ReadInt();
    SkipSpaces();
    if (Consume(':')) {
      SkipSpaces();
      sel->kind = Selector::Kind::kSlice;
      sel->start = first;
      sel->end = ReadInt();
      SkipSpaces();
      if (Consume(':')) {
        SkipSpaces();
        if (std::optional<int64_t> step = ReadInt()) {
          if (*step == 0) return false;
          sel->step = *step;
        }
        SkipSpaces();
      }
      return Consume(']');
    }
    if (!first) return false;
    sel->indexes.push_back(*first);
    while (Consume(',')) {
      SkipSpaces();
      std::optional<int64_t> next = ReadInt();
      if (!next) return false;
      sel->indexes.push_back(*next);
      SkipSpaces();
    }
    sel->kind = sel->indexes.size() == 1 ? Selector::Kind::kIndex : Selector::Kind::kIndexes;
    return Consume(']');
  }

  std::shared_ptr<const FilterExpr> ParseOr() {
    DepthGuard guard(&depth_);
    if (depth_ > kMaxNesting) return nullptr;
    std::shared_ptr<const FilterExpr> left = ParseAnd();
    while (left) {
      SkipSpaces();
      if (!ConsumeWord("||")) return left;
      std::shared_ptr<const FilterExpr> right = ParseAnd();
      if (!right) return nullptr;
      auto node = std::make_shared<FilterExpr>();
      node->kind = FilterExpr::Kind::kOr;
      node->children = {std::move(left), std::move(right)};
      left = std::move(node);
    }
    return nullptr;
  }

  std::shared_ptr<const FilterExpr> ParseAnd() {
    std::shared_ptr<const FilterExpr> left = ParseUnary();
    while (left) {
      SkipSpaces();
      if (!ConsumeWord("&&")) return left;
      std::shared_ptr<const FilterExpr> right = ParseUnary();
      if (!right) return nullptr;
      auto node = std::make_shared<FilterExpr>();
      node->kind = FilterExpr::Kind::kAnd;
      node->children = {std::move(left), std::move(right)};
      left = std::move(node);
    }
    return nullptr;
  }

  std::shared_ptr<const FilterExpr> ParseUnary() {
    SkipSpaces();
    if (Peek() == '!' && Peek(1) != '=') {
      ++pos_;
      DepthGuard guard(&depth_);
      if (depth_ > kMaxNesting) return nullptr;
      std::shared_ptr<const FilterExpr> inner = ParseUnary();
      if (!inner) return nullptr;
      auto node = std::make_shared<FilterExpr>();
      node->kind = FilterExpr::Kind::kNot;
      node->children = {std::move(inner)};
      return node;
    }
    if (Consume('(')) {
      std::shared_ptr<const FilterExpr> inner = ParseOr();
      SkipSpaces();
      if (!inner || !Consume(')')) return nullptr;
      return inner;
    }
    return ParseComparison();
  }

  std::shared_ptr<const FilterExpr> ParseComparison() {
    auto node = std::make_shared<FilterExpr>();
    if (!ParseOperand(&node->lhs)) return nullptr;
    SkipSpaces();
    static constexpr std::pair<std::string_view, std::string_view> kOps[] = {{"===", "=="}, {"!==", "!="}, {"==", "=="},
                                                                             {"!=", "!="},  {"<=", "<="},  {">=", ">="},
                                                                             {"=~", "=~"},  {"<", "<"},    {">", ">"}};
    for (const auto& [text, op] : kOps) {
      if (ConsumeWord(text)) {
        node->op = std::string(op);
        break;
      }
    }
    if (node->op.empty()) {
      if (ConsumeKeyword("nin")) {
        node->op = "nin";
      } else if (ConsumeKeyword("in")) {
        node->op = "in";
      } else {
        node->kind = FilterExpr::Kind::kExists;
        return node;
      }
    }
    SkipSpaces();
    if (node->op == "=~" ? !ParseRegex(&node->rhs) : !ParseOperand(&node->rhs)) return nullptr;
    node->kind = FilterExpr::Kind::kCompare;
    return node;
  }

  bool ParseOperand(FilterOperand* op) {
    SkipSpaces();
    if (AtEnd()) return false;
    char c = Peek();
    if (c == '@' || c == '$') {
      op->kind = FilterOperand::Kind::kPath;
      return ParseRoot(&op->path, /*in_filter=*/true);
    }
    return ParseLiteral(&op->literal);
  }

  bool ParseLiteral(Json* out) {
    SkipSpaces();
    if (AtEnd()) return false;
    char c = Peek();
    if (c == '\'' || c == '"') {
      std::string s;
      if (!ReadQuoted(&s)) return false;
      *out = std::move(s);
      return true;
    }
    if (c == '[') {
      DepthGuard guard(&depth_);  // "[[[[..." literals must not recurse without bound
      if (depth_ > kMaxNesting) return false;
      ++pos_;
      *out = Json::array();
      SkipSpaces();
      if (Consume(']')) return true;
      for (;;) {
        Json element;
        if (!ParseLiteral(&element)) return false;
        out->push_back(std::move(element));
        SkipSpaces();
        if (Consume(']')) return true;
        if (!Consume(',')) return false;
      }
    }
    if (c == '-' || IsDigit(c)) {
      size_t begin = pos_;
      while (!AtEnd() &&
             (IsDigit(Peek()) || Peek() == '-' || Peek() == '+' || Peek() == '.' || Peek() == 'e' || Peek() == 'E')) {
        ++pos_;
      }
      Json n = ParseJson(s_.substr(begin, pos_ - begin));
      if (n.is_discarded() || !n.is_number()) return false;
      *out = std::move(n);
      return true;
    }
    if (ConsumeKeyword("true")) {
      *out = true;
    } else if (ConsumeKeyword("false")) {
      *out = false;
    } else if (ConsumeKeyword("null")) {
      *out = nullptr;
    } else {
      return false;
    }
    return true;
  }

  // /pattern/flags, matched against the whole string (as Java's Matcher.matches()).
  bool ParseRegex(FilterOperand* op) {
    if (!Consume('/')) return false;
    std::string pattern;
    for (;;) {
      if (AtEnd()) return false;
      char c = s_[pos_++];
      if (c == '/') break;
      if (c == '\\' && Peek() == '/') {
        pattern.push_back(s_[pos_++]);
        continue;
      }
      pattern.push_back(c);
      if (c == '\\' && !AtEnd()) pattern.push_back(s_[pos_++]);
    }
    auto flags = std::regex::ECMAScript;
    while (!AtEnd() && IsAlpha(Peek())) {
      if (s_[pos_++] == 'i') flags |= std::regex::icase;
    }
    try {
      op->regex = std::make_shared<const std::regex>(pattern, flags);
    } catch (const std::regex_error&) {
      return false;
    }
    op->kind = FilterOperand::Kind::kRegex;
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  int depth_ = 0;
};

// ---------------------------------------------------------------------------------------
// JSONPath: evaluation

class PathEvaluator {
 public:
  PathEvaluator(const Json& input, const Json& context) : input_(input), context_(context) {}

  // The nodes `path` names, in document order (objects in key order).
  std::vector<const Json*> Matches(const JsonPath& path, const Json* current) const {
    const Json* start = path.root == JsonPath::Root::kContext   ? &context_
                        : path.root == JsonPath::Root::kCurrent ? current
                                                                : &input_;
    std::vector<const Json*> nodes{start};
    for (const Selector& sel : path.selectors) {
      std::vector<const Json*> next;
      for (const Json* node : nodes) Apply(sel, *node, &next);
      nodes.swap(next);
      if (nodes.empty()) break;
    }
    return nodes;
  }

  // A definite path's value (nullopt when it names nothing); an indefinite path's matches
  // as an array.
  std::optional<Json> Value(const JsonPath& path, const Json* current) const {
    std::vector<const Json*> matches = Matches(path, current);
    if (path.Definite()) {
      if (matches.empty()) return std::nullopt;
      return *matches.front();
    }
    Json out = Json::array();
    for (const Json* m : matches) out.push_back(*m);
    return out;
  }

 private:
  void Apply(const Selector& sel, const Json& node, std::vector<const Json*>* out) const {
    if (!sel.descendant) {
      ApplyHere(sel, node, out);
      return;
    }
    // Pre-order walk without recursion: inputs can nest deeply.
    std::vector<const Json*> stack{&node};
    while (!stack.empty()) {
      const Json* n = stack.back();
      stack.pop_back();
      if (sel.kind == Selector::Kind::kFilter) {
        // "..[?()]" tests every descendant once, as the current node.
        if (n != &node && Test(*sel.filter, *n)) out->push_back(n);
      } else {
        ApplyHere(sel, *n, out);
      }
      if (n->is_structured()) {
        for (auto it = n->rbegin(); it != n->rend(); ++it) stack.push_back(&*it);
      }
    }
  }

  void ApplyHere(const Selector& sel, const Json& node, std::vector<const Json*>* out) const {
    switch (sel.kind) {
      case Selector::Kind::kName:
      case Selector::Kind::kNames:
        if (!node.is_object()) return;
        for (const std::string& name : sel.names) {
          auto it = node.find(name);
          if (it != node.end()) out->push_back(&*it);
        }
        return;
      case Selector::Kind::kIndex:
      case Selector::Kind::kIndexes: {
        if (!node.is_array()) return;
        int64_t size = static_cast<int64_t>(node.size());
        for (int64_t index : sel.indexes) {
          int64_t i = index < 0 ? index + size : index;
          if (i >= 0 && i < size) out->push_back(&node[static_cast<size_t>(i)]);
        }
        return;
      }
      case Selector::Kind::kWildcard:
        if (!node.is_structured()) return;
        for (const Json& child : node) out->push_back(&child);
        return;
      case Selector::Kind::kSlice:
        if (node.is_array()) Slice(sel, node, out);
        return;
      case Selector::Kind::kFilter:
        if (node.is_array()) {
          for (const Json& child : node) {
            if (Test(*sel.filter, child)) out->push_back(&child);
          }
        } else if (node.is_object() && Test(*sel.filter, node)) {
          out->push_back(&node);
        }
        return;
    }
  }

  // Python slice semantics: negative bounds count from the end, bounds clamp to the array.
  static void Slice(const Selector& sel, const Json& node, std::vector<const Json*>* out) {
    const int64_t n = static_cast<int64_t>(node.size());
    const int64_t step = sel.step;
    auto normalize = [n](int64_t v, int64_t lo, int64_t hi) {
      if (v < 0) v = v < -n ? -1 : v + n;
      return std::clamp(v, lo, hi);
    };
    if (step > 0) {
      int64_t begin = sel.start ? normalize(*sel.start, 0, n) : 0;
      int64_t end = sel.end ? normalize(*sel.end, 0, n) : n;
      for (int64_t i = begin; i < end; i += step) {
        out->push_back(&node[static_cast<size_t>(i)]);
        if (step > end - i) break;
      }
    } else {
      int64_t begin = sel.start ? normalize(*sel.start, -1, n - 1) : n - 1;
      int64_t end = sel.end ? normalize(*sel.end, -1, n - 1) : -1;
      for (int64_t i = begin; i > end; i += step) {
        out->push_back(&node[static_cast<size_t>(i)]);
        if (-step > i - end) break;
      }
    }
  }

  std::optional<Json> OperandValue(const FilterOperand& op, const Json& current) const {
    switch (op.kind) {
      case FilterOperand::Kind::kLiteral:
        return op.literal;
      case FilterOperand::Kind::kPath:
        return Value(op.path, &current);
      case FilterOperand::Kind::kRegex:
        return std::nullopt;
    }
    return std::nullopt;
  }

  bool Test(const FilterExpr& e, const Json& current) const {
    switch (e.kind) {
      case FilterExpr::Kind::kOr:
        return Test(*e.children[0], current) || Test(*e.children[1], current);
      case FilterExpr::Kind::kAnd:
        return Test(*e.children[0], current) && Test(*e.children[1], current);
      case FilterExpr::Kind::kNot:
        return !Test(*e.children[0], current);
      case FilterExpr::Kind::kExists: {
        std::optional<Json> v = OperandValue(e.lhs, current);
        if (!v) return false;
        if (e.lhs.kind == FilterOperand::Kind::kPath) return e.lhs.path.Definite() || !v->empty();
        return v->is_boolean() ? v->get<bool>() : !v->is_null();
      }
      case FilterExpr::Kind::kCompare:
        return Compare(e, current);
    }
    return false;
  }

  bool Compare(const FilterExpr& e, const Json& current) const {
    std::optional<Json> a = OperandValue(e.lhs, current);
    if (e.op == "=~") {
      if (!a || !a->is_string() || !e.rhs.regex) return false;
      // libstdc++'s regex matcher recurses per character and can exhaust the stack on long
      // subjects, so those never match rather than crash the server.
      if (a->get_ref<const std::string&>().size() > kMaxRegexSubject) return false;
      try {
        return std::regex_match(a->get_ref<const std::string&>(), *e.rhs.regex);
      } catch (const std::regex_error&) {
        return false;  // too complex to match: treated as no match
      }
    }
    std::optional<Json> b = OperandValue(e.rhs, current);
    if (e.op == "==") return a && b && *a == *b;
    if (e.op == "!=") return !(a && b && *a == *b);
    if (e.op == "in" || e.op == "nin") {
      if (!b || !b->is_array()) return false;
      bool found = a && std::find(b->begin(), b->end(), *a) != b->end();
      return e.op == "in" ? found : !found;
    }
    if (!a || !b) return false;
    bool numbers = a->is_number() && b->is_number();
    bool strings = a->is_string() && b->is_string();
    if (!numbers && !strings) return false;
    if (e.op == "<") return *a < *b;
    if (e.op == "<=") return *a < *b || *a == *b;
    if (e.op == ">") return *b < *a;
    if (e.op == ">=") return *b < *a || *a == *b;
    return false;
  }

  const Json& input_;
  const Json& context_;
};

absl::Status InvalidPathError(const std::string& field) {
  return RuntimeError(StrCat("The value for the field '", field, "' must be a valid JSONPath"));
}

absl::StatusOr<JsonPath> ParsePath(std::string_view text, const std::string& field) {
  std::optional<JsonPath> path = PathParser(text).ParseAll();
  if (!path) return InvalidPathError(field);
  return std::move(*path);
}

// The value of a path; nullopt when a definite path names nothing.
absl::StatusOr<std::optional<Json>> Query(const Json& input, std::string_view text, const Json& context,
                                          const std::string& field) {
  ASSIGN_OR_RETURN(JsonPath path, ParsePath(text, field));
  return PathEvaluator(input, context).Value(path, &input);
}

// ---------------------------------------------------------------------------------------
// Hashes (OpenSSL) and Base64 (MIME-tolerant, as States.Base64Decode accepts).

// States.Hash digests, as lower-case hex, through OpenSSL.
std::string Digest(const char* algorithm, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  const EVP_MD* md = EVP_get_digestbyname(algorithm);
  if (!md || EVP_Digest(data.data(), data.size(), out, &size, md, nullptr) != 1) return "";
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex.push_back(kDigits[out[i] >> 4]);
    hex.push_back(kDigits[out[i] & 15]);
  }
  return hex;
}

constexpr std::string_view kBase64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t n = static_cast<uint32_t>(static_cast<uint8_t>(in[i])) << 16;
    if (i + 1 < in.size()) n |= static_cast<uint32_t>(static_cast<uint8_t>(in[i + 1])) << 8;
    if (i + 2 < in.size()) n |= static_cast<uint8_t>(in[i + 2]);
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kBase64Alphabet[(n >> 6) & 63] : '=');
    out.push_back(i + 2 < in.size() ? kBase64Alphabet[n & 63] : '=');
  }
  return out;
}

// MIME-style: line breaks and spaces are skipped; padding is optional but must be right.
std::optional<std::string> Base64Decode(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t symbols = 0, padding = 0;
  for (char c : in) {
    if (IsSpace(c)) continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    size_t v = kBase64Alphabet.find(c);
    if (v == std::string_view::npos || padding > 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    ++symbols;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (symbols % 4 == 1 || padding > 2 || (padding > 0 && (symbols + padding) % 4 != 0)) return std::nullopt;
  return out;
}

// ---------------------------------------------------------------------------------------
// Randomness for States.UUID and States.MathRandom.

std::mt19937_64& ThreadRng() {
  thread_local std::mt19937_64 rng = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  return rng;
}

// SplitMix64: a small deterministic generator, so a seeded MathRandom gives the same
// number on every platform and release.
uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// ---------------------------------------------------------------------------------------
// Intrinsic functions: syntax tree and parser

struct IntrinsicArg;

struct IntrinsicCall {
  std::string name;
  std::vector<IntrinsicArg> args;
};

struct IntrinsicArg {
  enum class Kind { kLiteral, kString, kPath, kCall };
  Kind kind = Kind::kLiteral;
  Json value;        // kLiteral; kString: the string with its escapes resolved
  std::string text;  // kString: as written between the quotes; kPath: the path
  std::unique_ptr<IntrinsicCall> call;
};

class IntrinsicParser {
 public:
  explicit IntrinsicParser(std::string_view text) : s_(text) {}

  // nullptr, with error(), when the text is not exactly one call.
  std::unique_ptr<IntrinsicCall> ParseAll() {
    SkipSpaces();
    std::unique_ptr<IntrinsicCall> call = ParseCall(0);
    if (!call) return nullptr;
    SkipSpaces();
    if (pos_ != s_.size()) {
      Fail("unexpected text after the closing parenthesis");
      return nullptr;
    }
    return call;
  }
  const std::string& error() const { return error_; }

 private:
  // Records why parsing stopped; false, for the parse functions to return.
  bool Fail(const std::string& why) {
    error_ = StrCat(why, " at offset ", pos_);
    return false;
  }
  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[pos_]; }
  void SkipSpaces() {
    while (!AtEnd() && IsSpace(s_[pos_])) ++pos_;
  }
  bool Consume(char c) {
    if (Peek() != c || AtEnd()) return false;
    ++pos_;
    return true;
  }

  std::unique_ptr<IntrinsicCall> ParseCall(int depth) {
    if (depth > kMaxNesting) {
      Fail("intrinsic functions nest too deeply");
      return nullptr;
    }
    size_t begin = pos_;
    while (!AtEnd() && (IsWordChar(s_[pos_]) || s_[pos_] == '.')) ++pos_;
    auto call = std::make_unique<IntrinsicCall>();
    call->name = std::string(s_.substr(begin, pos_ - begin));
    if (!call->name.starts_with("States.")) {
      pos_ = begin;
      Fail("expected a function name starting with 'States.'");
      return nullptr;
    }
    SkipSpaces();
    if (!Consume('(')) {
      Fail("expected '('");
      return nullptr;
    }
    SkipSpaces();
    if (Consume(')')) return call;
    for (;;) {
      IntrinsicArg arg;
      if (!ParseArg(&arg, depth)) return nullptr;
      call->args.push_back(std::move(arg));
      SkipSpaces();
      if (Consume(')')) return call;
      if (!Consume(',')) {
        Fail("expected ',' or ')'");
        return nullptr;
      }
    }
  }

  bool ParseArg(IntrinsicArg* arg, int depth) {
    SkipSpaces();
    if (AtEnd()) return Fail("expected an argument");
    char c = Peek();
    if (c == '\'') return ParseString(arg);
    if (c == '$') return ParsePath(arg);
    if (c == '-' || IsDigit(c)) {
      size_t begin = pos_;
      while (!AtEnd() &&
             (IsDigit(Peek()) || Peek() == '-' || Peek() == '+' || Peek() == '.' || Peek() == 'e' || Peek() == 'E')) {
        ++pos_;
      }
      Json n = ParseJson(s_.substr(begin, pos_ - begin));
      if (n.is_discarded() || !n.is_number()) {
        pos_ = begin;
        return Fail("malformed number");
      }
      arg->value = std::move(n);
      return true;
    }
    size_t begin = pos_;
    while (!AtEnd() && IsWordChar(s_[pos_])) ++pos_;
    std::string_view word = s_.substr(begin, pos_ - begin);
    if (word == "true" || word == "false" || word == "null") {
      arg->value = word == "null" ? Json(nullptr) : Json(word == "true");
      return true;
    }
    pos_ = begin;
    if (s_.substr(pos_).starts_with("States.")) {
      arg->kind = IntrinsicArg::Kind::kCall;
      arg->call = ParseCall(depth + 1);
      return arg->call != nullptr;
    }
    return Fail("unexpected argument");
  }

  // 'text' with the escapes \' \{ \} \\; any other backslash is an open escape.
  bool ParseString(IntrinsicArg* arg) {
    ++pos_;
    std::string raw, value;
    for (;;) {
      if (AtEnd()) return Fail("unterminated string literal");
      char c = s_[pos_++];
      if (c == '\'') break;
      if (c == '\\') {
        char e = Peek();
        if (e != '\'' && e != '{' && e != '}' && e != '\\') {
          return Fail("open escape '\\' in a string literal");
        }
        ++pos_;
        raw.push_back('\\');
        raw.push_back(e);
        value.push_back(e);
        continue;
      }
      raw.push_back(c);
      value.push_back(c);
    }
    arg->kind = IntrinsicArg::Kind::kString;
    arg->value = std::move(value);
    arg->text = std::move(raw);
    return true;
  }

  // A path runs to the ',' or ')' that is outside brackets and quotes.
  bool ParsePath(IntrinsicArg* arg) {
    size_t begin = pos_;
    int brackets = 0;
    char quote = 0;
    while (!AtEnd()) {
      char c = s_[pos_];
      if (quote) {
        if (c == '\\') {
          pos_ = std::min(pos_ + 2, s_.size());
          continue;
        }
        if (c == quote) quote = 0;
      } else if (brackets > 0 && (c == '\'' || c == '"')) {
        quote = c;
      } else if (c == '[') {
        ++brackets;
      } else if (c == ']') {
        --brackets;
      } else if (brackets == 0 && (c == ',' || c == ')')) {
        break;
      }
      ++pos_;
    }
    std::string_view text = s_.substr(begin, pos_ - begin);
    while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
    if (!PathParser(text).ParseAll()) {
      pos_ = begin;
      return Fail(StrCat("invalid path '", text, "'"));
    }
    arg->kind = IntrinsicArg::Kind::kPath;
    arg->text = std::string(text);
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

// ---------------------------------------------------------------------------------------
// Intrinsic functions: evaluation

// At most ~200 bytes of `s` for an error message, cut on a UTF-8 character boundary (the
// message may become a JSON Cause).
std::string Truncated(const std::string& s) {
  if (s.size() <= 200) return s;
  size_t cut = 200;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return StrCat(s.substr(0, cut), "...");
}

absl::Status ArgumentError(std::string_view fn, size_t index, std::string_view expected, const Json& got) {
  return IntrinsicError(StrCat("The function ", fn, " expects ", expected, " as argument ", index + 1, ", but got ",
                               Truncated(Dump(got))));
}

// A number rounded to the nearest integer, halves up (Java's Math.round), as Step Functions
// does for non-integer arguments; nullopt for non-numbers and values outside int64.
std::optional<int64_t> RoundedInteger(const Json& v) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    double r = std::floor(v.get<double>() + 0.5);
    if (!std::isfinite(r) || r < -9.2e18 || r > 9.2e18) return std::nullopt;
    return static_cast<int64_t>(r);
  }
  return std::nullopt;
}

// An integer-valued number (3 or 3.0), for indexes.
std::optional<int64_t> ExactInteger(const Json& v) {
  std::optional<int64_t> r = RoundedInteger(v);
  if (r && v.is_number_float() && static_cast<double>(*r) != v.get<double>()) return std::nullopt;
  return r;
}

// States.Format's text for a value: strings bare, scalars as JSON, arrays and objects the
// way Java prints collections ("[a, 1]", "{k=v}").
std::string FormatValue(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::vector<std::string> parts;
    for (const Json& e : v) parts.push_back(FormatValue(e));
    return StrCat("[", Join(parts, ", "), "]");
  }
  if (v.is_object()) {
    std::vector<std::string> parts;
    for (auto it = v.begin(); it != v.end(); ++it) parts.push_back(StrCat(it.key(), "=", FormatValue(*it)));
    return StrCat("{", Join(parts, ", "), "}");
  }
  return Dump(v);
}

class IntrinsicEvaluator {
 public:
  IntrinsicEvaluator(const Json& input, const Json& context, const std::string& field)
      : input_(input), context_(context), field_(field) {}

  absl::StatusOr<Json> Call(const IntrinsicCall& call) {
    if (call.name == "States.Format") return Format(call);
    struct Spec {
      std::string_view name;
      size_t min_args, max_args;
      absl::StatusOr<Json> (IntrinsicEvaluator::*fn)(std::string_view name, std::vector<Json>& args);
    };
    static constexpr Spec kSpecs[] = {
        {"States.StringToJson", 1, 1, &IntrinsicEvaluator::StringToJson},
        {"States.JsonToString", 1, 1, &IntrinsicEvaluator::JsonToString},
        {"States.Array", 0, SIZE_MAX, &IntrinsicEvaluator::Array},
        {"States.ArrayPartition", 2, 2, &IntrinsicEvaluator::ArrayPartition},
        {"States.ArrayContains", 2, 2, &IntrinsicEvaluator::ArrayContains},
        {"States.ArrayRange", 3, 3, &IntrinsicEvaluator::ArrayRange},
        {"States.ArrayGetItem", 2, 2, &IntrinsicEvaluator::ArrayGetItem},
        {"States.ArrayLength", 1, 1, &IntrinsicEvaluator::ArrayLength},
        {"States.ArrayUnique", 1, 1, &IntrinsicEvaluator::ArrayUnique},
        {"States.Base64Encode", 1, 1, &IntrinsicEvaluator::Base64EncodeFn},
        {"States.Base64Decode", 1, 1, &IntrinsicEvaluator::Base64DecodeFn},
        {"States.Hash", 2, 2, &IntrinsicEvaluator::Hash},
        {"States.JsonMerge", 3, 3, &IntrinsicEvaluator::JsonMerge},
        {"States.MathRandom", 2, 3, &IntrinsicEvaluator::MathRandom},
        {"States.MathAdd", 2, 2, &IntrinsicEvaluator::MathAdd},
        {"States.StringSplit", 2, 2, &IntrinsicEvaluator::StringSplit},
        {"States.UUID", 0, 0, &IntrinsicEvaluator::Uuid},
    };
    for (const Spec& spec : kSpecs) {
      if (spec.name != call.name) continue;
      size_t n = call.args.size();
      if (n < spec.min_args || n > spec.max_args) {
        std::string expected =
            spec.min_args == spec.max_args ? StrCat(spec.min_args) : StrCat(spec.min_args, " to ", spec.max_args);
        return IntrinsicError(StrCat("The function ", call.name, " takes ", expected,
                                     spec.max_args == 1 ? " argument" : " arguments", ", but ", n,
                                     n == 1 ? " was" : " were", " given"));
      }
      std::vector<Json> args;
      for (const IntrinsicArg& arg : call.args) {
        ASSIGN_OR_RETURN(Json v, Arg(arg));
        args.push_back(std::move(v));
      }
      return (this->*spec.fn)(spec.name, args);
    }
    return IntrinsicError(StrCat("The function ", call.name, " is not a supported intrinsic function"));
  }

 private:
  absl::StatusOr<Json> Arg(const IntrinsicArg& arg) {
    switch (arg.kind) {
      case IntrinsicArg::Kind::kLiteral:
      case IntrinsicArg::Kind::kString:
        return arg.value;
      case IntrinsicArg::Kind::kPath:
        return SelectPath(input_, arg.text, context_, field_);
      case IntrinsicArg::Kind::kCall:
        return Call(*arg.call);
    }
    return IntrinsicError("Unknown argument kind");
  }

  // The format string's "{}" are placeholders; in a literal, \{ \} \' \\ stand for the
  // character itself (a template read from a path is taken as it is).
  absl::StatusOr<Json> Format(const IntrinsicCall& call) {
    static constexpr std::string_view kName = "States.Format";
    if (call.args.empty()) {
      return IntrinsicError("The function States.Format takes at least 1 argument, but 0 were given");
    }
    std::string tmpl;
    bool escapes = call.args[0].kind == IntrinsicArg::Kind::kString;
    if (escapes) {
      tmpl = call.args[0].text;
    } else {
      ASSIGN_OR_RETURN(Json t, Arg(call.args[0]));
      if (!t.is_string()) return ArgumentError(kName, 0, "a string", t);
      tmpl = t.get<std::string>();
    }
    size_t placeholders = 0;
    for (size_t i = 0; i < tmpl.size(); ++i) {
      if (escapes && tmpl[i] == '\\') {
        ++i;
      } else if (tmpl[i] == '{' && i + 1 < tmpl.size() && tmpl[i + 1] == '}') {
        ++placeholders;
        ++i;
      }
    }
    if (placeholders != call.args.size() - 1) {
      return IntrinsicError(StrCat("The format string of States.Format has ", placeholders,
                                   placeholders == 1 ? " placeholder" : " placeholders", ", but ", call.args.size() - 1,
                                   call.args.size() == 2 ? " value was" : " values were", " given"));
    }
    std::string out;
    size_t next = 1;
    for (size_t i = 0; i < tmpl.size(); ++i) {
      if (escapes && tmpl[i] == '\\' && i + 1 < tmpl.size()) {
        out.push_back(tmpl[++i]);
      } else if (tmpl[i] == '{' && i + 1 < tmpl.size() && tmpl[i + 1] == '}') {
        ASSIGN_OR_RETURN(Json v, Arg(call.args[next++]));
        out += FormatValue(v);
        ++i;
      } else {
        out.push_back(tmpl[i]);
      }
    }
    return Json(std::move(out));
  }

  absl::StatusOr<Json> StringToJson(std::string_view name, std::vector<Json>& args) {
    if (!args[0].is_string()) return ArgumentError(name, 0, "a string", args[0]);
    Json parsed = ParseJson(args[0].get_ref<const std::string&>());
    if (parsed.is_discarded()) {
      return IntrinsicError(StrCat("The function ", name, " could not parse ", Truncated(Dump(args[0])), " as JSON"));
    }
    return parsed;
  }

  absl::StatusOr<Json> JsonToString(std::string_view, std::vector<Json>& args) { return Json(Dump(args[0])); }

  absl::StatusOr<Json> Array(std::string_view, std::vector<Json>& args) {
    Json out = Json::array();
    for (Json& a : args) out.push_back(std::move(a));
    return out;
  }

  absl::StatusOr<Json> ArrayPartition(std::string_view name, std::vector<Json>& args) {
    if (!args[0].is_array()) return ArgumentError(name, 0, "an array", args[0]);
    std::optional<int64_t> size = RoundedInteger(args[1]);
    if (!size || *size <= 0) return ArgumentError(name, 1, "a positive integer chunk size", args[1]);
    Json out = Json::array();
    const Json& array = args[0];
    for (size_t i = 0; i < array.size(); i += static_cast<size_t>(*size)) {
      Json chunk = Json::array();
      for (size_t j = i; j < array.size() && j - i < static_cast<size_t>(*size); ++j) chunk.push_back(array[j]);
      out.push_back(std::move(chunk));
    }
    return out;
  }

  absl::StatusOr<Json> ArrayContains(std::string_view name, std::vector<Json>& args) {
    if (!args[0].is_array()) return ArgumentError(name, 0, "an array", args[0]);
    return Json(std::find(args[0].begin(), args[0].end(), args[1]) != args[0].end());
  }

  absl::StatusOr<Json> ArrayRange(std::string_view name, std::vector<Json>& args) {
    std::optional<int64_t> v[3];
    for (size_t i = 0; i < 3; ++i) {
      v[i] = RoundedInteger(args[i]);
      if (!v[i]) return ArgumentError(name, i, "an integer", args[i]);
    }
    __int128 start = *v[0], end = *v[1], step = *v[2];
    if (step == 0) return ArgumentError(name, 2, "a non-zero step", args[2]);
    // A step pointing away from the end gives an empty array.
    __int128 count = (end - start) / step + 1;
    if (end != start && (end > start) != (step > 0)) count = 0;
    if (count > kMaxArrayRangeItems) {
      int64_t shown = static_cast<int64_t>(std::min<__int128>(count, std::numeric_limits<int64_t>::max()));
      return IntrinsicError(StrCat("The function ", name, " would create an array of ", shown,
                                   " items; arrays can hold at most ", kMaxArrayRangeItems));
    }
    Json out = Json::array();
    for (__int128 i = 0; i < count; ++i) out.push_back(static_cast<int64_t>(start + i * step));
    return out;
  }

  absl::StatusOr<Json> ArrayGetItem(std::string_view name, std::vector<Json>& args) {
    if (!args[0].is_array()) return ArgumentError(name, 0, "an array", args[0]);
    std::optional<int64_t> index = ExactInteger(args[1]);
    if (!index || *index < 0) return ArgumentError(name, 1, "a non-negative integer index", args[1]);
    if (static_cast<uint64_t>(*index) >= args[0].size()) {
      return IntrinsicError(StrCat("The index ", *index, " given to ", name, " is out of bounds for an array of ",
                                   args[0].size(), " items"));
    }
    return std::move(args[0][static_cast<size_t>(*index)]);
  }

  absl::StatusOr<Json> ArrayLength(std::string_view name, std::vector<Json>& args) {
    if (!args[0].is_array()) return ArgumentError(name, 0, "an array", args[0]);
    return Json(args[0].size());
  }

  absl::StatusOr<Json> ArrayUnique(std::string_view name, std::vector<Json>& args) {
    if (!args[0].is_array()) return ArgumentError(name, 0, "an array", args[0]);
    std::set<Json> seen;  // 1 and 1.0 are equivalent here, as they are ==
    Json out = Json::array();
    for (Json& e : args[0]) {
      if (seen.insert(e).second) out.push_back(std::move(e));
    }
    return out;
  }

  absl::StatusOr<std::string> LimitedString(std::string_view name, const Json& v) {
    if (!v.is_string()) return ArgumentError(name, 0, "a string", v);
    const std::string& s = v.get_ref<const std::string&>();
    if (Utf16Length(s) > kMaxIntrinsicStringChars) {
      return IntrinsicError(
          StrCat("The input to ", name, " must be at most ", kMaxIntrinsicStringChars, " characters long"));
    }
    return s;
  }

  absl::StatusOr<Json> Base64EncodeFn(std::string_view name, std::vector<Json>& args) {
    ASSIGN_OR_RETURN(std::string s, LimitedString(name, args[0]));
    return Json(Base64Encode(s));
  }

  absl::StatusOr<Json> Base64DecodeFn(std::string_view name, std::vector<Json>& args) {
    ASSIGN_OR_RETURN(std::string s, LimitedString(name, args[0]));
    std::optional<std::string> decoded = Base64Decode(s);
    if (!decoded) return ArgumentError(name, 0, "a Base64 string", args[0]);
    return Json(SanitizeUtf8(*decoded));
  }

  absl::StatusOr<Json> Hash(std::string_view name, std::vector<Json>& args) {
    ASSIGN_OR_RETURN(std::string data, LimitedString(name, args[0]));
    const Json& algorithm = args[1];
    if (algorithm == "MD5") return Json(Digest("MD5", data));
    if (algorithm == "SHA-1") return Json(Digest("SHA1", data));
    if (algorithm == "SHA-256") return Json(Digest("SHA256", data));
    if (algorithm == "SHA-384") return Json(Digest("SHA384", data));
    if (algorithm == "SHA-512") return Json(Digest("SHA512", data));
    return ArgumentError(name, 1, "one of MD5, SHA-1, SHA-256, SHA-384, SHA-512", algorithm);
  }

  absl::StatusOr<Json> JsonMerge(std::string_view name, std::vector<Json>& args) {
    for (size_t i = 0; i < 2; ++i) {
      if (!args[i].is_object()) return ArgumentError(name, i, "a JSON object", args[i]);
    }
    if (!args[2].is_boolean()) return ArgumentError(name, 2, "a boolean", args[2]);
    if (args[2].get<bool>()) {
      return IntrinsicError(
          StrCat("The function ", name, " supports only the shallow merging mode: its third argument must be false"));
    }
    Json out = std::move(args[0]);
    for (auto it = args[1].begin(); it != args[1].end(); ++it) out[it.key()] = std::move(*it);
    return out;
  }

  // A number in [start, end): the end is exclusive.
  absl::StatusOr<Json> MathRandom(std::string_view name, std::vector<Json>& args) {
    std::optional<int64_t> v[3];
    for (size_t i = 0; i < args.size(); ++i) {
      v[i] = RoundedInteger(args[i]);
      if (!v[i]) return ArgumentError(name, i, "an integer", args[i]);
    }
    if (*v[0] >= *v[1]) {
      return IntrinsicError(
          StrCat("The function ", name, " needs a start (", *v[0], ") lower than its exclusive end (", *v[1], ")"));
    }
    uint64_t range = static_cast<uint64_t>(*v[1]) - static_cast<uint64_t>(*v[0]);
    uint64_t state = v[2] ? static_cast<uint64_t>(*v[2]) : 0;
    auto draw = [&] { return v[2] ? SplitMix64(&state) : ThreadRng()(); };
    // Rejection sampling keeps the draw uniform.
    uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % range;
    uint64_t r = draw();
    while (r >= limit) r = draw();
    return Json(static_cast<int64_t>(static_cast<uint64_t>(*v[0]) + r % range));
  }

  absl::StatusOr<Json> MathAdd(std::string_view name, std::vector<Json>& args) {
    std::optional<int64_t> a = RoundedInteger(args[0]), b = RoundedInteger(args[1]);
    if (!a) return ArgumentError(name, 0, "an integer", args[0]);
    if (!b) return ArgumentError(name, 1, "an integer", args[1]);
    int64_t sum;
    if (__builtin_add_overflow(*a, *b, &sum)) {
      return IntrinsicError(StrCat("The sum computed by ", name, " overflows"));
    }
    return Json(sum);
  }

  // Every character of the second argument is a delimiter; empty pieces are dropped.
  absl::StatusOr<Json> StringSplit(std::string_view name, std::vector<Json>& args) {
    for (size_t i = 0; i < 2; ++i) {
      if (!args[i].is_string()) return ArgumentError(name, i, "a string", args[i]);
    }
    const std::string& s = args[0].get_ref<const std::string&>();
    const std::string& delimiters = args[1].get_ref<const std::string&>();
    std::set<char32_t> set;
    for (size_t i = 0; i < delimiters.size();) {
      bool ok;
      set.insert(DecodeUtf8(delimiters, &i, &ok));
    }
    Json out = Json::array();
    std::string piece;
    for (size_t i = 0; i < s.size();) {
      size_t begin = i;
      bool ok;
      char32_t cp = DecodeUtf8(s, &i, &ok);
      if (set.count(cp)) {
        if (!piece.empty()) out.push_back(std::move(piece));
        piece.clear();
      } else {
        piece.append(s, begin, i - begin);
      }
    }
    if (!piece.empty()) out.push_back(std::move(piece));
    return out;
  }

  absl::StatusOr<Json> Uuid(std::string_view, std::vector<Json>&) { return Json(NewUuid()); }

  const Json& input_;
  const Json& context_;
  const std::string& field_;
};

absl::StatusOr<Json> RunIntrinsic(const std::string& expression, const Json& input, const Json& context,
                                  const std::string& field) {
  IntrinsicParser parser(expression);
  std::unique_ptr<IntrinsicCall> call = parser.ParseAll();
  if (!call) {
    return IntrinsicError(StrCat("Invalid intrinsic function call '", Truncated(expression), "': ", parser.error()));
  }
  return IntrinsicEvaluator(input, context, field).Call(*call);
}

// ---------------------------------------------------------------------------------------
// Payload templates

absl::StatusOr<Json> ExpandTemplate(const Json& tmpl, const Json& input, const Json& context, int depth) {
  if (depth > kMaxTemplateDepth) return RuntimeError("The payload template nests too deeply");
  if (tmpl.is_object()) {
    Json out = Json::object();
    for (auto it = tmpl.begin(); it != tmpl.end(); ++it) {
      const std::string& key = it.key();
      if (key.size() <= 2 || !key.ends_with(".$")) {
        ASSIGN_OR_RETURN(Json v, ExpandTemplate(*it, input, context, depth + 1));
        out[key] = std::move(v);
        continue;
      }
      const std::string* text = it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
      Json v;
      if (text && text->starts_with("$")) {
        ASSIGN_OR_RETURN(v, SelectPath(input, *text, context, key));
      } else if (text && text->starts_with("States.")) {
        ASSIGN_OR_RETURN(v, RunIntrinsic(*text, input, context, key));
      } else {
        return RuntimeError(
            StrCat("The value for the field '", key, "' must be a valid JSONPath or a valid intrinsic function call"));
      }
      out[key.substr(0, key.size() - 2)] = std::move(v);
    }
    return out;
  }
  if (tmpl.is_array()) {
    Json out = Json::array();
    for (const Json& e : tmpl) {
      ASSIGN_OR_RETURN(Json v, ExpandTemplate(e, input, context, depth + 1));
      out.push_back(std::move(v));
    }
    return out;
  }
  return tmpl;
}

// ---------------------------------------------------------------------------------------
// Choice rules

struct Instant {
  int64_t seconds;
  int64_t nanos;
  auto operator<=>(const Instant&) const = default;
};

int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// RFC 3339 as Step Functions takes it: uppercase 'T', and 'Z' or a numeric offset.
std::optional<Instant> ParseTimestamp(std::string_view s) {
  auto digits = [&](size_t at, size_t n, int* out) {
    if (at + n > s.size()) return false;
    *out = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (!IsDigit(s[i])) return false;
      *out = *out * 10 + (s[i] - '0');
    }
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!digits(0, 4, &year) || s.size() < 20 || s[4] != '-' || !digits(5, 2, &month) || s[7] != '-' ||
      !digits(8, 2, &day) || s[10] != 'T' || !digits(11, 2, &hour) || s[13] != ':' || !digits(14, 2, &minute) ||
      s[16] != ':' || !digits(17, 2, &second)) {
    return std::nullopt;
  }
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    size_t begin = ++pos;
    int64_t scale = 100000000;
    for (; pos < s.size() && IsDigit(s[pos]); ++pos, scale /= 10) nanos += (s[pos] - '0') * scale;
    if (pos == begin) return std::nullopt;
  }
  int offset_minutes = 0;
  if (pos < s.size() && s[pos] == 'Z') {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(pos + 4, 2, &om) || oh > 23 ||
        om > 59) {
      return std::nullopt;
    }
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  if (day > kDays[month - 1] + (month == 2 && leap ? 1 : 0)) return std::nullopt;
  int64_t seconds =
      DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - int64_t{offset_minutes} * 60;
  return Instant{seconds, nanos};
}

// StringMatches: literal pieces between the '*' wildcards; "\*" is a literal '*', "\\" a
// literal '\'; any other backslash is an open escape.
absl::StatusOr<std::vector<std::string>> WildcardPieces(std::string_view pattern) {
  std::vector<std::string> pieces(1);
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {
      if (i + 1 < pattern.size() && (pattern[i + 1] == '*' || pattern[i + 1] == '\\')) {
        pieces.back().push_back(pattern[++i]);
        continue;
      }
      return RuntimeError(StrCat("The StringMatches pattern '", pattern, "' has an open escape '\\'"));
    }
    if (c == '*') {
      pieces.emplace_back();
    } else {
      pieces.back().push_back(c);
    }
  }
  return pieces;
}

bool WildcardMatch(std::string_view s, const std::vector<std::string>& pieces) {
  if (pieces.size() == 1) return s == pieces[0];
  const std::string& first = pieces.front();
  const std::string& last = pieces.back();
  if (s.size() < first.size() + last.size() || !s.starts_with(first) || !s.ends_with(last)) return false;
  // With only '*' wildcards, taking each middle piece at its leftmost place is optimal.
  std::string_view middle = s.substr(first.size(), s.size() - first.size() - last.size());
  size_t pos = 0;
  for (size_t i = 1; i + 1 < pieces.size(); ++i) {
    size_t found = middle.find(pieces[i], pos);
    if (found == std::string_view::npos) return false;
    pos = found + pieces[i].size();
  }
  return true;
}

enum class ChoiceFamily {
  kString,
  kNumeric,
  kBoolean,
  kTimestamp,
  kMatches,
  kIsNull,
  kIsPresent,
  kIsNumeric,
  kIsString,
  kIsBoolean,
  kIsTimestamp
};
enum class Relation { kEquals, kLessThan, kGreaterThan, kLessThanEquals, kGreaterThanEquals };

struct ChoiceOperator {
  std::string name;
  ChoiceFamily family;
  Relation relation;
  bool path;  // the operand is a path on the input ("...Path")
};

const std::vector<ChoiceOperator>& ChoiceOperators() {
  static const std::vector<ChoiceOperator>* operators = [] {
    auto* ops = new std::vector<ChoiceOperator>;
    static constexpr std::pair<std::string_view, Relation> kRelations[] = {
        {"Equals", Relation::kEquals},
        {"LessThan", Relation::kLessThan},
        {"GreaterThan", Relation::kGreaterThan},
        {"LessThanEquals", Relation::kLessThanEquals},
        {"GreaterThanEquals", Relation::kGreaterThanEquals}};
    static constexpr std::pair<std::string_view, ChoiceFamily> kFamilies[] = {{"String", ChoiceFamily::kString},
                                                                              {"Numeric", ChoiceFamily::kNumeric},
                                                                              {"Timestamp", ChoiceFamily::kTimestamp}};
    for (const auto& [family_name, family] : kFamilies) {
      for (const auto& [relation_name, relation] : kRelations) {
        ops->push_back({StrCat(family_name, relation_name), family, relation, false});
        ops->push_back({StrCat(family_name, relation_name, "Path"), family, relation, true});
      }
    }
    ops->push_back({"BooleanEquals", ChoiceFamily::kBoolean, Relation::kEquals, false});
    ops->push_back({"BooleanEqualsPath", ChoiceFamily::kBoolean, Relation::kEquals, true});
    ops->push_back({"StringMatches", ChoiceFamily::kMatches, Relation::kEquals, false});
    ops->push_back({"IsNull", ChoiceFamily::kIsNull, Relation::kEquals, false});
    ops->push_back({"IsPresent", ChoiceFamily::kIsPresent, Relation::kEquals, false});
    ops->push_back({"IsNumeric", ChoiceFamily::kIsNumeric, Relation::kEquals, false});
    ops->push_back({"IsString", ChoiceFamily::kIsString, Relation::kEquals, false});
    ops->push_back({"IsBoolean", ChoiceFamily::kIsBoolean, Relation::kEquals, false});
    ops->push_back({"IsTimestamp", ChoiceFamily::kIsTimestamp, Relation::kEquals, false});
    return ops;
  }();
  return *operators;
}

bool Holds(int cmp, Relation r) {
  switch (r) {
    case Relation::kEquals:
      return cmp == 0;
    case Relation::kLessThan:
      return cmp < 0;
    case Relation::kGreaterThan:
      return cmp > 0;
    case Relation::kLessThanEquals:
      return cmp <= 0;
    case Relation::kGreaterThanEquals:
      return cmp >= 0;
  }
  return false;
}

absl::Status InvalidChoicePath(const std::string& path) {
  return RuntimeError(
      StrCat("Invalid path '", path, "': The choice state's condition path references an invalid value."));
}

// The value of a Choice path; nullopt when it names nothing.
absl::StatusOr<std::optional<Json>> ChoicePathValue(const Json& path, const Json& input, const Json& context,
                                                    const std::string& field) {
  if (!path.is_string()) return InvalidPathError(field);
  return Query(input, path.get_ref<const std::string&>(), context, field);
}

absl::StatusOr<bool> Compare(const ChoiceOperator& op, const Json& value, const Json& operand) {
  switch (op.family) {
    case ChoiceFamily::kString:
      if (!value.is_string() || !operand.is_string()) return false;
      return Holds(ToUtf16(value.get_ref<const std::string&>()).compare(ToUtf16(operand.get_ref<const std::string&>())),
                   op.relation);
    case ChoiceFamily::kNumeric:
      if (!value.is_number() || !operand.is_number()) return false;
      return Holds(value == operand ? 0 : value < operand ? -1 : 1, op.relation);
    case ChoiceFamily::kBoolean:
      return value.is_boolean() && operand.is_boolean() && value == operand;
    case ChoiceFamily::kTimestamp: {
      if (!value.is_string() || !operand.is_string()) return false;
      std::optional<Instant> a = ParseTimestamp(value.get_ref<const std::string&>());
      std::optional<Instant> b = ParseTimestamp(operand.get_ref<const std::string&>());
      if (!a || !b) return false;
      return Holds(*a == *b ? 0 : *a < *b ? -1 : 1, op.relation);
    }
    case ChoiceFamily::kMatches: {
      if (!operand.is_string()) return RuntimeError("The value of StringMatches must be a string");
      ASSIGN_OR_RETURN(std::vector<std::string> pieces, WildcardPieces(operand.get_ref<const std::string&>()));
      return value.is_string() && WildcardMatch(value.get_ref<const std::string&>(), pieces);
    }
    default:
      break;
  }
  // The type tests: the operand says whether the type is wanted.
  if (!operand.is_boolean()) return RuntimeError(StrCat("The value of ", op.name, " must be a boolean"));
  bool is;
  switch (op.family) {
    case ChoiceFamily::kIsNull:
      is = value.is_null();
      break;
    case ChoiceFamily::kIsNumeric:
      is = value.is_number();
      break;
    case ChoiceFamily::kIsString:
      is = value.is_string();
      break;
    case ChoiceFamily::kIsBoolean:
      is = value.is_boolean();
      break;
    case ChoiceFamily::kIsTimestamp:
      is = value.is_string() && ParseTimestamp(value.get_ref<const std::string&>()).has_value();
      break;
    default:
      is = true;
      break;
  }
  return is == operand.get<bool>();
}

absl::StatusOr<bool> EvaluateRule(const Json& rule, const Json& input, const Json& context, int depth) {
  if (depth > kMaxNesting) return RuntimeError("Choice rules nest too deeply");
  if (!rule.is_object()) return RuntimeError(StrCat("A Choice rule must be an object, not ", Truncated(Dump(rule))));
  for (const char* combinator : {"And", "Or"}) {
    auto it = rule.find(combinator);
    if (it == rule.end()) continue;
    if (!it->is_array() || it->empty()) {
      return RuntimeError(StrCat("The value of ", combinator, " must be a non-empty array of Choice rules"));
    }
    bool is_and = std::string_view(combinator) == "And";
    for (const Json& sub : *it) {
      ASSIGN_OR_RETURN(bool hit, EvaluateRule(sub, input, context, depth + 1));
      if (hit != is_and) return hit;  // short-circuit
    }
    return is_and;
  }
  if (auto it = rule.find("Not"); it != rule.end()) {
    ASSIGN_OR_RETURN(bool hit, EvaluateRule(*it, input, context, depth + 1));
    return !hit;
  }

  const ChoiceOperator* op = nullptr;
  for (const ChoiceOperator& candidate : ChoiceOperators()) {
    if (!rule.contains(candidate.name)) continue;
    if (op) return RuntimeError(StrCat("A Choice rule has both ", op->name, " and ", candidate.name));
    op = &candidate;
  }
  if (!op) return RuntimeError(StrCat("A Choice rule has no comparison operator: ", Truncated(Dump(rule))));
  auto variable = rule.find("Variable");
  if (variable == rule.end()) return RuntimeError(StrCat("A Choice rule with ", op->name, " needs a Variable"));
  ASSIGN_OR_RETURN(std::optional<Json> value, ChoicePathValue(*variable, input, context, "Variable"));
  const Json& operand = rule[op->name];
  if (op->family == ChoiceFamily::kIsPresent) {
    if (!operand.is_boolean()) return RuntimeError("The value of IsPresent must be a boolean");
    return value.has_value() == operand.get<bool>();
  }
  if (!value) return InvalidChoicePath(variable->get<std::string>());
  if (!op->path) return Compare(*op, *value, operand);
  ASSIGN_OR_RETURN(std::optional<Json> other, ChoicePathValue(operand, input, context, op->name));
  if (!other) return InvalidChoicePath(operand.get<std::string>());
  return Compare(*op, *value, *other);
}

}  // namespace

absl::Status StatesError(const std::string& error, const std::string& cause) {
  absl::Status status(absl::StatusCode::kUnknown, cause);
  status.SetPayload(kErrorPayloadUrl, absl::Cord(absl::string_view(error.data(), error.size())));
  return status;
}

std::string ErrorName(const absl::Status& status) {
  if (status.ok()) return "";
  auto payload = status.GetPayload(kErrorPayloadUrl);  // absl::optional<absl::Cord>
  if (!payload) return "States.Runtime";
  return std::string(*payload);
}

absl::StatusOr<Json> SelectPath(const Json& input, const std::string& path, const Json& context,
                                const std::string& field) {
  ASSIGN_OR_RETURN(JsonPath parsed, ParsePath(path, field));
  std::optional<Json> value = PathEvaluator(input, context).Value(parsed, &input);
  if (!value) {
    const Json& searched = parsed.root == JsonPath::Root::kContext ? context : input;
    return RuntimeError(StrCat("The JSONPath '", path, "' specified for the field '", field,
                               "' could not be found in the input '", Dump(searched), "'"));
  }
  return std::move(*value);
}

absl::StatusOr<Json> ApplyResultPath(const Json& input, const Json& result, const Json& result_path) {
  if (result_path.is_null() || result_path.is_discarded()) return input;
  if (!result_path.is_string())
    return RuntimeError("The value for the field 'ResultPath' must be a valid ReferencePath");
  const std::string& text = result_path.get_ref<const std::string&>();
  std::optional<JsonPath> path = PathParser(text).ParseAll();
  if (!path || path->root != JsonPath::Root::kInput || !path->Definite()) {
    return RuntimeError("The value for the field 'ResultPath' must be a valid ReferencePath");
  }
  if (path->selectors.empty()) return result;
  auto cannot = [&] { return RuntimeError(StrCat("Unable to apply ReferencePath ", text, " to input ", Dump(input))); };
  Json out = input;
  Json* node = &out;
  for (size_t i = 0; i < path->selectors.size(); ++i) {
    const Selector& sel = path->selectors[i];
    bool last = i + 1 == path->selectors.size();
    Json* next;
    if (sel.kind == Selector::Kind::kName) {
      if (!node->is_object()) return cannot();
      auto it = node->find(sel.names[0]);
      next = it != node->end() ? &*it : &((*node)[sel.names[0]] = Json::object());
    } else {
      if (!node->is_array()) return cannot();
      int64_t size = static_cast<int64_t>(node->size());
      int64_t index = sel.indexes[0] < 0 ? sel.indexes[0] + size : sel.indexes[0];
      if (index < 0 || index >= size) return cannot();
      next = &(*node)[static_cast<size_t>(index)];
    }
    if (last) *next = result;
    node = next;
  }
  return out;
}

absl::StatusOr<Json> EvaluatePayloadTemplate(const Json& tmpl, const Json& input, const Json& context) {
  return ExpandTemplate(tmpl, input, context, 0);
}

absl::StatusOr<Json> EvaluateIntrinsic(const std::string& expression, const Json& input, const Json& context) {
  return RunIntrinsic(expression, input, context, expression);
}

absl::StatusOr<bool> EvaluateChoiceRule(const Json& rule, const Json& input, const Json& context) {
  return EvaluateRule(rule, input, context, 0);
}

bool IsTimestamp(const std::string& s) { return ParseTimestamp(s).has_value(); }

}  // namespace sluice::states
