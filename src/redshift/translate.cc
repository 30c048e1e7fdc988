#include "redshift/translate.h"

#include <map>
#include <set>

#include "base/strings.h"
#include "redshift/lexer.h"
#include "redshift/session.h"
#include "sql/sql.h"

namespace sluice::redshift {

namespace {

// A replacement of source bytes [begin, end).
struct Edit {
  size_t begin, end;
  std::string text;
};

std::string ApplyEdits(std::string_view src, std::vector<Edit> edits) {
  std::string out;
  size_t at = 0;
  for (const auto& e : edits) {
    if (e.begin < at) continue;  // overlapping: the first one wins
    out.append(src.substr(at, e.begin - at));
    out += e.text;
    at = e.end;
  }
  out.append(src.substr(at));
  return out;
}

size_t End(const Token& t) { return t.offset + t.text.size(); }

// The index of the ')' matching the '(' at `open`, or tokens.size().
size_t MatchParen(const std::vector<Token>& t, size_t open) {
  int depth = 0;
  for (size_t i = open; i < t.size(); ++i) {
    if (t[i].IsSymbol("(")) ++depth;
    if (t[i].IsSymbol(")") && --depth == 0) return i;
  }
  return t.size();
}

// Redshift's date part names and abbreviations -> DuckDB's.
std::string DatePart(std::string p) {
  p = AsciiLower(p);
  if (p.size() >= 2 && p.front() == '\'') p = p.substr(1, p.size() - 2);
  static const std::map<std::string, std::string> kParts = {
      {"millennium", "millennium"}, {"millennia", "millennium"}, {"mil", "millennium"}, {"mils", "millennium"},
      {"century", "century"}, {"centuries", "century"}, {"c", "century"}, {"cent", "century"}, {"cents", "century"},
      {"decade", "decade"}, {"decades", "decade"}, {"dec", "decade"}, {"decs", "decade"},
      {"year", "year"}, {"years", "year"}, {"y", "year"}, {"yr", "year"}, {"yrs", "year"}, {"yy", "year"}, {"yyyy", "year"},
      {"quarter", "quarter"}, {"quarters", "quarter"}, {"qtr", "quarter"}, {"qtrs", "quarter"}, {"q", "quarter"},
      {"month", "month"}, {"months", "month"}, {"mon", "month"}, {"mons", "month"}, {"mm", "month"},
      {"week", "week"}, {"weeks", "week"}, {"w", "week"}, {"wk", "week"}, {"wks", "week"},
      {"day", "day"}, {"days", "day"}, {"d", "day"}, {"dd", "day"},
      {"dow", "dow"}, {"dayofweek", "dow"}, {"doy", "doy"}, {"dayofyear", "doy"}, {"epoch", "epoch"},
      {"hour", "hour"}, {"hours", "hour"}, {"h", "hour"}, {"hr", "hour"}, {"hrs", "hour"},
      {"minute", "minute"}, {"minutes", "minute"}, {"m", "minute"}, {"min", "minute"}, {"mins", "minute"},
      {"second", "second"}, {"seconds", "second"}, {"s", "second"}, {"sec", "second"}, {"secs", "second"},
      {"millisecond", "millisecond"}, {"milliseconds", "millisecond"}, {"ms", "millisecond"}, {"msec", "millisecond"},
      {"msecs", "millisecond"}, {"msecond", "millisecond"}, {"mseconds", "millisecond"},
      {"microsecond", "microsecond"}, {"microseconds", "microsecond"}, {"us", "microsecond"}, {"usec", "microsecond"},
      {"usecs", "microsecond"}, {"microsec", "microsecond"}, {"microsecs", "microsecond"},
  };
  auto it = kParts.find(p);
  return it == kParts.end() ? p : it->second;
}

// The interval one unit of `part` is, for DATEADD.
std::string UnitInterval(const std::string& part) {
  if (part == "quarter") return "INTERVAL '3 months'";
  if (part == "week") return "INTERVAL '7 days'";
  if (part == "decade") return "INTERVAL '10 years'";
  if (part == "century") return "INTERVAL '100 years'";
  if (part == "millennium") return "INTERVAL '1000 years'";
  return StrCat("INTERVAL '1 ", part, "'");
}

// The first token of the primary expression that ends at t[last] (a name, a.b, a literal,
// f(...) or (...)), or t.size() when there is none.
size_t OperandStart(const std::vector<Token>& t, size_t last) {
  size_t j = last;
  if (t[j].IsSymbol(")")) {
    int depth = 0;
    for (size_t k = j + 1; k-- > 0;) {
      if (t[k].IsSymbol(")")) ++depth;
      if (t[k].IsSymbol("(") && --depth == 0) {
        j = k;
        break;
      }
      if (k == 0) return t.size();
    }
    static const std::set<std::string> kNotFunctions = {"and", "or", "not", "where", "in", "then", "else", "when",
                                                        "select", "on", "by", "as", "is", "case", "from", "exists"};
    if (j > 0 && t[j - 1].kind == TokenKind::kWord && !kNotFunctions.contains(AsciiLower(t[j - 1].text))) --j;
  } else if (t[j].kind != TokenKind::kWord && t[j].kind != TokenKind::kQuotedIdent && t[j].kind != TokenKind::kString &&
             t[j].kind != TokenKind::kNumber && t[j].kind != TokenKind::kParam) {
    return t.size();
  }
  while (j >= 2 && t[j - 1].IsSymbol(".") &&
         (t[j - 2].kind == TokenKind::kWord || t[j - 2].kind == TokenKind::kQuotedIdent)) {
    j -= 2;
  }
  return j;
}

// Catalog tables psql reads that DuckDB's pg_catalog lacks (or lacks columns of): views
// in each database's pg_internal schema (warehouse.cc).
bool IsSluiceCatalogView(const Token& t) {
  return t.Is("pg_inherits") || t.Is("pg_collation") || t.Is("pg_database");
}

// One catalog rewrite (see translate.h) applied to `text`. The subqueries' aliases (rc,
// rn, ct, cc, cn) must not hide the outer query's (psql's are c, n, a, d, t, i); false
// when there was none left.
bool RewriteCatalogOnce(std::string* text) {
  std::vector<Token> t = Lex(*text);
  auto replace = [&](size_t from, size_t to, const std::string& with) {
    *text = StrCat(text->substr(0, t[from].offset), with, text->substr(End(t[to])));
    return true;
  };
  for (size_t i = 0; i < t.size(); ++i) {
    bool after_dot = i > 0 && t[i - 1].IsSymbol(".");
    // x :: [pg_catalog .] regclass | regtype
    if (t[i].IsSymbol("::") && i > 0 && i + 1 < t.size()) {
      size_t type = i + 1;
      if (t[type].Is("pg_catalog") && type + 2 < t.size() && t[type + 1].IsSymbol(".")) type += 2;
      if (!t[type].Is("regclass") && !t[type].Is("regtype")) continue;
      size_t start = OperandStart(t, i - 1);
      if (start >= t.size()) continue;
      std::string operand = text->substr(t[start].offset, t[i].offset - t[start].offset);
      if (t[type].Is("regtype")) return replace(start, type, StrCat("format_type(", operand, ", NULL)"));
      if (start == i - 1 && t[start].kind == TokenKind::kString) {
        // 'schema.table' or 'table': the relation's oid.
        std::string name = StringValue(t[start]);
        std::string schema;
        if (auto dot = name.rfind('.'); dot != std::string::npos) {
          schema = name.substr(0, dot);
          name = name.substr(dot + 1);
        }
        auto unquote = [](std::string s) {
          if (s.size() >= 2 && s.front() == '"') return s.substr(1, s.size() - 2);
          return AsciiLower(s);
        };
        std::string where = StrCat("rc.relname = ", SqlQuote(unquote(name)));
        if (!schema.empty()) {
          StrAppend(&where, " AND rc.relnamespace = (SELECT rn.oid FROM pg_catalog.pg_namespace rn WHERE rn.nspname = ",
                    SqlQuote(unquote(schema)), ")");
        } else {
          StrAppend(&where, " AND pg_table_is_visible(rc.oid)");
        }
        return replace(start, type, StrCat("(SELECT rc.oid FROM pg_catalog.pg_class rc WHERE ", where, " LIMIT 1)"));
      }
      return replace(start, type,
                     StrCat("(SELECT rc.relname FROM pg_catalog.pg_class rc WHERE rc.oid = (", operand, ") LIMIT 1)"));
    }
    // [x .] relhasoids: PostgreSQL < 12's column; never true here.
    if (t[i].Is("relhasoids")) {
      size_t from = after_dot && i >= 2 ? i - 2 : i;
      return replace(from, i, "false");
    }
    // pg_catalog . pg_inherits -> pg_internal.pg_inherits
    if (t[i].Is("pg_catalog") && !after_dot && i + 2 < t.size() && t[i + 1].IsSymbol(".") &&
        IsSluiceCatalogView(t[i + 2]) && !(i + 3 < t.size() && t[i + 3].IsSymbol("("))) {
      return replace(i, i + 2, StrCat(kInternalSchema, ".", AsciiLower(t[i + 2].text)));
    }
    // [pg_catalog .] format_type ( a . atttypid , a . atttypmod ): the declared type when
    // CREATE TABLE recorded one (DuckDB keeps no varchar length).
    bool qualified = after_dot && i >= 2 && t[i - 2].Is("pg_catalog");
    if (t[i].Is("format_type") && (!after_dot || qualified) && i + 9 < t.size() && t[i + 1].IsSymbol("(") &&
        t[i + 3].IsSymbol(".") && t[i + 4].Is("atttypid") && t[i + 5].IsSymbol(",") && t[i + 7].IsSymbol(".") &&
        t[i + 8].Is("atttypmod") && t[i + 9].IsSymbol(")") && t[i + 2].text == t[i + 6].text) {
      size_t from = qualified ? i - 2 : i;
      std::string a(t[i + 2].text);
      // The fallback's parenthesized first argument keeps this pattern from matching again.
      return replace(
          from, i + 9,
          StrCat("coalesce((SELECT ct.type_text FROM ", kInternalSchema, ".column_types ct, pg_catalog.pg_class cc, ",
                 "pg_catalog.pg_namespace cn WHERE cc.oid = ", a, ".attrelid AND cn.oid = cc.relnamespace AND ",
                 "ct.schema_name = cn.nspname AND ct.table_name = cc.relname AND ct.column_name = ", a,
                 ".attname LIMIT 1), format_type((", a, ".atttypid), ", a, ".atttypmod))"));
    }
  }
  return false;
}

class Rewriter {
 public:
  explicit Rewriter(const TranslateContext& ctx) : ctx_(ctx) {}

