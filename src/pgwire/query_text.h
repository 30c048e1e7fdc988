#pragma once

#include <cstddef>
#include <string>
#include <string_view>

// Lexical looks at SQL text that the protocol needs (private to pgwire/): no parsing, only
// skipping of string literals, quoted identifiers, dollar quotes and comments.
namespace sluice::pgwire {

// Only whitespace, ';' and comments: PostgreSQL answers EmptyQueryResponse.
bool IsEmptyQuery(std::string_view sql);

// The highest $n parameter number in `sql` (0: none).
size_t CountParameters(std::string_view sql);

// Protocol-level rewrites of client catalog queries before they reach the warehouse
// (see README.md); SQL dialect translation is the warehouse's. Returns `sql` unchanged
// when nothing applies.
std::string RewriteQuery(const std::string& sql);

}  // namespace sluice::pgwire
