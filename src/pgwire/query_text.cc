#include "pgwire/query_text.h"

#include <cctype>

namespace sluice::pgwire {
namespace {

bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Calls visit(i) for each character position outside literals, quoted identifiers and
// comments.
template <typename F>
void ScanCode(std::string_view s, F visit) {
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '\'') {
      // 'it''s'; E'..\'..' (backslash escapes) when preceded by E.
      bool escapes = i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') && (i < 2 || !IsIdentChar(s[i - 2]));
      ++i;
      while (i < s.size()) {
        if (escapes && s[i] == '\\') {
          i += 2;
        } else if (s[i] == '\'') {
          if (i + 1 < s.size() && s[i + 1] == '\'') {
            i += 2;
          } else {
            ++i;
            break;
          }
        } else {
          ++i;
        }
      }
    } else if (c == '"') {
      size_t end = s.find('"', i + 1);
      i = end == std::string_view::npos ? s.size() : end + 1;
    } else if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      size_t end = s.find('\n', i);
      i = end == std::string_view::npos ? s.size() : end + 1;
    } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      size_t end = s.find("*/", i + 2);
      i = end == std::string_view::npos ? s.size() : end + 2;
    } else if (c == '$' && (i == 0 || !IsIdentChar(s[i - 1])) && i + 1 < s.size() &&
               !std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      // $tag$ ... $tag$ (a dollar quote), tag empty or an identifier.
      size_t j = i + 1;
      while (j < s.size() && IsIdentChar(s[j])) ++j;
      if (j < s.size() && s[j] == '$') {
        std::string_view tag = s.substr(i, j - i + 1);
        size_t end = s.find(tag, j + 1);
        i = end == std::string_view::npos ? s.size() : end + tag.size();
      } else {
        visit(i);
        ++i;
      }
    } else {
      visit(i);
      ++i;
    }
  }
}

}  // namespace

bool IsEmptyQuery(std::string_view sql) {
  bool empty = true;
  ScanCode(sql, [&](size_t i) {
    char c = sql[i];
    if (c != ';' && !std::isspace(static_cast<unsigned char>(c))) empty = false;
  });
  // An unterminated literal still counts as a statement (the backend reports it).
  if (empty) {
    for (char c : sql) {
      if (c == '\'' || c == '"') return false;
    }
  }
  return empty;
}

size_t CountParameters(std::string_view sql) {
  size_t max = 0;
  ScanCode(sql, [&](size_t i) {
    if (sql[i] != '$' || (i > 0 && IsIdentChar(sql[i - 1]))) return;
    size_t n = 0, j = i + 1;
    while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j])) && n < 100000) {
      n = n * 10 + static_cast<size_t>(sql[j] - '0');
      ++j;
    }
    if (n > max) max = n;
  });
  return max;
}

std::string RewriteQuery(const std::string& sql) {
  // psql qualifies operators and casts with pg_catalog (\d, \dt): OPERATOR(pg_catalog.~)
  // and ::pg_catalog.text mean the plain operator and type, which is what other engines
  // parse.
  static constexpr std::string_view kOperator = "OPERATOR(pg_catalog.";
  static constexpr std::string_view kCast = "::pg_catalog.";
  if (sql.find(kOperator) == std::string::npos && sql.find(kCast) == std::string::npos) return sql;
  std::string out;
  size_t last = 0;
  ScanCode(sql, [&](size_t i) {
    if (i < last) return;
    if (sql.compare(i, kOperator.size(), kOperator) == 0) {
      size_t close = sql.find(')', i + kOperator.size());
      if (close == std::string::npos) return;
      out.append(sql, last, i - last);
      out += ' ';
      out.append(sql, i + kOperator.size(), close - i - kOperator.size());
      out += ' ';
      last = close + 1;
    } else if (sql.compare(i, kCast.size(), kCast) == 0) {
      out.append(sql, last, i - last);
      out += "::";
      last = i + kCast.size();
    }
  });
  out.append(sql, last, std::string::npos);
  return out;
}

}  // namespace sluice::pgwire