  // Rewrites functions, keywords and type names anywhere in `text`.
  std::string Rewrite(std::string_view text) {
    std::vector<Token> t = Lex(text);
    std::string out;
    size_t at = 0;  // source bytes copied so far
    auto put = [&](size_t begin, size_t end, const std::string& repl) {
      out.append(text.substr(at, begin - at));
      out += repl;
      at = end;
    };
    auto args = [&](size_t open, size_t close) {
      std::vector<std::string> a;
      size_t start = open + 1;
      int depth = 0;
      for (size_t i = open + 1; i <= close; ++i) {
        if (t[i].IsSymbol("(") || t[i].IsSymbol("[")) ++depth;
        if ((t[i].IsSymbol(")") || t[i].IsSymbol("]")) && i != close) --depth;
        if ((t[i].IsSymbol(",") && depth == 0) || i == close) {
          if (i > start) {
            a.push_back(Rewrite(text.substr(t[start].offset, t[i].offset - t[start].offset)));
          } else {
            a.emplace_back();
          }
          start = i + 1;
        }
      }
      if (a.size() == 1 && StripWhitespace(a[0]).empty()) a.clear();
      return a;
    };
    for (size_t i = 0; i < t.size(); ++i) {
      const Token& k = t[i];
      bool after_dot = i > 0 && t[i - 1].IsSymbol(".");
      bool call = i + 1 < t.size() && t[i + 1].IsSymbol("(") && !after_dot;
      static const std::set<std::string> kRewritten = {"dateadd", "date_add", "datediff", "date_diff", "datepart",
                                                       "date_part", "nvl", "decode", "listagg", "getdate", "sysdate"};
      if (k.kind == TokenKind::kWord && call && kRewritten.contains(AsciiLower(k.text))) {
        size_t close = MatchParen(t, i + 1);
        if (close >= t.size()) continue;
        std::string name = AsciiLower(k.text);
        if (name == "dateadd" || name == "date_add" || name == "datediff" || name == "date_diff" ||
            name == "datepart" || name == "date_part") {
          // A bare-word date part is Redshift's; DuckDB wants a string.
          if (i + 2 < t.size() && (t[i + 2].kind == TokenKind::kWord || t[i + 2].kind == TokenKind::kString)) {
            auto a = args(i + 1, close);
            std::string part = DatePart(std::string(t[i + 2].text));
            if ((name == "dateadd" || name == "date_add") && a.size() == 3) {
              put(k.offset, End(t[close]),
                  StrCat("(CAST(", a[2], " AS TIMESTAMP) + CAST(", a[1], " AS BIGINT) * ", UnitInterval(part), ")"));
              i = close;
              continue;
            }
            if ((name == "datediff" || name == "date_diff") && a.size() == 3) {
              put(k.offset, End(t[close]),
                  StrCat("date_diff('", part, "', CAST(", a[1], " AS TIMESTAMP), CAST(", a[2], " AS TIMESTAMP))"));
              i = close;
              continue;
            }
            if ((name == "datepart" || name == "date_part") && a.size() == 2) {
              put(k.offset, End(t[close]), StrCat("date_part('", part, "', ", a[1], ")"));
              i = close;
              continue;
            }
          }
        } else if (name == "nvl") {
          auto a = args(i + 1, close);
          put(k.offset, End(t[close]), StrCat("coalesce(", Join(a, ", "), ")"));
          i = close;
          continue;
        } else if (name == "decode") {
          auto a = args(i + 1, close);
          if (a.size() >= 3) {
            std::string c = StrCat("CASE");
            size_t j = 1;
            for (; j + 1 < a.size(); j += 2) {
              // DECODE matches NULL with NULL.
              StrAppend(&c, " WHEN (", a[0], ") IS NOT DISTINCT FROM (", a[j], ") THEN ", a[j + 1]);
            }
            if (j < a.size()) StrAppend(&c, " ELSE ", a[j]);
            c += " END";
            put(k.offset, End(t[close]), c);
            i = close;
            continue;
          }
        } else if (name == "listagg") {
          auto a = args(i + 1, close);
          std::string order;
          size_t last = close;
          // WITHIN GROUP (ORDER BY ...)
          if (close + 3 < t.size() && t[close + 1].Is("WITHIN") && t[close + 2].Is("GROUP") && t[close + 3].IsSymbol("(")) {
            size_t gclose = MatchParen(t, close + 3);
            if (gclose < t.size()) {
              order = " " + Rewrite(text.substr(End(t[close + 3]), t[gclose].offset - End(t[close + 3])));
              last = gclose;
            }
          }
          if (a.size() == 1) a.push_back("''");
          put(k.offset, End(t[last]), StrCat("string_agg(", Join(a, ", "), order, ")"));
          i = last;
          continue;
        } else if (name == "getdate" || name == "sysdate") {
          put(k.offset, End(t[close]), "getdate()");
          i = close;
          continue;
        }
        continue;
      }
      // pg_catalog.fn(...): the catalog functions psql and BI tools call qualified; DuckDB
      // has most of them (and sluice's macros the rest) unqualified.
      if (k.Is("pg_catalog") && !after_dot && i + 3 < t.size() && t[i + 1].IsSymbol(".") &&
          t[i + 2].kind == TokenKind::kWord && t[i + 3].IsSymbol("(")) {
        put(k.offset, t[i + 2].offset, "");
        i += 1;
        continue;
      }
      // PostgreSQL's `~` matches anywhere in the text; DuckDB's is a full match. A literal
      // pattern is widened so both agree (`~*`, `!~*`: case-insensitive).
      if (k.kind == TokenKind::kSymbol && (k.text == "~" || k.text == "!~" || k.text == "~*" || k.text == "!~*") &&
          i + 1 < t.size() && t[i + 1].kind == TokenKind::kString) {
        bool icase = k.text.ends_with("*");
        std::string op = k.text.starts_with("!") ? "!~" : "~";
        put(k.offset, End(t[i + 1]),
            StrCat(op, " ", SqlQuote(StrCat(icase ? "(?si)" : "(?s)", ".*(?:", StringValue(t[i + 1]), ").*"))));
        ++i;
        continue;
      }
      // DuckDB's pg_class.reloptions is NULL without a list type; psql's \d+ unnests it.
      if (k.Is("reloptions") && !(i + 1 < t.size() && t[i + 1].IsSymbol("("))) {
        size_t from = after_dot && i >= 2 && t[i - 2].offset >= at ? t[i - 2].offset : k.offset;
        put(from, End(k), StrCat("CAST(", text.substr(from, End(k) - from), " AS VARCHAR[])"));
        continue;
      }
      if (k.Is("APPROXIMATE") && i + 2 < t.size() && t[i + 1].Is("COUNT") && t[i + 2].IsSymbol("(")) {
        size_t close = MatchParen(t, i + 2);
        if (close < t.size()) {
          size_t from = i + 3;
          if (from < close && t[from].Is("DISTINCT")) ++from;
          std::string inner = Rewrite(text.substr(t[from].offset, t[close].offset - t[from].offset));
          put(k.offset, End(t[close]), StrCat("approx_count_distinct(", inner, ")"));
          i = close;
          continue;
        }
      }
      if (k.kind == TokenKind::kWord && !after_dot) {
        if (k.Is("SYSDATE")) {
          put(k.offset, End(k), "getdate()");
        } else if (k.Is("CURRENT_USER") || k.Is("SESSION_USER")) {
          put(k.offset, End(k), SqlQuote(ctx_.user));
        } else if (k.text.starts_with("#")) {
          put(k.offset, End(k), SqlQuoteIdent(AsciiLower(k.text)));
        } else if ((k.Is("VARCHAR") || k.Is("NVARCHAR") || k.Is("BPCHAR") || k.Is("TEXT")) && i + 3 < t.size() &&
                   t[i + 1].IsSymbol("(") && t[i + 2].Is("MAX") && t[i + 3].IsSymbol(")")) {
          put(k.offset, End(t[i + 3]), "VARCHAR");
          i += 3;
        } else if (k.Is("VARYING") && i + 3 < t.size() && t[i + 1].IsSymbol("(") && t[i + 2].Is("MAX") &&
                   t[i + 3].IsSymbol(")")) {
          put(k.offset, End(t[i + 3]), "VARYING");
          i += 3;
        } else if (k.Is("NVARCHAR") || k.Is("BPCHAR") || k.Is("NCHAR")) {
          put(k.offset, End(k), "VARCHAR");
        } else if (k.Is("SUPER")) {
          bool type_position = i > 0 && (t[i - 1].kind == TokenKind::kWord || t[i - 1].kind == TokenKind::kQuotedIdent ||
                                         t[i - 1].IsSymbol("::"));
          if (type_position) put(k.offset, End(k), "VARCHAR");
        }
      }
    }
    out.append(text.substr(at));
    return out;
  }

