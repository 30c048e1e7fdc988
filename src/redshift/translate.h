#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

// Redshift SQL -> DuckDB SQL, token by token (lexer.h): table attributes (DISTSTYLE,
// DISTKEY, SORTKEY, ENCODE, BACKUP) stripped and reported, IDENTITY columns turned into
// sequence defaults, #temp tables, TOP n, Redshift functions DuckDB spells differently
// (DATEADD/DATEDIFF parts, LISTAGG ... WITHIN GROUP, APPROXIMATE COUNT, NVL, DECODE,
// SYSDATE, CONVERT_TIMEZONE, ...) and type names (varchar(max), bpchar, ...). The rest
// of Redshift's functions are macros defined at attach time (warehouse.cc).
namespace sluice::redshift {

// What CREATE TABLE said about physical design, kept for SVV_TABLE_INFO.
struct TableDesign {
  std::string schema;  // "" for the default
  std::string table;
  bool temp = false;
  std::string diststyle = "AUTO(EVEN)";
  std::string distkey;
  std::string sortkey_style;  // COMPOUND or INTERLEAVED; "" without SORTKEY
  std::vector<std::string> sortkey;
  // Declared character types DuckDB does not keep (its VARCHAR has no length), as
  // PostgreSQL's format_type spells them: {column, "character varying(20)"}.
  std::vector<std::pair<std::string, std::string>> column_types;
};

struct Translation {
  std::string sql;
  // Statements to run first (CREATE SEQUENCE for IDENTITY columns).
  std::vector<std::string> before;
  std::optional<TableDesign> design;  // a CREATE TABLE
};

struct TranslateContext {
  std::string database;  // for sequence names: <database>.<schema>.<table>_<column>_seq
  std::string user;
};

// Also rewritten, for psql's \d, \l and \dn (and BI tools' catalog queries): `x::regclass`
// (a name literal -> its pg_class oid, an oid -> its relation name), `x::regtype` ->
// format_type(x, NULL), `relhasoids` -> false, pg_catalog.pg_inherits / pg_collation /
// pg_database -> sluice's views in pg_internal, and format_type(a.atttypid, a.atttypmod)
// -> the declared character type when CREATE TABLE recorded one.
absl::StatusOr<Translation> Translate(std::string_view sql, const TranslateContext& ctx);

}  // namespace sluice::redshift
