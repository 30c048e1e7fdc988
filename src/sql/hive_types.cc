#include "sql/hive_types.h"

#include <vector>

#include "base/strings.h"
#include "sql/sql.h"

namespace sluice {
namespace {

// Splits "a,b<c,d>,e" at top-level commas.
std::vector<std::string> SplitTop(std::string_view s) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  for (char c : s) {
    if (c == '<' || c == '(') ++depth;
    if (c == '>' || c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(std::string(StripWhitespace(cur)));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!StripWhitespace(cur).empty()) out.push_back(std::string(StripWhitespace(cur)));
  return out;
}

}  // namespace

absl::StatusOr<std::string> HiveToDuckType(const std::string& hive_in) {
  std::string hive(StripWhitespace(AsciiLower(hive_in)));
  static const std::pair<const char*, const char*> kSimple[] = {
      {"string", "VARCHAR"}, {"varchar", "VARCHAR"}, {"char", "VARCHAR"}, {"tinyint", "TINYINT"},
      {"smallint", "SMALLINT"}, {"int", "INTEGER"}, {"integer", "INTEGER"}, {"bigint", "BIGINT"},
      {"float", "FLOAT"}, {"real", "FLOAT"}, {"double", "DOUBLE"}, {"boolean", "BOOLEAN"}, {"date", "DATE"},
      {"timestamp", "TIMESTAMP"}, {"binary", "BLOB"}, {"decimal", "DECIMAL(10,0)"}};
  for (const auto& [h, d] : kSimple) {
    if (hive == h) return std::string(d);
  }
  auto open = hive.find_first_of("<(");
  if (open == std::string::npos || (hive.back() != '>' && hive.back() != ')')) {
    return absl::InvalidArgumentError(StrCat("Unknown type '", hive_in, "'"));
  }
  std::string head(StripWhitespace(hive.substr(0, open)));
  std::string inner = hive.substr(open + 1, hive.size() - open - 2);
  if (head == "decimal") {
    auto parts = SplitTop(inner);
    int p = 0, s = 0;
    if (parts.empty() || parts.size() > 2 || !ParseNumber(parts[0], &p) || (parts.size() == 2 && !ParseNumber(parts[1], &s))) {
      return absl::InvalidArgumentError(StrCat("Invalid type '", hive_in, "'"));
    }
    return StrCat("DECIMAL(", p, ",", s, ")");
  }
  if (head == "varchar" || head == "char") return std::string("VARCHAR");
  if (head == "array") {
    ASSIGN_OR_RETURN(std::string e, HiveToDuckType(inner));
    return e + "[]";
  }
  if (head == "map") {
    auto parts = SplitTop(inner);
    if (parts.size() != 2) return absl::InvalidArgumentError(StrCat("Invalid type '", hive_in, "'"));
    ASSIGN_OR_RETURN(std::string k, HiveToDuckType(parts[0]));
    ASSIGN_OR_RETURN(std::string v, HiveToDuckType(parts[1]));
    return StrCat("MAP(", k, ", ", v, ")");
  }
  if (head == "struct") {
    std::vector<std::string> fields;
    for (const auto& f : SplitTop(inner)) {
      auto colon = f.find(':');
      if (colon == std::string::npos) return absl::InvalidArgumentError(StrCat("Invalid type '", hive_in, "'"));
      ASSIGN_OR_RETURN(std::string t, HiveToDuckType(f.substr(colon + 1)));
      fields.push_back(StrCat(SqlQuoteIdent(StripWhitespace(f.substr(0, colon))), " ", t));
    }
    return StrCat("STRUCT(", Join(fields, ", "), ")");
  }
  return absl::InvalidArgumentError(StrCat("Unknown type '", hive_in, "'"));
}

std::string DuckToHiveType(const std::string& duck) {
  std::string d = AsciiUpper(duck);
  if (d == "VARCHAR") return "string";
  if (d == "BIGINT" || d == "HUGEINT" || d == "UBIGINT" || d == "UINTEGER") return "bigint";
  if (d == "INTEGER" || d == "USMALLINT") return "int";
  if (d == "SMALLINT" || d == "UTINYINT") return "smallint";
  if (d == "TINYINT") return "tinyint";
  if (d == "DOUBLE") return "double";
  if (d == "FLOAT") return "float";
  if (d == "BOOLEAN") return "boolean";
  if (d == "DATE") return "date";
  if (d.starts_with("TIMESTAMP")) return "timestamp";
  if (d.starts_with("DECIMAL")) return AsciiLower(d);
  if (d == "BLOB") return "binary";
  if (d.ends_with("[]")) return StrCat("array<", DuckToHiveType(d.substr(0, d.size() - 2)), ">");
  return "string";
}

}  // namespace sluice