 private:
  const TranslateContext& ctx_;
};

// CREATE [LOCAL] [TEMP] TABLE: physical design stripped and recorded, IDENTITY columns
// turned into sequence defaults, #name tables made temporary.
void CreateTable(std::string_view sql, const std::vector<Token>& t, const TranslateContext& ctx, Translation* out,
                 std::string* text) {
  TableDesign d;
  std::vector<Edit> edits;
  size_t i = 1;
  size_t temp_at = 0;
  while (i < t.size() && !t[i].Is("TABLE")) {
    if (t[i].Is("TEMP") || t[i].Is("TEMPORARY")) d.temp = true;
    if (t[i].Is("LOCAL")) edits.push_back({t[i].offset, End(t[i]), ""});
    ++i;
  }
  if (i >= t.size()) return;
  temp_at = t[i].offset;
  ++i;
  if (i + 2 < t.size() && t[i].Is("IF") && t[i + 1].Is("NOT") && t[i + 2].Is("EXISTS")) i += 3;
  // name: [schema .] table
  if (i >= t.size()) return;
  if (i + 2 < t.size() && t[i + 1].IsSymbol(".")) {
    d.schema = IdentValue(t[i]);
    i += 2;
  }
  d.table = IdentValue(t[i]);
  if (t[i].text.starts_with("#")) {
    d.temp = true;
    d.table = AsciiLower(t[i].text);
  }
  if (d.temp && !d.schema.empty()) return;
  if (d.temp && t[i].text.starts_with("#")) {
    bool already = false;
    for (size_t j = 1; j < i; ++j) already |= t[j].Is("TEMP") || t[j].Is("TEMPORARY");
    if (!already) edits.insert(edits.begin(), {temp_at, temp_at, "TEMP "});
  }
  ++i;
  auto strip_table_attrs = [&](size_t& j) {
    // Attributes after the column list (or before AS in CREATE TABLE AS).
    while (j < t.size()) {
      size_t start = j;
      if (t[j].Is("DISTSTYLE") && j + 1 < t.size()) {
        d.diststyle = AsciiUpper(t[j + 1].text);
        j += 2;
      } else if (t[j].Is("DISTKEY") && j + 1 < t.size() && t[j + 1].IsSymbol("(")) {
        size_t c = MatchParen(t, j + 1);
        if (j + 2 < c) d.distkey = IdentValue(t[j + 2]);
        d.diststyle = "KEY";
        j = c + 1;
      } else if ((t[j].Is("COMPOUND") || t[j].Is("INTERLEAVED") || t[j].Is("SORTKEY")) ) {
        std::string style = t[j].Is("SORTKEY") ? "COMPOUND" : AsciiUpper(t[j].text);
        if (!t[j].Is("SORTKEY")) ++j;
        if (j >= t.size() || !t[j].Is("SORTKEY")) return;
        ++j;
        if (j < t.size() && t[j].Is("AUTO")) {
          ++j;
        } else if (j < t.size() && t[j].IsSymbol("(")) {
          size_t c = MatchParen(t, j);
          d.sortkey.clear();
          for (size_t k = j + 1; k < c; ++k) {
            if (!t[k].IsSymbol(",")) d.sortkey.push_back(IdentValue(t[k]));
          }
          d.sortkey_style = style;
          j = c + 1;
        }
      } else if ((t[j].Is("ENCODE") || t[j].Is("BACKUP")) && j + 1 < t.size()) {
        j += 2;
      } else {
        return;
      }
      edits.push_back({t[start].offset, j < t.size() ? t[j].offset : sql.size(), ""});
    }
  };
  if (i < t.size() && t[i].IsSymbol("(")) {
    size_t close = MatchParen(t, i);
    // Column definitions: walk them at depth 1.
    size_t col_start = i + 1;
    int depth = 0;
    for (size_t j = i; j <= close && j < t.size(); ++j) {
      if (t[j].IsSymbol("(")) {
        ++depth;
        continue;
      }
      if (t[j].IsSymbol(")")) {
        --depth;
        continue;
      }
      if (depth != 1) continue;
      if (t[j].IsSymbol(",")) {
        col_start = j + 1;
        continue;
      }
      std::string col = col_start < t.size() ? IdentValue(t[col_start]) : "";
      bool is_constraint = col_start < t.size() && (t[col_start].Is("PRIMARY") || t[col_start].Is("UNIQUE") ||
                                                    t[col_start].Is("FOREIGN") || t[col_start].Is("CONSTRAINT") ||
                                                    t[col_start].Is("DISTKEY") || t[col_start].Is("SORTKEY"));
      if (j == col_start) {
        if (t[j].Is("DISTKEY") || t[j].Is("SORTKEY")) {
          // Table-level DISTKEY(col) / SORTKEY(col) written inside the list (rare).
        }
        continue;
      }
      if (is_constraint) {
        // Redshift allows FOREIGN KEY ... REFERENCES to tables DuckDB may reject; keep.
        continue;
      }
      if (j == col_start + 1) {
        // A character type: its declared length, which DuckDB drops (Redshift's defaults:
        // VARCHAR is VARCHAR(256), CHAR is CHAR(1), MAX is 65535 / 4096).
        size_t k = j;
        bool varying = false, fixed = false;
        if (t[k].Is("VARCHAR") || t[k].Is("NVARCHAR") || t[k].Is("TEXT")) {
          varying = true;
          ++k;
        } else if (t[k].Is("CHARACTER") || t[k].Is("CHAR") || t[k].Is("NCHAR") || t[k].Is("BPCHAR")) {
          ++k;
          varying = k < t.size() && t[k].Is("VARYING");
          fixed = !varying;
          if (varying) ++k;
        }
        if (varying || fixed) {
          std::string len = varying ? "256" : "1";
          if (k + 2 < t.size() && t[k].IsSymbol("(") && t[k + 2].IsSymbol(")")) {
            len = t[k + 1].Is("MAX") ? (varying ? "65535" : "4096") : std::string(t[k + 1].text);
          }
          d.column_types.push_back({col, StrCat(varying ? "character varying(" : "character(", len, ")")});
        }
      }
      if (t[j].Is("ENCODE") && j + 1 < t.size()) {
        edits.push_back({t[j].offset, End(t[j + 1]), ""});
        ++j;
      } else if (t[j].Is("DISTKEY")) {
        d.distkey = col;
        d.diststyle = "KEY";
        edits.push_back({t[j].offset, End(t[j]), ""});
      } else if (t[j].Is("SORTKEY")) {
        d.sortkey = {col};
        d.sortkey_style = "COMPOUND";
        edits.push_back({t[j].offset, End(t[j]), ""});
      } else if (t[j].Is("COLLATE") && j + 1 < t.size()) {
        edits.push_back({t[j].offset, End(t[j + 1]), ""});
        ++j;
      } else if (t[j].Is("IDENTITY") || (t[j].Is("GENERATED") && j + 4 < t.size() && t[j + 1].Is("BY") &&
                                          t[j + 2].Is("DEFAULT") && t[j + 3].Is("AS") && t[j + 4].Is("IDENTITY"))) {
        size_t id = t[j].Is("IDENTITY") ? j : j + 4;
        std::string seed = "1", step = "1";
        size_t last = id;
        if (id + 1 < t.size() && t[id + 1].IsSymbol("(")) {
          size_t c = MatchParen(t, id + 1);
          std::vector<std::string> nums;
          std::string cur;
          for (size_t k = id + 2; k < c; ++k) {
            if (t[k].IsSymbol(",")) {
              nums.push_back(cur);
              cur.clear();
            } else {
              cur += t[k].text;
            }
          }
          nums.push_back(cur);
          if (nums.size() >= 1 && !nums[0].empty()) seed = nums[0];
          if (nums.size() >= 2 && !nums[1].empty()) step = nums[1];
          last = c;
        }
        std::string seq_name = StrCat(d.table, "_", col, "_seq");
        std::string seq = d.temp ? StrCat("temp.main.", SqlQuoteIdent(seq_name))
                                 : StrCat(SqlQuoteIdent(ctx.database), ".",
                                          SqlQuoteIdent(d.schema.empty() ? "public" : d.schema), ".", SqlQuoteIdent(seq_name));
        out->before.push_back(StrCat("CREATE ", d.temp ? "TEMP " : "", "SEQUENCE IF NOT EXISTS ",
                                     d.temp ? SqlQuoteIdent(seq_name) : seq, " START ", seed, " INCREMENT ", step));
        edits.push_back({t[j].offset, End(t[last]), StrCat("DEFAULT nextval(", SqlQuote(seq), ")")});
        j = last;
      }
    }
    size_t j = close + 1;
    strip_table_attrs(j);
  } else {
    size_t j = i;
    strip_table_attrs(j);
  }
  std::sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) { return a.begin < b.begin; });
  *text = ApplyEdits(sql, edits);
  out->design = d;
}

}  // namespace

