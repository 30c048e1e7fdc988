#include "redshift/lexer.h"

#include <cctype>

#include "base/strings.h"

namespace sluice::redshift {

bool Token::Is(std::string_view word) const { return kind == TokenKind::kWord && EqualsIgnoreCase(text, word); }

namespace {

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || static_cast<unsigned char>(c) >= 0x80; }
bool IsIdentChar(char c) { return IsIdentStart(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '$'; }

// The end of a $tag$...$tag$ string starting at i, or npos when s[i] does not open one.
size_t DollarQuoteEnd(std::string_view s, size_t i) {
  size_t j = i + 1;
  while (j < s.size() && (IsIdentChar(s[j]) && s[j] != '$')) ++j;
  if (j >= s.size() || s[j] != '$') return std::string_view::npos;
  if (j > i + 1 && std::isdigit(static_cast<unsigned char>(s[i + 1]))) return std::string_view::npos;
  std::string_view tag = s.substr(i, j - i + 1);
  size_t close = s.find(tag, j + 1);
  return close == std::string_view::npos ? s.size() : close + tag.size();
}

const std::string_view kOperatorChars = "+-*/<>=~!@%^&|`?:";

}  // namespace

std::vector<Token> Lex(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  auto emit = [&](TokenKind k, size_t start, size_t end) { out.push_back({k, s.substr(start, end - start), start}); };
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      size_t e = s.find('\n', i);
      i = e == std::string_view::npos ? s.size() : e + 1;
    } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      int depth = 1;
      size_t j = i + 2;
      while (j < s.size() && depth > 0) {
        if (s[j] == '/' && j + 1 < s.size() && s[j + 1] == '*') {
          ++depth;
          j += 2;
        } else if (s[j] == '*' && j + 1 < s.size() && s[j + 1] == '/') {
          --depth;
          j += 2;
        } else {
          ++j;
        }
      }
      i = j;
    } else if (c == '\'' || ((c == 'E' || c == 'e') && i + 1 < s.size() && s[i + 1] == '\'')) {
      size_t start = i;
      bool escapes = c != '\'';
      size_t j = escapes ? i + 2 : i + 1;
      while (j < s.size()) {
        if (escapes && s[j] == '\\') {
          j += 2;
        } else if (s[j] == '\'') {
          if (j + 1 < s.size() && s[j + 1] == '\'') {
            j += 2;
          } else {
            ++j;
            break;
          }
        } else {
          ++j;
        }
      }
      i = std::min(j, s.size());
      emit(TokenKind::kString, start, i);
    } else if (c == '"') {
      size_t j = i + 1;
      while (j < s.size()) {
        if (s[j] == '"') {
          if (j + 1 < s.size() && s[j + 1] == '"') {
            j += 2;
            continue;
          }
          ++j;
          break;
        }
        ++j;
      }
      emit(TokenKind::kQuotedIdent, i, std::min(j, s.size()));
      i = std::min(j, s.size());
    } else if (c == '$') {
      if (i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
        size_t j = i + 1;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
        emit(TokenKind::kParam, i, j);
        i = j;
      } else if (size_t e = DollarQuoteEnd(s, i); e != std::string_view::npos) {
        emit(TokenKind::kString, i, e);
        i = e;
      } else {
        emit(TokenKind::kSymbol, i, i + 1);
        ++i;
      }
    } else if (IsIdentStart(c) || (c == '#' && i + 1 < s.size() && IsIdentStart(s[i + 1]))) {
      size_t j = i + 1;
      while (j < s.size() && IsIdentChar(s[j])) ++j;
      emit(TokenKind::kWord, i, j);
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])) &&
                (i == 0 || s[i - 1] != '.'))) {
      size_t j = i;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      // One decimal point, and not the first of a ".." range.
      if (j < s.size() && s[j] == '.' && !(j + 1 < s.size() && s[j + 1] == '.')) {
        ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      }
      if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
        if (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) {
          j = k;
          while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
        }
      }
      emit(TokenKind::kNumber, i, j);
      i = j;
    } else if (kOperatorChars.find(c) != std::string_view::npos) {
      size_t j = i;
      while (j < s.size() && kOperatorChars.find(s[j]) != std::string_view::npos &&
             !(s[j] == '-' && j + 1 < s.size() && s[j + 1] == '-') &&
             !(s[j] == '/' && j + 1 < s.size() && s[j + 1] == '*')) {
        ++j;
      }
      emit(TokenKind::kSymbol, i, j);
      i = j;
    } else {
      emit(TokenKind::kSymbol, i, i + 1);
      ++i;
    }
  }
  return out;
}

std::vector<std::string> SplitStatements(std::string_view sql) {
  std::vector<std::string> out;
  size_t start = 0;
  auto flush = [&](size_t end) {
    std::string_view piece = StripWhitespace(sql.substr(start, end - start));
    // A piece of only comments is no statement.
    if (!piece.empty() && !Lex(piece).empty()) out.emplace_back(piece);
  };
  for (const Token& t : Lex(sql)) {
    if (t.IsSymbol(";")) {
      flush(t.offset);
      start = t.offset + 1;
    }
  }
  flush(sql.size());
  return out;
}

std::string StringValue(const Token& t) {
  std::string_view s = t.text;
  std::string out;
  if (s.starts_with("$")) {
    size_t tag = s.find('$', 1);
    if (tag == std::string_view::npos) return std::string(s);
    size_t len = tag + 1;
    if (s.size() < 2 * len) return std::string(s.substr(len));
    return std::string(s.substr(len, s.size() - 2 * len));
  }
  bool escapes = false;
  if (s.starts_with("E") || s.starts_with("e")) {
    escapes = true;
    s.remove_prefix(1);
  }
  if (s.size() >= 1 && s.front() == '\'') s.remove_prefix(1);
  if (!s.empty() && s.back() == '\'') s.remove_suffix(1);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\'' && i + 1 < s.size() && s[i + 1] == '\'') {
      out.push_back('\'');
      ++i;
    } else if (escapes && s[i] == '\\' && i + 1 < s.size()) {
      char n = s[++i];
      out.push_back(n == 'n' ? '\n' : n == 't' ? '\t' : n == 'r' ? '\r' : n);
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string IdentValue(const Token& t) {
  if (t.kind != TokenKind::kQuotedIdent) return AsciiLower(t.text);
  std::string_view s = t.text.substr(1, t.text.size() >= 2 ? t.text.size() - 2 : 0);
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    out.push_back(s[i]);
    if (s[i] == '"' && i + 1 < s.size() && s[i + 1] == '"') ++i;
  }
  return out;
}

}  // namespace sluice::redshift
