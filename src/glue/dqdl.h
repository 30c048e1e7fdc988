#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/status.h"
#include "sql/sql.h"

// AWS Glue Data Quality's rule language (DQDL): a parser for rulesets such as
//
//   Rules = [ RowCount > 10, IsComplete "id", ColumnValues "kind" in ["a", "b"] ]
//
// and an evaluator that turns each rule into DuckDB SQL over a relation and reports
// Glue-style results (PASS/FAIL/ERROR, metrics, a score). Everything here is a pure
// function of its arguments; Evaluate uses the caller's Connection (one thread at a
// time, as Connection requires). See glue/README.md for the supported subset.
namespace sluice::dq {

enum class RuleType {
  kRowCount,
  kColumnCount,
  kColumnExists,
  kIsComplete,
  kCompleteness,
  kIsUnique,
  kUniqueness,
  kIsPrimaryKey,
  kColumnValues,
  kColumnLength,
  kMean,
  kSum,
  kStandardDeviation,
  kDistinctValuesCount,
  kEntropy,
  kDataFreshness,
  kCustomSql,
  kAnd,  // composite: (Rule) and (Rule) ...
  kOr,   // composite: (Rule) or (Rule) ...
};

// The DQDL spelling of a rule type ("IsComplete"); "and"/"or" for composites.
std::string_view RuleTypeName(RuleType type);

// One value in a condition.
struct Operand {
  enum class Kind {
    kNumber,           // 10, -2.5
    kString,           // "abc" (ColumnValues only)
    kDate,             // "2024-01-31" (ColumnValues only; compared as a timestamp)
    kNow,              // now(), (now() - 3 days): `number` is the offset in seconds
    kDuration,         // 24 hours (DataFreshness only): `number` is in seconds
    kNull,             // NULL
    kEmpty,            // EMPTY: the empty string
    kWhitespacesOnly,  // WHITESPACES_ONLY: a non-empty string of whitespace
  };
  Kind kind = Kind::kNumber;
  double number = 0;
  std::string text;  // kString / kDate: the unquoted text
};

enum class Op { kEq, kNe, kGt, kGe, kLt, kLe, kBetween, kNotBetween, kIn, kNotIn, kMatches, kNotMatches };

// `> 10`, `between 1 and 5` (exclusive, as Glue evaluates it), `in [..]`, `matches "re"`.
struct Condition {
  Op op = Op::kEq;
  std::vector<Operand> operands;  // 1, 2 for (not) between, any number for (not) in
};

// A parsed rule: a leaf (RowCount, ColumnValues, ...) or a composite (kAnd/kOr).
struct Rule {
  RuleType type = RuleType::kRowCount;
  std::vector<std::string> columns;    // column parameters, unquoted
  std::string sql;                     // kCustomSql: the statement (refers to `primary`)
  std::optional<Condition> condition;  // the rule's expression
  std::optional<Condition> threshold;  // `with threshold ...`: fraction of rows that pass
  std::optional<std::string> where;    // `where "..."`: a SQL condition selecting rows
  std::vector<Rule> children;          // kAnd / kOr
  std::string text;                    // the rule as written, whitespace normalized
  int line = 0;                        // 1-based position of the rule's first token
  int column = 0;
};

struct Ruleset {
  std::vector<Rule> rules;  // the Rules section, in order (an Analyzers section is ignored)
};

// Parses a DQDL document: optional `Metadata = {..}` / `DataSources = {..}` sections
// (skipped), `Rules = [ rule, ... ]`, and an optional `Analyzers = [..]` section (skipped).
// `#` starts a comment to the end of the line.
// Errors: InvalidArgument "line L, column C: <what was expected or found>" (1-based).
absl::StatusOr<Ruleset> Parse(std::string_view text);

struct RuleResult {
  std::string name;                // "Rule_1", "Rule_2", ... in ruleset order
  std::string description;         // the rule's DQDL text
  std::string result;              // "PASS", "FAIL" or "ERROR"
  std::string evaluation_message;  // why it failed or errored; "" on PASS
  std::map<std::string, double> evaluated_metrics;  // Glue metric names, e.g. "Dataset.*.RowCount"
};

struct Evaluation {
  std::vector<RuleResult> rules;
  double score = 0;  // passed rules / rules (0 for an empty ruleset)
};

// Evaluates every rule against `relation`, text usable after FROM: a quoted table or view
// name, or a parenthesized subquery. Runs one batched aggregate query for the built-in
// rules (plus one per CustomSql rule, and one per rule if the batch fails, to say which
// rule broke it). `now` is the instant now() and DataFreshness refer to; naive timestamps
// are taken as UTC. A rule that cannot be evaluated (unknown column, bad where clause,
// bad CustomSql) is an ERROR result; the call itself fails only when the relation cannot
// be read at all.
absl::StatusOr<Evaluation> Evaluate(const Ruleset& rules, const std::string& relation, Connection& con,
                                    absl::Time now = absl::Now());

// A SQL boolean expression over the relation's columns that is TRUE exactly for rows that
// pass every row-level rule (IsComplete, Completeness, ColumnValues, ColumnLength,
// DataFreshness, and and/or composites of them; a rule's where clause limits it to the rows
// the clause selects; thresholds do not apply per row). "" when there are no row-level
// rules. Dataset-level rules and CustomSql contribute nothing. Like Glue's rowLevelOutcomes.
absl::StatusOr<std::string> RowPredicate(const Ruleset& rules, absl::Time now = absl::Now());

}  // namespace sluice::dq
