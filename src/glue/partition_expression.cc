// Glue's partition filter expressions (GetPartitions Expression), evaluated directly on
// partition values: nothing is pasted into SQL.
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "base/strings.h"
#include "glue/catalog.h"

namespace sluice {
namespace {

struct Token {
  enum Kind { kIdent, kString, kNumber, kOp, kEnd } kind;
  std::string text;
};

absl::StatusOr<std::vector<Token>> Lex(const std::string& s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '\'') {
      std::string v;
      ++i;
      for (;;) {
        if (i >= s.size()) return absl::InvalidArgumentError("Unterminated string in partition expression");
        if (s[i] == '\'') {
          if (i + 1 < s.size() && s[i + 1] == '\'') {
            v.push_back('\'');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        v.push_back(s[i++]);
      }
      out.push_back({Token::kString, v});
    } else if (std::isdigit(static_cast<unsigned char>(c)) || (c == '-' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      size_t j = i + 1;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
      out.push_back({Token::kNumber, s.substr(i, j - i)});
      i = j;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '`' || c == '"') {
      if (c == '`' || c == '"') {
        size_t j = s.find(c, i + 1);
        if (j == std::string::npos) return absl::InvalidArgumentError("Unterminated identifier in partition expression");
        out.push_back({Token::kIdent, s.substr(i + 1, j - i - 1)});
        i = j + 1;
      } else {
        size_t j = i;
        while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
        out.push_back({Token::kIdent, s.substr(i, j - i)});
        i = j;
      }
    } else {
      static constexpr const char* kOps[] = {"<=", ">=", "<>", "!=", "=", "<", ">", "(", ")", ","};
      bool found = false;
      for (const char* op : kOps) {
        if (s.compare(i, std::strlen(op), op) == 0) {
          out.push_back({Token::kOp, op});
          i += std::strlen(op);
          found = true;
          break;
        }
      }
      if (!found) return absl::InvalidArgumentError(StrCat("Unexpected character '", std::string(1, c), "' in partition expression"));
    }
  }
  out.push_back({Token::kEnd, ""});
  return out;
}

class Evaluator {
 public:
  Evaluator(std::vector<Token> tokens, const std::vector<std::pair<std::string, std::string>>& values)
      : t_(std::move(tokens)), values_(values) {}

  absl::StatusOr<bool> Run() {
    ASSIGN_OR_RETURN(bool v, Or());
    if (t_[pos_].kind != Token::kEnd) return Error("unexpected '" + t_[pos_].text + "'");
    return v;
  }

 private:
  absl::Status Error(const std::string& what) {
    return absl::InvalidArgumentError(StrCat("Unsupported expression: ", what));
  }
  bool Keyword(const char* k) {
    if (t_[pos_].kind == Token::kIdent && EqualsIgnoreCase(t_[pos_].text, k)) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Op(const char* o) {
    if (t_[pos_].kind == Token::kOp && t_[pos_].text == o) {
      ++pos_;
      return true;
    }
    return false;
  }
  absl::StatusOr<bool> Or() {
    ASSIGN_OR_RETURN(bool v, And());
    while (Keyword("OR")) {
      ASSIGN_OR_RETURN(bool r, And());
      v = v || r;
    }
    return v;
  }
  absl::StatusOr<bool> And() {
    ASSIGN_OR_RETURN(bool v, Not());
    while (Keyword("AND")) {
      ASSIGN_OR_RETURN(bool r, Not());
      v = v && r;
    }
    return v;
  }
  absl::StatusOr<bool> Not() {
    if (Keyword("NOT")) {
      ASSIGN_OR_RETURN(bool v, Not());
      return !v;
    }
    if (Op("(")) {
      ASSIGN_OR_RETURN(bool v, Or());
      if (!Op(")")) return Error("missing ')'");
      return v;
    }
    return Comparison();
  }
  absl::StatusOr<std::string> Operand() {
    const Token& tok = t_[pos_];
    if (tok.kind == Token::kString || tok.kind == Token::kNumber) {
      ++pos_;
      return tok.text;
    }
    if (tok.kind == Token::kIdent) {
      ++pos_;
      for (const auto& [k, v] : values_) {
        if (EqualsIgnoreCase(k, tok.text)) return v;
      }
      return absl::InvalidArgumentError(StrCat("Unknown partition key '", tok.text, "' in expression"));
    }
    return Error("expected a partition key or a value");
  }
  static int Compare(const std::string& a, const std::string& b) {
    char* ea = nullptr;
    char* eb = nullptr;
    double x = std::strtod(a.c_str(), &ea), y = std::strtod(b.c_str(), &eb);
    if (!a.empty() && !b.empty() && *ea == '\0' && *eb == '\0') return x < y ? -1 : x > y ? 1 : 0;
    return a.compare(b) < 0 ? -1 : a.compare(b) > 0 ? 1 : 0;
  }
  static bool Like(const std::string& s, const std::string& p, size_t i = 0, size_t j = 0) {
    if (j == p.size()) return i == s.size();
    if (p[j] == '%') {
      for (size_t k = i; k <= s.size(); ++k) {
        if (Like(s, p, k, j + 1)) return true;
      }
      return false;
    }
    return i < s.size() && (p[j] == '_' || p[j] == s[i]) && Like(s, p, i + 1, j + 1);
  }
  absl::StatusOr<bool> Comparison() {
    ASSIGN_OR_RETURN(std::string left, Operand());
    bool negate = Keyword("NOT");
    if (Keyword("BETWEEN")) {
      ASSIGN_OR_RETURN(std::string lo, Operand());
      if (!Keyword("AND")) return Error("BETWEEN needs AND");
      ASSIGN_OR_RETURN(std::string hi, Operand());
      bool v = Compare(left, lo) >= 0 && Compare(left, hi) <= 0;
      return negate ? !v : v;
    }
    if (Keyword("IN")) {
      if (!Op("(")) return Error("IN needs '('");
      bool v = false;
      do {
        ASSIGN_OR_RETURN(std::string item, Operand());
        v = v || Compare(left, item) == 0;
      } while (Op(","));
      if (!Op(")")) return Error("IN needs ')'");
      return negate ? !v : v;
    }
    if (Keyword("LIKE")) {
      ASSIGN_OR_RETURN(std::string pattern, Operand());
      bool v = Like(left, pattern);
      return negate ? !v : v;
    }
    if (negate) return Error("NOT must be followed by BETWEEN, IN or LIKE here");
    const Token& op = t_[pos_];
    if (op.kind != Token::kOp) return Error("expected a comparison operator");
    ++pos_;
    ASSIGN_OR_RETURN(std::string right, Operand());
    int c = Compare(left, right);
    if (op.text == "=") return c == 0;
    if (op.text == "!=" || op.text == "<>") return c != 0;
    if (op.text == "<") return c < 0;
    if (op.text == "<=") return c <= 0;
    if (op.text == ">") return c > 0;
    if (op.text == ">=") return c >= 0;
    return Error("unknown operator '" + op.text + "'");
  }

  std::vector<Token> t_;
  const std::vector<std::pair<std::string, std::string>>& values_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<bool> MatchPartitionExpression(const std::string& expression,
                                              const std::vector<std::pair<std::string, std::string>>& values) {
  ASSIGN_OR_RETURN(auto tokens, Lex(expression));
  return Evaluator(std::move(tokens), values).Run();
}

}  // namespace sluice
