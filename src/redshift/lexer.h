#pragma once

#include <string>
#include <string_view>
#include <vector>

// A PostgreSQL/Redshift SQL tokenizer: enough to split a simple query into statements,
// recognize statement kinds and rewrite Redshift syntax (translate.h). Never fails: an
// unterminated quote or comment runs to the end of the text.
namespace sluice::redshift {

enum class TokenKind {
  kWord,         // identifier or keyword (also #temp names)
  kQuotedIdent,  // "name"
  kString,       // 'text', E'text', $$text$$, $tag$text$tag$
  kNumber,
  kParam,        // $1
  kSymbol,       // ( ) , ; . :: operators (one token per operator run)
};

struct Token {
  TokenKind kind;
  std::string_view text;  // as written, quotes included
  size_t offset = 0;      // into the source
  bool Is(std::string_view word) const;  // a kWord equal to `word`, case-insensitive
  bool IsSymbol(std::string_view s) const { return kind == TokenKind::kSymbol && text == s; }
};

// Comments are skipped.
std::vector<Token> Lex(std::string_view sql);

// The statements of a simple query, split on ';' outside quotes, comments and dollar
// quotes; each trimmed; empty ones dropped.
std::vector<std::string> SplitStatements(std::string_view sql);

// The value of a string token ('it''s' -> it's; $$x$$ -> x).
std::string StringValue(const Token& t);
// The name a word or quoted identifier denotes (lower-cased unless quoted).
std::string IdentValue(const Token& t);

}  // namespace sluice::redshift