absl::StatusOr<Translation> Translate(std::string_view sql, const TranslateContext& ctx) {
  Translation out;
  std::vector<Token> t = Lex(sql);
  std::string text(sql);
  if (!t.empty() && t[0].Is("CREATE")) {
    size_t i = 1;
    while (i < t.size() && (t[i].Is("LOCAL") || t[i].Is("TEMP") || t[i].Is("TEMPORARY"))) ++i;
    if (i < t.size() && t[i].Is("TABLE")) CreateTable(sql, t, ctx, &out, &text);
  }
  // SELECT [DISTINCT|ALL] TOP n ... -> ... LIMIT n (the outermost SELECT only).
  std::vector<Token> t2 = Lex(text);
  std::string limit;
  for (size_t i = 0; i + 2 < t2.size(); ++i) {
    if (!t2[i].Is("SELECT")) continue;
    size_t k = i + 1;
    if (t2[k].Is("DISTINCT") || t2[k].Is("ALL")) ++k;
    if (k + 1 < t2.size() && t2[k].Is("TOP") && t2[k + 1].kind == TokenKind::kNumber) {
      limit = std::string(t2[k + 1].text);
      size_t rest = k + 2 < t2.size() ? t2[k + 2].offset : End(t2[k + 1]);
      std::string tail = text.substr(rest);
      while (!tail.empty() && (tail.back() == ' ' || tail.back() == '\n')) tail.pop_back();
      text = StrCat(text.substr(0, t2[k].offset), tail, " LIMIT ", limit);
    }
    break;
  }
  for (int n = 0; n < 1000 && RewriteCatalogOnce(&text); ++n) {
  }
  Rewriter rw(ctx);
  out.sql = rw.Rewrite(text);
  return out;
}

}  // namespace sluice::redshift
