#include "glue/dqdl.h"

#include <algorithm>
#include <charconv>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <utility>

#include "base/strings.h"

namespace sluice::dq {
namespace {

// ---------------------------------------------------------------------------
// Tokenizer

enum class Tok { kEnd, kIdent, kString, kNumber, kLParen, kRParen, kLBracket, kRBracket,
                 kLBrace, kRBrace, kComma, kColon, kEq, kNe, kGt, kGe, kLt, kLe, kMinus, kPlus };

struct Token {
  Tok kind = Tok::kEnd;
  std::string value;  // identifier / number text, or a string's unescaped contents
  size_t begin = 0, end = 0;  // byte range in the source
  bool space_before = false;  // whitespace or a comment separates it from the previous token
};

// 1-based line and column of byte `offset`.
std::pair<int, int> Position(std::string_view src, size_t offset) {
  int line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset && i < src.size(); ++i) {
    if (src[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return {line, static_cast<int>(offset - line_start) + 1};
}

absl::Status ErrorAt(std::string_view src, size_t offset, std::string_view what) {
  auto [line, column] = Position(src, offset);
  return absl::InvalidArgumentError(StrCat("line ", line, ", column ", column, ": ", what));
}

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

constexpr std::pair<std::string_view, Tok> kPunctuation[] = {
    {">=", Tok::kGe}, {"<=", Tok::kLe}, {"!=", Tok::kNe}, {">", Tok::kGt}, {"<", Tok::kLt},
    {"=", Tok::kEq}, {"(", Tok::kLParen}, {")", Tok::kRParen}, {"[", Tok::kLBracket}, {"]", Tok::kRBracket},
    {"{", Tok::kLBrace}, {"}", Tok::kRBrace}, {",", Tok::kComma}, {":", Tok::kColon}, {"-", Tok::kMinus},
    {"+", Tok::kPlus}};

// Splits DQDL into tokens; `#` comments run to the end of the line. Strings are
// double-quoted with \" and \\ escapes (other backslashes are kept, for regexes).
absl::StatusOr<std::vector<Token>> Lex(std::string_view src) {
  std::vector<Token> out;
  bool space = false;
  for (size_t i = 0; i < src.size();) {
    char c = src[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '#') {
      i = c == '#' ? std::min(src.find('\n', i), src.size()) : i + 1;
      space = true;
      continue;
    }
    Token t;
    t.begin = i;
    t.space_before = std::exchange(space, false);
    size_t j = i + 1;
    if (c == '"') {
      for (; j < src.size() && src[j] != '"'; ++j) {
        if (src[j] == '\\' && j + 1 < src.size() && (src[j + 1] == '"' || src[j + 1] == '\\')) ++j;
        t.value.push_back(src[j]);
      }
      if (j >= src.size()) return ErrorAt(src, i, "unterminated string");
      t.kind = Tok::kString;
      ++j;
    } else if (IsDigit(c)) {
      while (j < src.size() && IsDigit(src[j])) ++j;
      if (j + 1 < src.size() && src[j] == '.' && IsDigit(src[j + 1])) {
        for (++j; j < src.size() && IsDigit(src[j]);) ++j;
      }
      t.kind = Tok::kNumber;
      t.value = std::string(src.substr(i, j - i));
    } else if (IsIdentStart(c)) {
      while (j < src.size() && IsIdentChar(src[j])) ++j;
      t.kind = Tok::kIdent;
      t.value = std::string(src.substr(i, j - i));
    } else {
      auto p = std::find_if(std::begin(kPunctuation), std::end(kPunctuation),
                            [&](const auto& p) { return src.substr(i).starts_with(p.first); });
      if (p == std::end(kPunctuation)) return ErrorAt(src, i, StrCat("unexpected character '", std::string(1, c), "'"));
      t.kind = p->second;
      j = i + p->first.size();
    }
    t.end = i = j;
    out.push_back(std::move(t));
  }
  Token end;
  end.begin = end.end = src.size();
  out.push_back(end);
  return out;
}

// Scans SQL text, skipping string literals, quoted identifiers and comments, and calls
// `on_code(pos)` for every other character. Returns false on an unterminated literal.
bool ScanSql(std::string_view sql, const std::function<void(size_t)>& on_code) {
  for (size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (c == '\'' || c == '"') {
      size_t j = i + 1;
      while (j < sql.size() && sql[j] != c) ++j;
      if (j >= sql.size()) return false;
      i = j;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      size_t j = sql.find("*/", i + 2);
      if (j == std::string_view::npos) return false;
      i = j + 1;
    } else {
      on_code(i);
    }
  }
  return true;
}

// True when `sql` is one balanced fragment: no statement separator, parentheses matched.
// Keeps where clauses and CustomSql from closing the query they are embedded in.
bool IsSingleSqlFragment(std::string_view sql) {
  int depth = 0;
  bool ok = true;
  bool closed = ScanSql(sql, [&](size_t i) {
    if (sql[i] == ';') ok = false;
    if (sql[i] == '(') ++depth;
    if (sql[i] == ')' && --depth < 0) ok = false;
  });
  return closed && ok && depth == 0;
}

// ---------------------------------------------------------------------------
// Parser

enum class Operands { kNone, kNumber, kDuration, kValue };
enum class Use { kForbidden, kRequired, kOptional };

struct RuleSpec {
  std::string_view name;
  RuleType type;
  int min_columns, max_columns;  // max -1: any number
  Use condition;
  Operands operands;
  bool threshold_ok;  // row-level: `with threshold` allowed
  bool where_ok;
};

constexpr RuleSpec kSpecs[] = {
    {"RowCount", RuleType::kRowCount, 0, 0, Use::kRequired, Operands::kNumber, false, true},
    {"ColumnCount", RuleType::kColumnCount, 0, 0, Use::kRequired, Operands::kNumber, false, false},
    {"ColumnExists", RuleType::kColumnExists, 1, 1, Use::kForbidden, Operands::kNone, false, false},
    {"IsComplete", RuleType::kIsComplete, 1, 1, Use::kForbidden, Operands::kNone, false, true},
    {"Completeness", RuleType::kCompleteness, 1, 1, Use::kRequired, Operands::kNumber, false, true},
    {"IsUnique", RuleType::kIsUnique, 1, 1, Use::kForbidden, Operands::kNone, false, true},
    {"Uniqueness", RuleType::kUniqueness, 1, 1, Use::kRequired, Operands::kNumber, false, true},
    {"IsPrimaryKey", RuleType::kIsPrimaryKey, 1, -1, Use::kForbidden, Operands::kNone, false, true},
    {"ColumnValues", RuleType::kColumnValues, 1, 1, Use::kRequired, Operands::kValue, true, true},
    {"ColumnLength", RuleType::kColumnLength, 1, 1, Use::kRequired, Operands::kNumber, true, true},
    {"Mean", RuleType::kMean, 1, 1, Use::kRequired, Operands::kNumber, false, true},
    {"Sum", RuleType::kSum, 1, 1, Use::kRequired, Operands::kNumber, false, true},
    {"StandardDeviation", RuleType::kStandardDeviation, 1, 1, Use::kRequired, Operands::kNumber, false, true},
    {"DistinctValuesCount", RuleType::kDistinctValuesCount, 1, 1, Use::kRequired, Operands::kNumber, false, true},
    {"Entropy", RuleType::kEntropy, 1, 1, Use::kRequired, Operands::kNumber, false, true},
    {"DataFreshness", RuleType::kDataFreshness, 1, 1, Use::kRequired, Operands::kDuration, true, true},
    {"CustomSql", RuleType::kCustomSql, 1, 1, Use::kOptional, Operands::kNumber, true, false},
};

const RuleSpec* FindSpec(std::string_view name) {
  for (const RuleSpec& s : kSpecs) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// Words that end a rule's parameter list, so they are never read as bare column names.
bool IsKeyword(const Token& t) {
  static const char* const kWords[] = {"and", "or", "not", "in", "between", "matches", "with",
                                       "where", "threshold", "null", "empty", "whitespaces_only", "now"};
  if (t.kind != Tok::kIdent) return false;
  for (const char* w : kWords) {
    if (EqualsIgnoreCase(t.value, w)) return true;
  }
  return false;
}

bool IsDateText(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!IsDigit(s[i])) return false;
  }
  return true;
}

// Recursive descent over the token list, one method per grammar rule. Errors name the
// offending token's position. Not thread-safe; one Parser per document.
class Parser {
 public:
  Parser(std::string_view src, std::vector<Token> tokens) : src_(src), toks_(std::move(tokens)) {}

  absl::StatusOr<Ruleset> ParseDocument() {
    Ruleset out;
    bool saw_rules = false, saw_analyzers = false;
    while (Peek().kind != Tok::kEnd) {
      const Token& section = Peek();
      bool is_rules = IsIdent(section, "Rules"), is_analyzers = IsIdent(section, "Analyzers");
      bool is_dict = IsIdent(section, "Metadata") || IsIdent(section, "DataSources");
      if (!is_rules && !is_analyzers && !is_dict) return Error(section, "expected 'Rules = ['");
      if ((is_rules && saw_rules) || (is_analyzers && saw_analyzers)) {
        return Error(section, StrCat("duplicate '", section.value, "' section"));
      }
      Next();
      RETURN_IF_ERROR(Expect(Tok::kEq, StrCat("expected '=' after '", section.value, "'")));
      if (is_dict) {
        RETURN_IF_ERROR(Expect(Tok::kLBrace, StrCat("expected '{' after '", section.value, " ='")));
        RETURN_IF_ERROR(SkipBalanced(Tok::kLBrace, Tok::kRBrace));
      } else if (is_analyzers) {
        saw_analyzers = true;
        RETURN_IF_ERROR(Expect(Tok::kLBracket, "expected '[' after 'Analyzers ='"));
        RETURN_IF_ERROR(SkipBalanced(Tok::kLBracket, Tok::kRBracket));
      } else {
        saw_rules = true;
        RETURN_IF_ERROR(Expect(Tok::kLBracket, "expected '[' after 'Rules ='"));
        if (Accept(Tok::kRBracket)) continue;
        do {
          ASSIGN_OR_RETURN(Rule rule, Peek().kind == Tok::kLParen ? ParseComposite() : ParseLeaf());
          out.rules.push_back(std::move(rule));
        } while (Accept(Tok::kComma));
        RETURN_IF_ERROR(Expect(Tok::kRBracket, "expected ',' or ']' after a rule"));
      }
    }
    if (!saw_rules && !saw_analyzers) return Error(Peek(), "expected 'Rules = ['");
    return out;
  }

 private:
  const Token& Peek(size_t ahead = 0) const { return toks_[std::min(pos_ + ahead, toks_.size() - 1)]; }
  const Token& Next() { return toks_[pos_ < toks_.size() - 1 ? pos_++ : pos_]; }
  const Token& Prev() const { return toks_[pos_ == 0 ? 0 : pos_ - 1]; }
  static bool IsIdent(const Token& t, std::string_view exact) { return t.kind == Tok::kIdent && t.value == exact; }
  static bool IsWord(const Token& t, std::string_view word) { return t.kind == Tok::kIdent && EqualsIgnoreCase(t.value, word); }
  absl::Status Error(const Token& t, std::string_view what) const { return ErrorAt(src_, t.begin, what); }
  bool Accept(Tok kind) {
    if (Peek().kind != kind) return false;
    Next();
    return true;
  }
  bool AcceptWord(std::string_view word) {
    if (!IsWord(Peek(), word)) return false;
    Next();
    return true;
  }
  std::string Quoted(const Token& t) const { return StrCat("'", src_.substr(t.begin, t.end - t.begin), "'"); }

  absl::Status Expect(Tok kind, std::string_view what) { return Accept(kind) ? absl::OkStatus() : Error(Peek(), what); }

  // Consumes tokens up to and including the `close` that matches an already consumed `open`.
  absl::Status SkipBalanced(Tok open, Tok close) {
    int depth = 1;
    while (depth > 0) {
      const Token& t = Next();
      if (t.kind == Tok::kEnd) return Error(t, "unexpected end of document: unclosed section");
      if (t.kind == open) ++depth;
      if (t.kind == close) --depth;
    }
    return absl::OkStatus();
  }

  // The source of tokens [first, pos_), with each run of whitespace/comments as one space.
  std::string TextFrom(size_t first) const {
    std::string out;
    for (size_t i = first; i < pos_; ++i) {
      if (i > first && toks_[i].space_before) out.push_back(' ');
      out.append(src_.substr(toks_[i].begin, toks_[i].end - toks_[i].begin));
    }
    return out;
  }

  // (Rule) [and|or (Rule)]... ; each operand may itself be a parenthesized composite.
  absl::StatusOr<Rule> ParseComposite() {
    size_t first = pos_;
    const Token& start = Peek();
    std::vector<Rule> children;
    ASSIGN_OR_RETURN(Rule child, ParseParenthesized());
    children.push_back(std::move(child));
    std::optional<RuleType> op;
    while (IsWord(Peek(), "and") || IsWord(Peek(), "or")) {
      RuleType this_op = IsWord(Peek(), "and") ? RuleType::kAnd : RuleType::kOr;
      if (op && *op != this_op) return Error(Peek(), "cannot mix 'and' and 'or' without parentheses");
      op = this_op;
      Next();
      if (Peek().kind != Tok::kLParen) return Error(Peek(), StrCat("expected '(' after ", Quoted(Prev())));
      ASSIGN_OR_RETURN(Rule next, ParseParenthesized());
      children.push_back(std::move(next));
    }
    if (!op) return std::move(children[0]);
    Rule r;
    r.type = *op;
    r.children = std::move(children);
    r.text = TextFrom(first);
    std::tie(r.line, r.column) = Position(src_, start.begin);
    return r;
  }

  absl::StatusOr<Rule> ParseParenthesized() {
    RETURN_IF_ERROR(Expect(Tok::kLParen, "expected '('"));
    absl::StatusOr<Rule> inner = Peek().kind == Tok::kLParen ? ParseComposite() : ParseLeaf();
    if (!inner.ok()) return inner.status();
    RETURN_IF_ERROR(Expect(Tok::kRParen, "expected ')' after a rule"));
    return inner;
  }

  absl::StatusOr<Rule> ParseLeaf() {
    size_t first = pos_;
    const Token& type_tok = Peek();
    if (type_tok.kind != Tok::kIdent) return Error(type_tok, "expected a rule type");
    const RuleSpec* spec = FindSpec(type_tok.value);
    if (spec == nullptr) return Error(type_tok, StrCat("unknown rule type '", type_tok.value, "'"));
    Next();
    Rule r;
    r.type = spec->type;
    std::tie(r.line, r.column) = Position(src_, type_tok.begin);
    std::string name(spec->name);

    // Parameters: quoted strings or bare identifiers, optionally joined by `of`/`and`.
    std::vector<const Token*> params;
    for (;;) {
      const Token& t = Peek();
      bool connector = !params.empty() && (IsWord(t, "of") || IsWord(t, "and")) &&
                       (Peek(1).kind == Tok::kString || (Peek(1).kind == Tok::kIdent && !IsKeyword(Peek(1))));
      if (connector) {
        Next();
        continue;
      }
      // A bare word naming a rule type starts the next rule (a missing comma), not a column.
      if (t.kind == Tok::kString || (t.kind == Tok::kIdent && !IsKeyword(t) && FindSpec(t.value) == nullptr)) {
        if (spec->max_columns >= 0 && static_cast<int>(params.size()) >= spec->max_columns) {
          std::string_view what = r.type == RuleType::kCustomSql ? "one SQL statement" : "one column name";
          return Error(t, StrCat(name, " takes ", spec->max_columns == 0 ? "no column name" : what));
        }
        params.push_back(&Next());
        continue;
      }
      break;
    }
    if (static_cast<int>(params.size()) < spec->min_columns) {
      if (r.type == RuleType::kCustomSql) return Error(Peek(), "expected a quoted SQL statement after 'CustomSql'");
      return Error(Peek(), StrCat("expected a column name after '", name, "'"));
    }
    if (r.type == RuleType::kCustomSql) {
      const Token& t = *params[0];
      std::string_view sql = StripWhitespace(t.value);
      while (!sql.empty() && sql.back() == ';') sql = StripWhitespace(sql.substr(0, sql.size() - 1));
      std::string lower = AsciiLower(sql.substr(0, 6));
      if (t.kind != Tok::kString || !(lower.starts_with("select") || lower.starts_with("with")) ||
          !IsSingleSqlFragment(sql)) {
        return Error(t, "CustomSql expects one quoted SELECT statement");
      }
      r.sql = std::string(sql);
    } else {
      for (const Token* p : params) r.columns.push_back(p->value);
    }

    // Condition, then `where` and `with threshold` in either order.
    const Token& cond_tok = Peek();
    if (StartsCondition(cond_tok)) {
      if (spec->condition == Use::kForbidden) return Error(cond_tok, StrCat(name, " takes no condition"));
      ASSIGN_OR_RETURN(r.condition, ParseCondition(spec->operands));
    } else if (spec->condition == Use::kRequired) {
      return Error(cond_tok, StrCat("expected a condition such as '> 0' after ", Quoted(Prev())));
    }
    for (;;) {
      const Token& t = Peek();
      if (IsWord(t, "where") && !r.where) {
        if (!spec->where_ok) return Error(t, StrCat("'where' is not supported for ", name));
        Next();
        const Token& w = Peek();
        if (w.kind != Tok::kString) return Error(w, "expected a quoted SQL condition after 'where'");
        if (StripWhitespace(w.value).empty() || !IsSingleSqlFragment(w.value)) {
          return Error(w, "the where clause must be a single SQL condition");
        }
        r.where = Next().value;
      } else if (IsWord(t, "with") && !r.threshold) {
        if (!spec->threshold_ok || (r.type == RuleType::kCustomSql && r.condition)) {
          return Error(t, StrCat("'with threshold' applies only to row-level rules, not ", name));
        }
        Next();
        if (!AcceptWord("threshold")) return Error(Peek(), "expected 'threshold' after 'with'");
        if (!StartsCondition(Peek())) return Error(Peek(), "expected a condition after 'threshold'");
        ASSIGN_OR_RETURN(r.threshold, ParseCondition(Operands::kNumber));
      } else {
        break;
      }
    }
    r.text = TextFrom(first);
    return r;
  }

  bool StartsCondition(const Token& t) const {
    switch (t.kind) {
      case Tok::kEq: case Tok::kNe: case Tok::kGt: case Tok::kGe: case Tok::kLt: case Tok::kLe:
        return true;
      default:
        return IsWord(t, "between") || IsWord(t, "not") || IsWord(t, "in") || IsWord(t, "matches");
    }
  }

  absl::StatusOr<Condition> ParseCondition(Operands kind) {
    static constexpr std::pair<Tok, Op> kComparisons[] = {{Tok::kEq, Op::kEq}, {Tok::kNe, Op::kNe}, {Tok::kGt, Op::kGt},
                                                          {Tok::kGe, Op::kGe}, {Tok::kLt, Op::kLt}, {Tok::kLe, Op::kLe}};
    Condition c;
    bool negated = AcceptWord("not");
    const Token& op = Next();
    if (IsWord(op, "between")) c.op = negated ? Op::kNotBetween : Op::kBetween;
    else if (IsWord(op, "in")) c.op = negated ? Op::kNotIn : Op::kIn;
    else if (IsWord(op, "matches") && (kind == Operands::kValue || !negated)) c.op = negated ? Op::kNotMatches : Op::kMatches;
    else if (negated) return Error(op, "expected 'between' or 'in' after 'not'");
    for (const auto& [tok, cmp] : kComparisons) {
      if (op.kind == tok) c.op = cmp;
    }
    bool equality = c.op == Op::kEq || c.op == Op::kNe;
    if (c.op == Op::kMatches || c.op == Op::kNotMatches) {
      if (kind != Operands::kValue) return Error(op, "'matches' applies only to ColumnValues");
      if (Peek().kind != Tok::kString) return Error(Peek(), "expected a quoted regular expression after 'matches'");
      c.operands.push_back(Operand{Operand::Kind::kString, 0, Next().value});
    } else if (c.op == Op::kBetween || c.op == Op::kNotBetween) {
      ASSIGN_OR_RETURN(Operand lo, ParseOperand(kind, false));
      if (!AcceptWord("and")) return Error(Peek(), StrCat("expected 'and' after ", Quoted(Prev())));
      ASSIGN_OR_RETURN(Operand hi, ParseOperand(kind, false));
      c.operands = {std::move(lo), std::move(hi)};
    } else if (c.op == Op::kIn || c.op == Op::kNotIn) {
      RETURN_IF_ERROR(Expect(Tok::kLBracket, StrCat("expected '[' after ", Quoted(op))));
      do {
        ASSIGN_OR_RETURN(Operand o, ParseOperand(kind, true));
        c.operands.push_back(std::move(o));
      } while (Accept(Tok::kComma));
      RETURN_IF_ERROR(Expect(Tok::kRBracket, "expected ',' or ']' in the list"));
    } else {
      ASSIGN_OR_RETURN(Operand o, ParseOperand(kind, equality));
      c.operands.push_back(std::move(o));
    }
    return c;
  }

  // One operand of the given kind; `keywords` allows NULL / EMPTY / WHITESPACES_ONLY.
  absl::StatusOr<Operand> ParseOperand(Operands kind, bool keywords) {
    std::string after = Quoted(Prev());
    std::string expected = kind == Operands::kDuration ? "a duration such as '24 hours'"
                           : kind == Operands::kValue  ? "a value"
                                                       : "a number";
    Operand o;
    const Token& t = Peek();
    if (kind == Operands::kValue && keywords) {
      if (IsWord(t, "null")) o.kind = Operand::Kind::kNull;
      else if (IsWord(t, "empty")) o.kind = Operand::Kind::kEmpty;
      else if (IsWord(t, "whitespaces_only")) o.kind = Operand::Kind::kWhitespacesOnly;
      if (o.kind != Operand::Kind::kNumber) {
        Next();
        return o;
      }
    }
    if (kind == Operands::kValue && t.kind == Tok::kString) {
      o.kind = IsDateText(t.value) ? Operand::Kind::kDate : Operand::Kind::kString;
      o.text = Next().value;
      return o;
    }
    if (kind == Operands::kValue && (IsWord(t, "now") || (t.kind == Tok::kLParen && IsWord(Peek(1), "now")))) {
      return ParseNow();
    }
    double sign = 1;
    size_t mark = pos_;
    if (Peek().kind == Tok::kMinus || Peek().kind == Tok::kPlus) sign = Next().kind == Tok::kMinus ? -1 : 1;
    if (Peek().kind != Tok::kNumber || (kind == Operands::kDuration && sign < 0)) {
      pos_ = mark;
      return Error(Peek(), StrCat("expected ", expected, " after ", after));
    }
    o.number = sign * std::strtod(Next().value.c_str(), nullptr);
    if (kind == Operands::kDuration) {
      ASSIGN_OR_RETURN(o.number, ParseUnit(o.number));
      o.kind = Operand::Kind::kDuration;
    }
    return o;
  }

  // After a number: days | hours | minutes (singular too); returns the duration in seconds.
  absl::StatusOr<double> ParseUnit(double amount) {
    const Token& u = Peek();
    double scale = 0;
    if (IsWord(u, "days") || IsWord(u, "day")) scale = 86400;
    else if (IsWord(u, "hours") || IsWord(u, "hour")) scale = 3600;
    else if (IsWord(u, "minutes") || IsWord(u, "minute")) scale = 60;
    if (scale == 0) return Error(u, StrCat("expected days, hours or minutes after ", Quoted(Prev())));
    Next();
    return amount * scale;
  }

  // now() | (now() + N unit) | (now() - N unit)
  absl::StatusOr<Operand> ParseNow() {
    Operand o;
    o.kind = Operand::Kind::kNow;
    bool paren = Accept(Tok::kLParen);
    Next();  // now
    RETURN_IF_ERROR(Expect(Tok::kLParen, "expected '(' after 'now'"));
    RETURN_IF_ERROR(Expect(Tok::kRParen, "expected ')' after 'now('"));
    if (!paren) return o;
    if (Peek().kind == Tok::kMinus || Peek().kind == Tok::kPlus) {
      double sign = Next().kind == Tok::kMinus ? -1 : 1;
      if (Peek().kind != Tok::kNumber) return Error(Peek(), StrCat("expected a number after ", Quoted(Prev())));
      double amount = std::strtod(Next().value.c_str(), nullptr);
      ASSIGN_OR_RETURN(double seconds, ParseUnit(amount));
      o.number = sign * seconds;
    }
    RETURN_IF_ERROR(Expect(Tok::kRParen, "expected ')' after the date expression"));
    return o;
  }

  std::string_view src_;
  std::vector<Token> toks_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------------------
// SQL generation

// Shortest round-trip text of a double, valid as a SQL numeric literal.
std::string NumberText(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  if (ec != std::errc()) return "0";
  return std::string(buf, end);
}

// As Glue prints metric values (Java's Double.toString for ordinary values): 5.0, 0.8.
std::string MetricText(double v) {
  std::string s = NumberText(v);
  if (s.find_first_of(".eni") == std::string::npos) s += ".0";
  return s;
}

std::string TimestampLiteral(absl::Time t) {
  return StrCat("TIMESTAMP ", SqlQuote(absl::FormatTime("%Y-%m-%d %H:%M:%E6S", t, absl::UTCTimeZone())));
}

std::string NullSafe(std::string_view predicate) { return StrCat("COALESCE(", predicate, ", FALSE)"); }

std::string_view CompareOp(Op op) {
  switch (op) {
    case Op::kEq: return "=";
    case Op::kNe: return "<>";
    case Op::kGt: return ">";
    case Op::kGe: return ">=";
    case Op::kLt: return "<";
    default: return "<=";
  }
}

// `lhs <cond>` for numeric operands (numbers and durations, both already in SQL units).
// NULL in, FALSE out.
std::string NumericSql(const std::string& lhs, const Condition& c) {
  auto num = [](const Operand& o) { return NumberText(o.number); };
  switch (c.op) {
    case Op::kBetween:
      return NullSafe(StrCat(lhs, " > ", num(c.operands[0]), " AND ", lhs, " < ", num(c.operands[1])));
    case Op::kNotBetween:
      return NullSafe(StrCat(lhs, " <= ", num(c.operands[0]), " OR ", lhs, " >= ", num(c.operands[1])));
    case Op::kIn:
    case Op::kNotIn: {
      std::vector<std::string> items;
      for (const Operand& o : c.operands) items.push_back(num(o));
      return NullSafe(StrCat(lhs, c.op == Op::kIn ? " IN (" : " NOT IN (", Join(items, ", "), ")"));
    }
    default:
      return NullSafe(StrCat(lhs, " ", CompareOp(c.op), " ", num(c.operands[0])));
  }
}

// ColumnValues' per-row predicate over column expression `v`. Following Glue, NULL values
// fail every form except `!=` and `not in` (unless NULL is named in the rule).
std::string ValuesSql(const std::string& v, const Condition& c, absl::Time now) {
  auto side = [&](const Operand& o) -> std::pair<std::string, std::string> {
    switch (o.kind) {
      case Operand::Kind::kNumber: return {StrCat("TRY_CAST(", v, " AS DOUBLE)"), NumberText(o.number)};
      case Operand::Kind::kDate:
        return {StrCat("TRY_CAST(", v, " AS TIMESTAMP)"), StrCat("TRY_CAST(", SqlQuote(o.text), " AS TIMESTAMP)")};
      case Operand::Kind::kNow:
        return {StrCat("TRY_CAST(", v, " AS TIMESTAMP)"), TimestampLiteral(now + absl::Seconds(o.number))};
      default: return {StrCat("CAST(", v, " AS VARCHAR)"), SqlQuote(o.text)};
    }
  };
  auto equals = [&](const Operand& o) -> std::string {
    switch (o.kind) {
      case Operand::Kind::kNull: return StrCat(v, " IS NULL");
      case Operand::Kind::kEmpty: return StrCat("CAST(", v, " AS VARCHAR) = ''");
      case Operand::Kind::kWhitespacesOnly: return StrCat("regexp_full_match(CAST(", v, " AS VARCHAR), '\\s+')");
      default: {
        auto [l, r] = side(o);
        return StrCat(l, " = ", r);
      }
    }
  };
  auto any_of = [&](bool skip_null) {
    std::vector<std::string> parts;
    for (const Operand& o : c.operands) {
      if (!(skip_null && o.kind == Operand::Kind::kNull)) parts.push_back(StrCat("(", equals(o), ")"));
    }
    return parts.empty() ? std::string("FALSE") : NullSafe(Join(parts, " OR "));
  };
  bool names_null = std::any_of(c.operands.begin(), c.operands.end(),
                                [](const Operand& o) { return o.kind == Operand::Kind::kNull; });
  switch (c.op) {
    case Op::kEq:
      return NullSafe(equals(c.operands[0]));
    case Op::kNe:
      if (names_null) return StrCat("(", v, " IS NOT NULL)");
      return StrCat("(", v, " IS NULL OR NOT ", NullSafe(equals(c.operands[0])), ")");
    case Op::kIn:
      return any_of(false);
    case Op::kNotIn:
      return StrCat("(", v, names_null ? " IS NOT NULL AND NOT " : " IS NULL OR NOT ", any_of(true), ")");
    case Op::kMatches:
    case Op::kNotMatches:
      return NullSafe(StrCat(c.op == Op::kMatches ? "" : "NOT ", "regexp_full_match(CAST(", v, " AS VARCHAR), ",
                             SqlQuote(c.operands[0].text), ")"));
    case Op::kBetween:
    case Op::kNotBetween: {
      auto [l1, r1] = side(c.operands[0]);
      auto [l2, r2] = side(c.operands[1]);
      if (c.op == Op::kBetween) return NullSafe(StrCat(l1, " > ", r1, " AND ", l2, " < ", r2));
      return NullSafe(StrCat(l1, " <= ", r1, " OR ", l2, " >= ", r2));
    }
    default: {
      auto [l, r] = side(c.operands[0]);
      return NullSafe(StrCat(l, " ", CompareOp(c.op), " ", r));
    }
  }
}

std::string Ident(std::string_view column) { return SqlQuoteIdent(column); }

// The row-level pass predicate of a leaf rule (ignoring its where clause), or nullopt.
std::optional<std::string> LeafRowSql(const Rule& r, absl::Time now) {
  switch (r.type) {
    case RuleType::kIsComplete:
    case RuleType::kCompleteness:
      return StrCat("(", Ident(r.columns[0]), " IS NOT NULL)");
    case RuleType::kColumnValues:
      return ValuesSql(Ident(r.columns[0]), *r.condition, now);
    case RuleType::kColumnLength:
      return NumericSql(StrCat("COALESCE(length(CAST(", Ident(r.columns[0]), " AS VARCHAR)), 0)"), *r.condition);
    case RuleType::kDataFreshness: {
      // The value's age in seconds, compared with the rule's durations (also in seconds).
      char now_epoch[64];
      std::snprintf(now_epoch, sizeof(now_epoch), "%.6f", static_cast<double>(absl::ToUnixMicros(now)) / 1e6);
      return NumericSql(StrCat("(", now_epoch, " - epoch(TRY_CAST(", Ident(r.columns[0]), " AS TIMESTAMP)))"), *r.condition);
    }
    default:
      return std::nullopt;
  }
}

std::string WhereSql(const Rule& r) { return r.where ? NullSafe(StrCat("(", *r.where, ")")) : "TRUE"; }

// The row predicate of any rule, where clause applied; nullopt if it constrains no rows.
std::optional<std::string> RowSql(const Rule& r, absl::Time now) {
  if (r.type == RuleType::kAnd || r.type == RuleType::kOr) {
    std::vector<std::string> parts;
    for (const Rule& child : r.children) {
      std::optional<std::string> p = RowSql(child, now);
      if (!p) {
        if (r.type == RuleType::kOr) return std::nullopt;  // that branch may pass every row
        continue;
      }
      parts.push_back(StrCat("(", *p, ")"));
    }
    if (parts.empty()) return std::nullopt;
    return Join(parts, r.type == RuleType::kAnd ? " AND " : " OR ");
  }
  std::optional<std::string> p = LeafRowSql(r, now);
  if (!p || !r.where) return p;
  return StrCat("(NOT ", WhereSql(r), " OR ", *p, ")");
}

// Replaces each bare `primary` in a CustomSql statement by the quoted CTE name (PRIMARY is
// a keyword in DuckDB) and defines that CTE as the relation.
std::string BindPrimary(std::string_view sql, const std::string& relation) {
  std::string body;
  size_t copied = 0;
  ScanSql(sql, [&](size_t i) {
    if (i < copied || !IsIdentStart(sql[i]) || (i > 0 && IsIdentChar(sql[i - 1]))) return;
    size_t j = i;
    while (j < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_')) ++j;
    if (EqualsIgnoreCase(sql.substr(i, j - i), "primary")) {
      body.append(sql.substr(copied, i - copied));
      body.append("\"primary\"");
      copied = j;
    }
  });
  body.append(sql.substr(copied));
  std::string cte = StrCat("\"primary\" AS (SELECT * FROM ", relation, " AS dq_p)");
  std::string_view rest = body;
  rest = StripWhitespace(rest);
  if (rest.size() > 4 && EqualsIgnoreCase(rest.substr(0, 4), "with") && !IsIdentChar(rest[4])) {
    rest = StripWhitespace(rest.substr(4));
    if (rest.size() > 9 && EqualsIgnoreCase(rest.substr(0, 9), "recursive") && !IsIdentChar(rest[9])) {
      return StrCat("WITH RECURSIVE ", cte, ", ", StripWhitespace(rest.substr(9)));
    }
    return StrCat("WITH ", cte, ", ", rest);
  }
  return StrCat("WITH ", cte, " ", rest);
}

// ---------------------------------------------------------------------------
// Evaluation

struct Outcome {
  std::string result;  // PASS / FAIL / ERROR
  std::string message;
  std::map<std::string, double> metrics;
};

Outcome ErrorOutcome(std::string message) { return {"ERROR", std::move(message), {}}; }

// DuckDB's messages end with the offending SQL; the first line says what went wrong.
Outcome ErrorOutcome(const absl::Status& status) {
  std::string m(status.message());
  return ErrorOutcome(std::string(StripWhitespace(std::string_view(m).substr(0, m.find('\n')))));
}

bool Satisfies(double x, const Condition& c) {
  const std::vector<Operand>& o = c.operands;
  switch (c.op) {
    case Op::kEq: return x == o[0].number;
    case Op::kNe: return x != o[0].number;
    case Op::kGt: return x > o[0].number;
    case Op::kGe: return x >= o[0].number;
    case Op::kLt: return x < o[0].number;
    case Op::kLe: return x <= o[0].number;
    case Op::kBetween: return x > o[0].number && x < o[1].number;
    case Op::kNotBetween: return !(x > o[0].number && x < o[1].number);
    case Op::kIn:
    case Op::kNotIn: {
      bool in = std::any_of(o.begin(), o.end(), [&](const Operand& v) { return v.number == x; });
      return c.op == Op::kIn ? in : !in;
    }
    default: return false;
  }
}

std::optional<double> ToDouble(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(text->c_str(), &end);
  if (end == text->c_str() || *end != '\0') return std::nullopt;
  return v + 0.0;  // folds -0 into 0
}

std::string NotMet(double value) { return StrCat("Value: ", MetricText(value), " does not meet the constraint requirement!"); }

Outcome Judge(const std::string& metric, std::optional<double> value, const std::function<bool(double)>& pass) {
  if (!value) return {"FAIL", StrCat("Metric ", metric, " could not be computed: no values to evaluate"), {}};
  Outcome o{pass(*value) ? "PASS" : "FAIL", "", {{metric, *value}}};
  if (o.result == "FAIL") o.message = NotMet(*value);
  return o;
}

// Runs one statement (a prepared statement cannot hold more than one).
absl::StatusOr<QueryResult> RunOne(Connection& con, const std::string& sql) {
  ASSIGN_OR_RETURN(std::unique_ptr<PreparedStatement> stmt, con.Prepare(sql));
  return stmt->Execute({});
}

// Evaluates one ruleset against one relation: plans each leaf rule as SQL expressions,
// runs them batched, judges the values, then folds composites. Borrows the connection and
// the relation text for its lifetime; used on the connection's thread.
class Evaluator {
 public:
  Evaluator(const std::string& relation, Connection& con, absl::Time now) : rel_(relation), con_(con), now_(now) {}

  absl::StatusOr<Evaluation> Run(const Ruleset& ruleset) {
    ASSIGN_OR_RETURN(QueryResult shape, RunOne(con_, StrCat("SELECT * FROM ", rel_, " AS dq_t LIMIT 0")));
    columns_ = shape.columns;
    for (const Rule& r : ruleset.rules) Plan(r);
    RunBatch();
    Evaluation out;
    int passed = 0;
    for (size_t i = 0; i < ruleset.rules.size(); ++i) {
      const Rule& r = ruleset.rules[i];
      Outcome o = Combine(r);
      passed += o.result == "PASS";
      out.rules.push_back(RuleResult{StrCat("Rule_", i + 1), r.text, o.result, o.message, std::move(o.metrics)});
    }
    out.score = ruleset.rules.empty() ? 0 : static_cast<double>(passed) / ruleset.rules.size();
    return out;
  }

 private:
  // What a leaf needs: aggregate SQL expressions over the relation, and how to judge them.
  struct Leaf {
    std::vector<std::string> exprs;
    std::function<Outcome(const std::vector<std::optional<std::string>>&)> judge;
    std::optional<Outcome> outcome;  // known without (or after) the batch query
  };

  const std::string* FindColumn(std::string_view name) const {
    for (const std::string& c : columns_) {
      if (EqualsIgnoreCase(c, name)) return &c;
    }
    return nullptr;
  }

  void Plan(const Rule& r) {
    if (r.type == RuleType::kAnd || r.type == RuleType::kOr) {
      for (const Rule& child : r.children) Plan(child);
      return;
    }
    Leaf& leaf = leaves_[&r];
    for (const std::string& c : r.columns) {
      if (FindColumn(c) == nullptr) {
        leaf.outcome = r.type == RuleType::kColumnExists ? Outcome{"FAIL", StrCat("Column ", c, " does not exist"), {}}
                                                         : ErrorOutcome(StrCat("Column ", c, " does not exist"));
        return;
      }
    }
    const std::string where = WhereSql(r);
    auto count_where = [&](const std::string& pred) {
      return r.where || pred != "TRUE" ? StrCat("count(*) FILTER (WHERE ", where, " AND ", pred, ")") : "count(*)";
    };
    auto agg = [&](std::string_view fn, const std::string& arg) {
      return r.where ? StrCat(fn, "(", arg, ") FILTER (WHERE ", where, ")") : StrCat(fn, "(", arg, ")");
    };
    // Deequ's grouping metrics count rows where any of the columns is non-null.
    auto grouped = [&](const std::vector<std::string>& cols, std::string_view select) {
      std::vector<std::string> ids, non_null;
      for (const std::string& c : cols) {
        ids.push_back(Ident(c));
        non_null.push_back(StrCat(Ident(c), " IS NOT NULL"));
      }
      return StrCat("(SELECT ", select, " FROM (SELECT count(*)::DOUBLE AS c, sum(count(*)) OVER () AS n FROM ", rel_,
                    " AS dq_g WHERE (", Join(non_null, " OR "), ") AND ", where, " GROUP BY ", Join(ids, ", "), "))");
    };
    std::string col = r.columns.empty() ? "" : r.columns[0];
    std::string v = r.columns.empty() ? "" : Ident(col);
    auto metric_rule = [&](std::string metric, std::string expr) {
      leaf.exprs = {std::move(expr)};
      const Condition cond = *r.condition;
      leaf.judge = [metric, cond](const std::vector<std::optional<std::string>>& vals) {
        return Judge(metric, ToDouble(vals[0]), [&](double x) { return Satisfies(x, cond); });
      };
    };
    const std::string uniqueness = "count(*) FILTER (WHERE c = 1) / sum(c)";
    switch (r.type) {
      case RuleType::kColumnExists:
        leaf.outcome = Outcome{"PASS", "", {}};
        return;
      case RuleType::kColumnCount: {
        double n = static_cast<double>(columns_.size());
        leaf.outcome = Judge("Dataset.*.ColumnCount", n, [&](double x) { return Satisfies(x, *r.condition); });
        return;
      }
      case RuleType::kCustomSql:
        leaf.outcome = CustomSql(r);
        return;
      case RuleType::kRowCount: return metric_rule("Dataset.*.RowCount", count_where("TRUE"));
      case RuleType::kCompleteness:
        return metric_rule(StrCat("Column.", col, ".Completeness"),
                           StrCat(agg("count", v), "::DOUBLE / NULLIF(", count_where("TRUE"), ", 0)"));
      case RuleType::kUniqueness: return metric_rule(StrCat("Column.", col, ".Uniqueness"), grouped(r.columns, uniqueness));
      case RuleType::kMean: return metric_rule(StrCat("Column.", col, ".Mean"), agg("avg", v));
      case RuleType::kSum: return metric_rule(StrCat("Column.", col, ".Sum"), agg("sum", v));
      case RuleType::kStandardDeviation:
        return metric_rule(StrCat("Column.", col, ".StandardDeviation"), agg("stddev_pop", v));
      case RuleType::kDistinctValuesCount:
        return metric_rule(StrCat("Column.", col, ".DistinctValuesCount"), agg("count", StrCat("DISTINCT ", v)));
      case RuleType::kEntropy:
        return metric_rule(StrCat("Column.", col, ".Entropy"), grouped(r.columns, "-sum((c / n) * ln(c / n))"));
      case RuleType::kIsComplete:
      case RuleType::kIsUnique:
      case RuleType::kIsPrimaryKey: {
        // Completeness of each column (IsComplete, IsPrimaryKey), then uniqueness (IsUnique,
        // IsPrimaryKey); every metric must be exactly 1.
        std::vector<std::string> names;
        if (r.type != RuleType::kIsUnique) {
          for (const std::string& c : r.columns) {
            names.push_back(StrCat("Column.", c, ".Completeness"));
            leaf.exprs.push_back(StrCat(agg("count", Ident(c)), "::DOUBLE / NULLIF(", count_where("TRUE"), ", 0)"));
          }
        }
        if (r.type != RuleType::kIsComplete) {
          names.push_back(r.columns.size() == 1 ? StrCat("Column.", col, ".Uniqueness")
                                                : StrCat("Multicolumn.", Join(r.columns, ","), ".Uniqueness"));
          leaf.exprs.push_back(grouped(r.columns, uniqueness));
        }
        leaf.judge = [names](const std::vector<std::optional<std::string>>& vals) {
          Outcome all{"PASS", "", {}};
          for (size_t i = 0; i < names.size(); ++i) {
            Outcome o = Judge(names[i], ToDouble(vals[i]), [](double x) { return x == 1.0; });
            all.metrics.insert(o.metrics.begin(), o.metrics.end());
            if (o.result != "PASS" && all.result == "PASS") {
              all.result = o.result;
              all.message = o.message;
            }
          }
          return all;
        };
        return;
      }
      case RuleType::kColumnValues:
      case RuleType::kColumnLength:
      case RuleType::kDataFreshness: {
        std::string pass = *LeafRowSql(r, now_);
        std::string kind = r.type == RuleType::kColumnValues   ? "ColumnValues"
                           : r.type == RuleType::kColumnLength ? "ColumnLength"
                                                               : "DataFreshness";
        std::string compliance = StrCat("Column.", col, ".", kind, ".Compliance");
        leaf.exprs = {count_where("TRUE"), count_where(pass),
                      StrCat("min(COALESCE(CAST(", v, " AS VARCHAR), 'NULL')) FILTER (WHERE ", where, " AND NOT ", pass, ")")};
        if (r.type == RuleType::kColumnLength) {
          std::string len = StrCat("COALESCE(length(CAST(", v, " AS VARCHAR)), 0)");
          leaf.exprs.push_back(agg("min", len));
          leaf.exprs.push_back(agg("max", len));
        }
        const RuleType type = r.type;
        const std::optional<Condition> threshold = r.threshold;
        leaf.judge = [=](const std::vector<std::optional<std::string>>& vals) {
          return JudgeRows(compliance, ToDouble(vals[0]), ToDouble(vals[1]), threshold,
                           type == RuleType::kColumnValues ? vals[2] : std::nullopt);
        };
        if (r.type == RuleType::kColumnLength) {
          auto base = leaf.judge;
          leaf.judge = [base, col](const std::vector<std::optional<std::string>>& vals) {
            Outcome o = base(vals);
            if (auto min = ToDouble(vals[3])) o.metrics[StrCat("Column.", col, ".MinimumLength")] = *min;
            if (auto max = ToDouble(vals[4])) o.metrics[StrCat("Column.", col, ".MaximumLength")] = *max;
            return o;
          };
        }
        return;
      }
      default:
        leaf.outcome = ErrorOutcome("unsupported rule");
    }
  }

  // Row-level rules: all rows (or the `with threshold` fraction) must pass.
  static Outcome JudgeRows(const std::string& metric, std::optional<double> rows, std::optional<double> passed,
                           const std::optional<Condition>& threshold, const std::optional<std::string>& sample) {
    if (!rows || !passed || *rows == 0) {
      return {"FAIL", StrCat("Metric ", metric, " could not be computed: no rows to evaluate"), {}};
    }
    double compliance = *passed / *rows;
    Outcome o{"PASS", "", {{metric, compliance}}};
    bool ok = threshold ? Satisfies(compliance, *threshold) : *passed == *rows;
    if (ok) return o;
    o.result = "FAIL";
    char pct[64];
    std::snprintf(pct, sizeof(pct), "%.2f %% of rows passed the threshold", compliance * 100);
    o.message = sample && !threshold ? StrCat("Value: ", *sample, " does not meet the constraint requirement!") : pct;
    return o;
  }

  // One query for every planned expression; if it fails, one query per leaf, so that only
  // the leaves whose SQL is broken (say, a bad where clause) become errors.
  void RunBatch() {
    std::vector<std::pair<Leaf*, size_t>> pending;
    std::vector<std::string> select;
    for (auto& [rule, leaf] : leaves_) {
      if (leaf.outcome || leaf.exprs.empty()) continue;
      pending.emplace_back(&leaf, select.size());
      for (const std::string& e : leaf.exprs) select.push_back(StrCat(e, " AS m", select.size()));
    }
    if (pending.empty()) return;
    // count(*) makes the query an aggregate, so it yields one row even when every other
    // expression is a (grouping) scalar subquery.
    auto run = [&](const std::vector<std::string>& cols) {
      return RunOne(con_, StrCat("SELECT count(*) AS dq_rows, ", Join(cols, ", "), " FROM ", rel_, " AS dq_t"));
    };
    absl::StatusOr<QueryResult> batch = run(select);
    for (auto& [leaf, first] : pending) {
      std::vector<std::optional<std::string>> vals;
      if (batch.ok() && batch->rows.size() == 1) {
        vals.assign(batch->rows[0].begin() + 1 + first, batch->rows[0].begin() + 1 + first + leaf->exprs.size());
      } else {
        std::vector<std::string> own(select.begin() + first, select.begin() + first + leaf->exprs.size());
        absl::StatusOr<QueryResult> single = run(own);
        if (!single.ok() || single->rows.size() != 1) {
          leaf->outcome = single.ok() ? ErrorOutcome("query returned no row") : ErrorOutcome(single.status());
          continue;
        }
        vals.assign(single->rows[0].begin() + 1, single->rows[0].end());
      }
      leaf->outcome = leaf->judge(vals);
    }
  }

  // CustomSql with a condition compares the statement's single value; without one, the rows
  // it returns pass and the relation's other rows fail (matched on the shared columns).
  Outcome CustomSql(const Rule& r) {
    std::string sql = BindPrimary(r.sql, rel_);
    if (r.condition) {
      absl::StatusOr<QueryResult> res = RunOne(con_, sql);
      if (!res.ok()) return ErrorOutcome(res.status());
      if (res->columns.size() != 1 || res->rows.size() != 1) {
        return ErrorOutcome("CustomSql must return a single numeric value (one row, one column)");
      }
      std::optional<double> x = ToDouble(res->rows[0][0]);
      if (res->rows[0][0] && !x) return ErrorOutcome("CustomSql must return a single numeric value");
      return Judge("Dataset.*.CustomSQL", x, [&](double v) { return Satisfies(v, *r.condition); });
    }
    absl::StatusOr<QueryResult> shape = RunOne(con_, StrCat("SELECT * FROM (", sql, ") AS dq_r LIMIT 0"));
    if (!shape.ok()) return ErrorOutcome(shape.status());
    std::vector<std::string> keys, on;
    std::set<std::string> seen;
    for (const std::string& c : shape->columns) {
      const std::string* own = FindColumn(c);
      if (own == nullptr || !seen.insert(AsciiLower(c)).second) continue;
      keys.push_back(Ident(*own));
      on.push_back(StrCat("dq_t.", Ident(*own), " IS NOT DISTINCT FROM dq_m.", Ident(*own)));
    }
    if (keys.empty()) {
      return ErrorOutcome("The output from CustomSql must contain a column of the input dataset for row-level results");
    }
    absl::StatusOr<QueryResult> res = RunOne(
        con_, StrCat("SELECT count(*), count(dq_m.dq_hit) FROM ", rel_, " AS dq_t LEFT JOIN (SELECT DISTINCT ", Join(keys, ", "),
                     ", TRUE AS dq_hit FROM (", sql, ") AS dq_r) AS dq_m ON ", Join(on, " AND ")));
    if (!res.ok()) return ErrorOutcome(res.status());
    return JudgeRows("Dataset.*.CustomSQL.Compliance", ToDouble(res->rows[0][0]), ToDouble(res->rows[0][1]), r.threshold,
                     std::nullopt);
  }

  // A leaf's outcome, or a composite's from its children: any ERROR makes it ERROR.
  Outcome Combine(const Rule& r) {
    if (r.type != RuleType::kAnd && r.type != RuleType::kOr) {
      return leaves_[&r].outcome.value_or(ErrorOutcome("rule was not evaluated"));
    }
    Outcome out;
    std::vector<std::string> failures;
    int passes = 0;
    std::string error;
    for (const Rule& child : r.children) {
      Outcome o = Combine(child);
      out.metrics.insert(o.metrics.begin(), o.metrics.end());
      passes += o.result == "PASS";
      if (o.result == "ERROR" && error.empty()) error = StrCat(child.text, ": ", o.message);
      if (o.result != "PASS") failures.push_back(StrCat(child.text, ": ", o.message));
    }
    bool pass = r.type == RuleType::kAnd ? passes == static_cast<int>(r.children.size()) : passes > 0;
    out.result = !error.empty() ? "ERROR" : pass ? "PASS" : "FAIL";
    out.message = !error.empty() ? error : pass ? "" : Join(failures, "; ");
    return out;
  }

  const std::string& rel_;
  Connection& con_;
  absl::Time now_;
  std::vector<std::string> columns_;
  std::map<const Rule*, Leaf> leaves_;
};

}  // namespace

std::string_view RuleTypeName(RuleType type) {
  if (type == RuleType::kAnd) return "and";
  if (type == RuleType::kOr) return "or";
  for (const RuleSpec& s : kSpecs) {
    if (s.type == type) return s.name;
  }
  return "";
}

absl::StatusOr<Ruleset> Parse(std::string_view text) {
  ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(text));
  Parser parser(text, std::move(tokens));
  return parser.ParseDocument();
}

absl::StatusOr<Evaluation> Evaluate(const Ruleset& rules, const std::string& relation, Connection& con, absl::Time now) {
  Evaluator evaluator(relation, con, now);
  return evaluator.Run(rules);
}

absl::StatusOr<std::string> RowPredicate(const Ruleset& rules, absl::Time now) {
  std::vector<std::string> parts;
  for (const Rule& r : rules.rules) {
    if (std::optional<std::string> p = RowSql(r, now)) parts.push_back(StrCat("(", *p, ")"));
  }
  return Join(parts, " AND ");
}

}  // namespace sluice::dq
