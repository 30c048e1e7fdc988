#include "glue/dqdl.h"

#include <cmath>

#include "base/strings.h"
#include "gtest/gtest.h"

namespace sluice::dq {
namespace {

// ---------------------------------------------------------------------------
// Parsing

std::string ParseError(std::string_view text) {
  absl::StatusOr<Ruleset> r = Parse(text);
  if (r.ok()) return "parsed";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

TEST(DqdlParseTest, ParsesEveryRuleTypeWithItsParameters) {
  auto rs = Parse(R"(Rules = [
    RowCount between 10 and 20,
    ColumnCount >= 3,
    ColumnExists "id",
    IsComplete "id",
    Completeness "id" > 0.95,
    IsUnique "id",
    Uniqueness "id" = 1.0,
    IsPrimaryKey colA "colB" "colC",
    ColumnValues "Country" in [ "US", "CA", NULL, EMPTY, WHITESPACES_ONLY ],
    ColumnLength "zip" = 5,
    Mean "price" not between -1.5 and 100,
    Sum "price" in [1, 2, 3],
    StandardDeviation "price" < 2,
    DistinctValuesCount "kind" != 4,
    Entropy "kind" <= 1,
    DataFreshness "Order_Date" between 2 days and 5 days,
    CustomSql "select count(*) from primary" > 10
  ])");
  ASSERT_TRUE(rs.ok()) << rs.status();
  ASSERT_EQ(rs->rules.size(), 17u);
  const std::vector<Rule>& r = rs->rules;
  EXPECT_EQ(r[0].type, RuleType::kRowCount);
  EXPECT_EQ(r[0].condition->op, Op::kBetween);
  EXPECT_EQ(r[0].condition->operands[1].number, 20);
  EXPECT_EQ(r[7].type, RuleType::kIsPrimaryKey);
  EXPECT_EQ(r[7].columns, (std::vector<std::string>{"colA", "colB", "colC"}));
  EXPECT_EQ(r[7].line, 9);
  EXPECT_EQ(r[7].column, 5);
  ASSERT_EQ(r[8].condition->operands.size(), 5u);
  EXPECT_EQ(r[8].condition->operands[1].kind, Operand::Kind::kString);
  EXPECT_EQ(r[8].condition->operands[1].text, "CA");
  EXPECT_EQ(r[8].condition->operands[2].kind, Operand::Kind::kNull);
  EXPECT_EQ(r[8].condition->operands[3].kind, Operand::Kind::kEmpty);
  EXPECT_EQ(r[8].condition->operands[4].kind, Operand::Kind::kWhitespacesOnly);
  EXPECT_EQ(r[10].condition->op, Op::kNotBetween);
  EXPECT_EQ(r[10].condition->operands[0].number, -1.5);
  EXPECT_EQ(r[13].condition->op, Op::kNe);
  EXPECT_EQ(r[15].condition->operands[0].kind, Operand::Kind::kDuration);
  EXPECT_EQ(r[15].condition->operands[0].number, 2 * 86400);
  EXPECT_EQ(r[15].condition->operands[1].number, 5 * 86400);
  EXPECT_EQ(r[16].type, RuleType::kCustomSql);
  EXPECT_EQ(r[16].sql, "select count(*) from primary");
  EXPECT_EQ(RuleTypeName(r[14].type), "Entropy");
}

TEST(DqdlParseTest, ReadsDatesThresholdsWhereClausesAndNormalizesText) {
  auto rs = Parse(
      "Rules = [ ColumnValues   \"Load_Date\" > (now() - 3 days),\n"
      "  ColumnValues \"d\" between \"2024-01-01\" and now(),\n"
      "  ColumnValues \"gender\" in [\"F\",  \"M\"] where \"weight < 10\" with threshold > 0.9,\n"
      "  ColumnValues \"name\" not matches \"[a-z]+\\\\d\",\n"
      "  DataFreshness \"ts\" <= 24 hours ]");
  ASSERT_TRUE(rs.ok()) << rs.status();
  const std::vector<Rule>& r = rs->rules;
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0].text, "ColumnValues \"Load_Date\" > (now() - 3 days)");
  EXPECT_EQ(r[0].condition->operands[0].kind, Operand::Kind::kNow);
  EXPECT_EQ(r[0].condition->operands[0].number, -3 * 86400);
  EXPECT_EQ(r[1].condition->operands[0].kind, Operand::Kind::kDate);
  EXPECT_EQ(r[1].condition->operands[1].kind, Operand::Kind::kNow);
  EXPECT_EQ(r[1].condition->operands[1].number, 0);
  EXPECT_EQ(r[2].where, "weight < 10");
  ASSERT_TRUE(r[2].threshold.has_value());
  EXPECT_EQ(r[2].threshold->op, Op::kGt);
  EXPECT_EQ(r[2].threshold->operands[0].number, 0.9);
  EXPECT_EQ(r[2].text, "ColumnValues \"gender\" in [\"F\", \"M\"] where \"weight < 10\" with threshold > 0.9");
  EXPECT_EQ(r[3].condition->op, Op::kNotMatches);
  EXPECT_EQ(r[3].condition->operands[0].text, "[a-z]+\\d");
  EXPECT_EQ(r[4].condition->operands[0].number, 86400);
}

TEST(DqdlParseTest, CompositesNestAndCommentsAndOtherSectionsAreSkipped) {
  auto rs = Parse(R"(# A ruleset with comments
Metadata = { "Version": "1.0" }
Rules = [
  (Mean "a" > 3) and ((Mean "b" > 500) or (IsComplete "c")),  # trailing comment
  (IsComplete "id") OR (RowCount > 0),
  (IsUnique "id")
]
Analyzers = [ RowCount, Completeness "id" ])");
  ASSERT_TRUE(rs.ok()) << rs.status();
  ASSERT_EQ(rs->rules.size(), 3u);
  const Rule& first = rs->rules[0];
  EXPECT_EQ(first.type, RuleType::kAnd);
  ASSERT_EQ(first.children.size(), 2u);
  EXPECT_EQ(first.children[0].type, RuleType::kMean);
  EXPECT_EQ(first.children[1].type, RuleType::kOr);
  EXPECT_EQ(first.children[1].children[1].type, RuleType::kIsComplete);
  EXPECT_EQ(first.text, "(Mean \"a\" > 3) and ((Mean \"b\" > 500) or (IsComplete \"c\"))");
  EXPECT_EQ(rs->rules[1].type, RuleType::kOr);
  EXPECT_EQ(rs->rules[2].type, RuleType::kIsUnique);  // one parenthesized rule is just that rule
  EXPECT_TRUE(Parse("Rules = [ ]")->rules.empty());
  EXPECT_TRUE(Parse("Analyzers = [ RowCount ]")->rules.empty());
}

TEST(DqdlParseTest, ErrorsGiveLineAndColumn) {
  EXPECT_EQ(ParseError("Rules = [ IsCompleted \"a\" ]"), "line 1, column 11: unknown rule type 'IsCompleted'");
  EXPECT_EQ(ParseError("Rules = [\n    RowCount >  \"x\"\n]"), "line 2, column 17: expected a number after '>'");
  EXPECT_EQ(ParseError("Rulez = [ RowCount > 1 ]"), "line 1, column 1: expected 'Rules = ['");
  EXPECT_EQ(ParseError("Rules [ RowCount > 1 ]"), "line 1, column 7: expected '=' after 'Rules'");
  EXPECT_EQ(ParseError("Rules = [ IsComplete \"a\" IsUnique \"b\" ]"),
            "line 1, column 26: expected ',' or ']' after a rule");
  EXPECT_EQ(ParseError("Rules = [ IsComplete \"a ]"), "line 1, column 22: unterminated string");
  EXPECT_EQ(ParseError("Rules = [\n  ColumnValues \"a\" between 1 ]"), "line 2, column 30: expected 'and' after '1'");
  EXPECT_EQ(ParseError("Rules = [ RowCount ]"), "line 1, column 20: expected a condition such as '> 0' after 'RowCount'");
  EXPECT_EQ(ParseError("Rules = [ IsComplete ]"), "line 1, column 22: expected a column name after 'IsComplete'");
  EXPECT_EQ(ParseError("Rules = [ IsComplete \"a\" > 1 ]"), "line 1, column 26: IsComplete takes no condition");
  EXPECT_EQ(ParseError("Rules = [ Mean \"a\" \"b\" > 1 ]"), "line 1, column 20: Mean takes one column name");
  EXPECT_EQ(ParseError("Rules = [ RowCount > 1 with threshold > 0.5 ]"),
            "line 1, column 24: 'with threshold' applies only to row-level rules, not RowCount");
  EXPECT_EQ(ParseError("Rules = [ (IsComplete \"a\") and (IsUnique \"b\") or (IsComplete \"c\") ]"),
            "line 1, column 47: cannot mix 'and' and 'or' without parentheses");
  EXPECT_EQ(ParseError("Rules = [ (IsComplete \"a\" ]"), "line 1, column 27: expected ')' after a rule");
  EXPECT_EQ(ParseError("Rules = [ DataFreshness \"t\" <= 24 weeks ]"),
            "line 1, column 35: expected days, hours or minutes after '24'");
  EXPECT_EQ(ParseError("Rules = [ RowCount > 1, ]"), "line 1, column 25: expected a rule type");
  EXPECT_EQ(ParseError("Rules = [ RowCount > 1 ] Rules = [ ]"), "line 1, column 26: duplicate 'Rules' section");
  EXPECT_EQ(ParseError("Rules = [ RowCount @ 1 ]"), "line 1, column 20: unexpected character '@'");
  EXPECT_EQ(ParseError("Rules = [ ColumnValues \"a\" in [1, 2 3] ]"), "line 1, column 37: expected ',' or ']' in the list");
  EXPECT_EQ(ParseError("Rules = [ ColumnCount > 1 where \"a > 1\" ]"),
            "line 1, column 27: 'where' is not supported for ColumnCount");
}

TEST(DqdlParseTest, RejectsSqlThatCouldEscapeItsQuery) {
  EXPECT_EQ(ParseError("Rules = [ IsComplete \"a\" where \"1 = 1); DROP TABLE t; --\" ]"),
            "line 1, column 32: the where clause must be a single SQL condition");
  EXPECT_EQ(ParseError("Rules = [ CustomSql \"select 1; drop table t\" > 0 ]"),
            "line 1, column 21: CustomSql expects one quoted SELECT statement");
  EXPECT_EQ(ParseError("Rules = [ CustomSql \"drop table t\" > 0 ]"),
            "line 1, column 21: CustomSql expects one quoted SELECT statement");
  EXPECT_EQ(ParseError("Rules = [ CustomSql \"select count(*) from primary;\" > 0 ]"), "parsed");
}

// ---------------------------------------------------------------------------
// Evaluation against a real in-memory DuckDB

// 2026-01-01T00:00:00Z: the fixed "now" for DataFreshness and now() rules.
const absl::Time kNow = absl::FromUnixSeconds(1767225600);

class DqdlEvalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::Open({});
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto con = db_->Connect();
    ASSERT_TRUE(con.ok()) << con.status();
    con_ = std::move(*con);
    ASSERT_TRUE(con_->Execute(R"(
      CREATE TABLE t (id INTEGER, user_id VARCHAR, amount DOUBLE, kind VARCHAR, code VARCHAR, ts TIMESTAMP);
      INSERT INTO t VALUES
        (1, 'u1', 10, 'a', 'AB12', '2025-12-31 23:00:00'),
        (2, 'u2', 20, 'a', 'CD34', '2025-12-31 22:00:00'),
        (3, 'u3', 30, 'b', 'EF5',  '2025-12-30 18:00:00'),
        (4, NULL, 40, 'b', NULL,   '2025-12-22 00:00:00'),
        (5, 'u1', NULL, 'c', 'GH78', NULL);
      CREATE TABLE s (v VARCHAR);
      INSERT INTO s VALUES ('x'), (''), ('  '), (NULL);
    )").ok());
  }

  Evaluation Eval(std::string_view dqdl, const std::string& relation = "\"t\"") {
    auto rs = Parse(dqdl);
    EXPECT_TRUE(rs.ok()) << rs.status();
    if (!rs.ok()) return {};
    auto ev = Evaluate(*rs, relation, *con_, kNow);
    EXPECT_TRUE(ev.ok()) << ev.status();
    return ev.ok() ? *ev : Evaluation{};
  }

  // Evaluates one rule; on failure the returned result says "missing".
  RuleResult One(std::string_view rule, const std::string& relation = "\"t\"") {
    Evaluation ev = Eval(StrCat("Rules = [ ", rule, " ]"), relation);
    if (ev.rules.size() != 1) return RuleResult{"", "", "missing", "", {}};
    return ev.rules[0];
  }

  // Rows of `relation` for which the ruleset's RowPredicate holds.
  int64_t PassingRows(std::string_view dqdl, const std::string& relation = "t") {
    auto rs = Parse(dqdl);
    EXPECT_TRUE(rs.ok()) << rs.status();
    auto pred = RowPredicate(*rs, kNow);
    EXPECT_TRUE(pred.ok()) << pred.status();
    std::string sql = StrCat("SELECT count(*) FROM ", relation, pred->empty() ? "" : StrCat(" WHERE ", *pred));
    auto r = con_->Query(sql);
    EXPECT_TRUE(r.ok()) << r.status() << " in " << sql;
    return r.ok() ? std::stoll(*r->rows[0][0]) : -1;
  }

  void ExpectPass(std::string_view rule, const std::string& relation = "\"t\"") {
    RuleResult r = One(rule, relation);
    EXPECT_EQ(r.result, "PASS") << rule << ": " << r.evaluation_message;
    EXPECT_EQ(r.evaluation_message, "") << rule;
  }

  // Expects FAIL with `metric` = `value`.
  void ExpectFail(std::string_view rule, const std::string& metric, double value,
                  const std::string& relation = "\"t\"") {
    RuleResult r = One(rule, relation);
    EXPECT_EQ(r.result, "FAIL") << rule;
    ASSERT_TRUE(r.evaluated_metrics.count(metric)) << rule << " lacks " << metric;
    EXPECT_NEAR(r.evaluated_metrics[metric], value, 1e-9) << rule;
  }

  std::unique_ptr<Database> db_;
  std::unique_ptr<Connection> con_;
};

TEST_F(DqdlEvalTest, RowCountAndColumnCount) {
  RuleResult r = One("RowCount = 5");
  EXPECT_EQ(r.name, "Rule_1");
  EXPECT_EQ(r.description, "RowCount = 5");
  EXPECT_EQ(r.result, "PASS");
  EXPECT_EQ(r.evaluated_metrics, (std::map<std::string, double>{{"Dataset.*.RowCount", 5}}));
  r = One("RowCount > 10");
  EXPECT_EQ(r.result, "FAIL");
  EXPECT_EQ(r.evaluation_message, "Value: 5.0 does not meet the constraint requirement!");
  ExpectPass("RowCount between 4 and 6");
  ExpectFail("RowCount between 5 and 6", "Dataset.*.RowCount", 5);  // between is exclusive, as in Glue
  ExpectFail("RowCount not between 4 and 6", "Dataset.*.RowCount", 5);
  ExpectPass("RowCount in [3, 5]");
  ExpectFail("RowCount not in [3, 5]", "Dataset.*.RowCount", 5);
  ExpectPass("ColumnCount = 6");
  ExpectFail("ColumnCount < 6", "Dataset.*.ColumnCount", 6);
}

TEST_F(DqdlEvalTest, CompletenessAndIsComplete) {
  ExpectPass("IsComplete \"id\"");
  RuleResult r = One("IsComplete \"user_id\"");
  EXPECT_EQ(r.result, "FAIL");
  EXPECT_EQ(r.evaluation_message, "Value: 0.8 does not meet the constraint requirement!");
  EXPECT_DOUBLE_EQ(r.evaluated_metrics["Column.user_id.Completeness"], 0.8);
  ExpectPass("Completeness \"user_id\" > 0.7");
  ExpectFail("Completeness \"user_id\" >= 0.9", "Column.user_id.Completeness", 0.8);
}

TEST_F(DqdlEvalTest, UniquenessFollowsDeequ) {
  // user_id: u1, u2, u3, NULL, u1 -> of the 4 non-null values, u2 and u3 occur once.
  ExpectPass("IsUnique \"id\"");
  ExpectFail("IsUnique \"user_id\"", "Column.user_id.Uniqueness", 0.5);
  ExpectPass("Uniqueness \"user_id\" = 0.5");
  ExpectFail("Uniqueness \"user_id\" > 0.5", "Column.user_id.Uniqueness", 0.5);
}

TEST_F(DqdlEvalTest, IsPrimaryKeyNeedsCompleteAndUniqueColumns) {
  RuleResult r = One("IsPrimaryKey \"id\"");
  EXPECT_EQ(r.result, "PASS");
  EXPECT_EQ(r.evaluated_metrics,
            (std::map<std::string, double>{{"Column.id.Completeness", 1}, {"Column.id.Uniqueness", 1}}));
  ExpectFail("IsPrimaryKey \"kind\"", "Column.kind.Uniqueness", 0.2);
  r = One("IsPrimaryKey \"kind\" \"code\"");
  EXPECT_EQ(r.result, "FAIL");  // code has a NULL
  EXPECT_DOUBLE_EQ(r.evaluated_metrics["Column.code.Completeness"], 0.8);
  EXPECT_DOUBLE_EQ(r.evaluated_metrics["Multicolumn.kind,code.Uniqueness"], 1.0);
  ExpectPass("IsPrimaryKey \"kind\" \"amount\" where \"amount IS NOT NULL\"");
}

TEST_F(DqdlEvalTest, ColumnExists) {
  ExpectPass("ColumnExists \"ts\"");
  RuleResult r = One("ColumnExists \"nope\"");
  EXPECT_EQ(r.result, "FAIL");
  EXPECT_EQ(r.evaluation_message, "Column nope does not exist");
}

TEST_F(DqdlEvalTest, StatisticsMetrics) {
  // amount: 10, 20, 30, 40 and a NULL.
  ExpectPass("Mean \"amount\" = 25");
  ExpectFail("Mean \"amount\" > 25", "Column.amount.Mean", 25);
  ExpectPass("Sum \"amount\" = 100");
  ExpectFail("Sum \"amount\" < 100", "Column.amount.Sum", 100);
  ExpectPass("StandardDeviation \"amount\" between 11.18 and 11.19");
  ExpectFail("StandardDeviation \"amount\" > 12", "Column.amount.StandardDeviation", std::sqrt(125.0));
  ExpectPass("DistinctValuesCount \"user_id\" = 3");
  ExpectFail("DistinctValuesCount \"user_id\" > 3", "Column.user_id.DistinctValuesCount", 3);
  // Natural-log entropy over the frequencies of non-null values: kind a,a,b,b,c.
  double kind_entropy = -(2 * 0.4 * std::log(0.4) + 0.2 * std::log(0.2));
  ExpectFail("Entropy \"kind\" > 1.1", "Column.kind.Entropy", kind_entropy);
  ExpectPass("Entropy \"kind\" between 1.05 and 1.06");
  ExpectFail("Entropy \"user_id\" < 1", "Column.user_id.Entropy", 1.5 * std::log(2.0));
  ExpectFail("Entropy \"id\" > 0 where \"id = 1\"", "Column.id.Entropy", 0);
}

TEST_F(DqdlEvalTest, AggregateOverNoValuesFails) {
  RuleResult r = One("Mean \"amount\" > 0 where \"amount IS NULL\"");
  EXPECT_EQ(r.result, "FAIL");
  EXPECT_EQ(r.evaluation_message, "Metric Column.amount.Mean could not be computed: no values to evaluate");
  EXPECT_TRUE(r.evaluated_metrics.empty());
}

TEST_F(DqdlEvalTest, ColumnValuesComparisonsSetsAndNulls) {
  RuleResult r = One("ColumnValues \"kind\" in [\"a\", \"b\"]");
  EXPECT_EQ(r.result, "FAIL");
  EXPECT_EQ(r.evaluation_message, "Value: c does not meet the constraint requirement!");
  EXPECT_DOUBLE_EQ(r.evaluated_metrics["Column.kind.ColumnValues.Compliance"], 0.8);
  ExpectPass("ColumnValues \"kind\" in [\"a\", \"b\"] with threshold > 0.7");
  r = One("ColumnValues \"kind\" in [\"a\", \"b\"] with threshold > 0.9");
  EXPECT_EQ(r.result, "FAIL");
  EXPECT_EQ(r.evaluation_message, "80.00 % of rows passed the threshold");
  ExpectPass("ColumnValues \"id\" between 0 and 6");
  ExpectFail("ColumnValues \"id\" between 1 and 5", "Column.id.ColumnValues.Compliance", 0.6);
  ExpectFail("ColumnValues \"id\" not between 1 and 4", "Column.id.ColumnValues.Compliance", 0.6);
  ExpectPass("ColumnValues \"id\" >= 1");
  ExpectFail("ColumnValues \"id\" > 1", "Column.id.ColumnValues.Compliance", 0.8);
  ExpectFail("ColumnValues \"id\" <= 3", "Column.id.ColumnValues.Compliance", 0.6);
  ExpectFail("ColumnValues \"id\" < 2", "Column.id.ColumnValues.Compliance", 0.2);
  ExpectFail("ColumnValues \"id\" = 2", "Column.id.ColumnValues.Compliance", 0.2);
  ExpectFail("ColumnValues \"id\" != 3", "Column.id.ColumnValues.Compliance", 0.8);
  ExpectFail("ColumnValues \"amount\" in [10, 20]", "Column.amount.ColumnValues.Compliance", 0.4);
  // NULLs fail everything but != and not in, unless the rule names NULL.
  ExpectFail("ColumnValues \"user_id\" != \"u1\"", "Column.user_id.ColumnValues.Compliance", 0.6);
  ExpectFail("ColumnValues \"user_id\" not in [\"u1\"]", "Column.user_id.ColumnValues.Compliance", 0.6);
  ExpectFail("ColumnValues \"user_id\" not in [\"u1\", NULL]", "Column.user_id.ColumnValues.Compliance", 0.4);
  ExpectFail("ColumnValues \"user_id\" in [\"u1\", \"u2\", \"u3\"]", "Column.user_id.ColumnValues.Compliance", 0.8);
  ExpectPass("ColumnValues \"user_id\" in [\"u1\", \"u2\", \"u3\", NULL]");
  ExpectFail("ColumnValues \"code\" = NULL", "Column.code.ColumnValues.Compliance", 0.2);
  ExpectFail("ColumnValues \"code\" != NULL", "Column.code.ColumnValues.Compliance", 0.8);
  r = One("ColumnValues \"code\" != NULL");
  EXPECT_EQ(r.evaluation_message, "Value: NULL does not meet the constraint requirement!");
}

TEST_F(DqdlEvalTest, ColumnValuesRegexDatesAndKeywords) {
  ExpectFail("ColumnValues \"code\" matches \"[A-Z]{2}[0-9]{2}\"", "Column.code.ColumnValues.Compliance", 0.6);
  ExpectFail("ColumnValues \"code\" not matches \"[A-Z]{2}[0-9]{2}\"", "Column.code.ColumnValues.Compliance", 0.2);
  ExpectPass("ColumnValues \"code\" matches \"[A-Z0-9]+\" where \"code IS NOT NULL\"");
  ExpectFail("ColumnValues \"ts\" > (now() - 3 days)", "Column.ts.ColumnValues.Compliance", 0.6);
  ExpectFail("ColumnValues \"ts\" > \"2025-12-25\"", "Column.ts.ColumnValues.Compliance", 0.6);
  ExpectPass("ColumnValues \"ts\" between \"2025-12-01\" and now() where \"ts IS NOT NULL\"");
  ExpectFail("ColumnValues \"ts\" < (now() - 2 hours)", "Column.ts.ColumnValues.Compliance", 0.4);
  // s.v: 'x', '', '  ', NULL
  ExpectFail("ColumnValues \"v\" in [\"x\", EMPTY]", "Column.v.ColumnValues.Compliance", 0.5, "s");
  ExpectFail("ColumnValues \"v\" = WHITESPACES_ONLY", "Column.v.ColumnValues.Compliance", 0.25, "s");
  ExpectFail("ColumnValues \"v\" != EMPTY", "Column.v.ColumnValues.Compliance", 0.75, "s");
  ExpectPass("ColumnValues \"v\" in [\"x\", EMPTY, WHITESPACES_ONLY, NULL]", "s");
}

TEST_F(DqdlEvalTest, ColumnLengthTreatsNullAsEmpty) {
  // code: AB12, CD34, EF5, NULL, GH78
  RuleResult r = One("ColumnLength \"code\" = 4");
  EXPECT_EQ(r.result, "FAIL");
  EXPECT_EQ(r.evaluation_message, "60.00 % of rows passed the threshold");
  EXPECT_EQ(r.evaluated_metrics, (std::map<std::string, double>{{"Column.code.ColumnLength.Compliance", 0.6},
                                                                {"Column.code.MaximumLength", 4},
                                                                {"Column.code.MinimumLength", 0}}));
  ExpectPass("ColumnLength \"code\" <= 4");
  ExpectFail("ColumnLength \"code\" between 2 and 5", "Column.code.ColumnLength.Compliance", 0.8);
  ExpectPass("ColumnLength \"code\" between 2 and 5 with threshold >= 0.8");
  ExpectPass("ColumnLength \"code\" = 4 where \"id IN (1, 2, 5)\"");
}

TEST_F(DqdlEvalTest, DataFreshness) {
  // ts ages at kNow: 1h, 2h, 30h, 10 days, NULL.
  RuleResult r = One("DataFreshness \"ts\" <= 24 hours");
  EXPECT_EQ(r.result, "FAIL");
  EXPECT_EQ(r.evaluation_message, "40.00 % of rows passed the threshold");
  EXPECT_DOUBLE_EQ(r.evaluated_metrics["Column.ts.DataFreshness.Compliance"], 0.4);
  ExpectPass("DataFreshness \"ts\" <= 24 hours where \"id <= 2\"");
  ExpectPass("DataFreshness \"ts\" < 90 minutes where \"id = 1\"");
  ExpectFail("DataFreshness \"ts\" between 1 days and 11 days", "Column.ts.DataFreshness.Compliance", 0.4);
  ExpectPass("DataFreshness \"ts\" < 11 days with threshold > 0.7");
  ExpectFail("DataFreshness \"ts\" > 1 hours", "Column.ts.DataFreshness.Compliance", 0.6);  // 1h is not > 1h
}

TEST_F(DqdlEvalTest, CustomSqlComparesAValueOrChecksReturnedRows) {
  RuleResult r = One("CustomSql \"select count(*) from primary\" = 5");
  EXPECT_EQ(r.result, "PASS");
  EXPECT_EQ(r.evaluated_metrics, (std::map<std::string, double>{{"Dataset.*.CustomSQL", 5}}));
  ExpectFail("CustomSql \"SELECT avg(amount) FROM primary WHERE kind = 'a'\" > 20", "Dataset.*.CustomSQL", 15);
  ExpectPass("CustomSql \"with x as (select * from primary where id > 2) select count(*) from x\" = 3");
  ExpectPass("CustomSql \"select max(primary.id) from primary\" = 5");
  // Row-level: the rows returned pass.
  ExpectFail("CustomSql \"select id from primary where amount > 15\"", "Dataset.*.CustomSQL.Compliance", 0.6);
  ExpectPass("CustomSql \"select id, kind from primary where amount > 15\" with threshold >= 0.6");
  r = One("CustomSql \"select nonsense from primary\" > 1");
  EXPECT_EQ(r.result, "ERROR");
  EXPECT_NE(r.evaluation_message.find("nonsense"), std::string::npos) << r.evaluation_message;
  r = One("CustomSql \"select id, kind from primary\" > 1");
  EXPECT_EQ(r.result, "ERROR");
  EXPECT_EQ(r.evaluation_message, "CustomSql must return a single numeric value (one row, one column)");
  EXPECT_EQ(One("CustomSql \"select 42 as answer from primary\"").result, "ERROR");
}

TEST_F(DqdlEvalTest, WhereClausesFilterRows) {
  ExpectPass("RowCount = 2 where \"kind = 'a'\"");
  ExpectPass("IsComplete \"user_id\" where \"id < 4\"");
  ExpectPass("Mean \"amount\" = 15 where \"kind = 'a'\"");
  ExpectPass("IsUnique \"user_id\" where \"id > 1\"");
  ExpectFail("Completeness \"code\" > 0.9 where \"kind = 'b'\"", "Column.code.Completeness", 0.5);
}

TEST_F(DqdlEvalTest, CompositeRules) {
  ExpectPass("(IsComplete \"id\") and (IsUnique \"id\")");
  RuleResult r = One("(IsComplete \"user_id\") and (IsUnique \"id\")");
  EXPECT_EQ(r.result, "FAIL");
  EXPECT_EQ(r.description, "(IsComplete \"user_id\") and (IsUnique \"id\")");
  EXPECT_EQ(r.evaluation_message, "IsComplete \"user_id\": Value: 0.8 does not meet the constraint requirement!");
  EXPECT_DOUBLE_EQ(r.evaluated_metrics["Column.user_id.Completeness"], 0.8);
  EXPECT_DOUBLE_EQ(r.evaluated_metrics["Column.id.Uniqueness"], 1.0);
  ExpectPass("(IsComplete \"user_id\") or (IsUnique \"id\")");
  EXPECT_EQ(One("(IsComplete \"user_id\") or (RowCount > 9)").result, "FAIL");
  ExpectPass("(RowCount > 9) or ((IsComplete \"id\") and (ColumnValues \"kind\" in [\"a\", \"b\", \"c\"]))");
  EXPECT_EQ(One("(RowCount > 0) and (IsComplete \"nope\")").result, "ERROR");
}

TEST_F(DqdlEvalTest, MissingColumnsAndBadWhereClausesAreRuleErrors) {
  Evaluation ev = Eval(R"(Rules = [
    RowCount = 5,
    IsComplete "user_idx",
    IsComplete "id" where "nosuchcol > 1",
    Mean "kind" > 1,
    IsUnique "id"
  ])");
  ASSERT_EQ(ev.rules.size(), 5u);
  EXPECT_EQ(ev.rules[0].result, "PASS");
  EXPECT_EQ(ev.rules[1].result, "ERROR");
  EXPECT_EQ(ev.rules[1].evaluation_message, "Column user_idx does not exist");
  EXPECT_EQ(ev.rules[2].result, "ERROR");
  EXPECT_NE(ev.rules[2].evaluation_message.find("nosuchcol"), std::string::npos) << ev.rules[2].evaluation_message;
  EXPECT_EQ(ev.rules[2].evaluation_message.find('\n'), std::string::npos) << "only DuckDB's first line";
  EXPECT_EQ(ev.rules[3].result, "ERROR");  // avg of VARCHAR
  EXPECT_EQ(ev.rules[4].result, "PASS");
  EXPECT_EQ(ev.rules[4].name, "Rule_5");
  EXPECT_DOUBLE_EQ(ev.score, 0.4);
}

TEST_F(DqdlEvalTest, ScoreIsTheFractionOfPassingRules) {
  Evaluation ev = Eval("Rules = [ RowCount = 5, IsComplete \"user_id\", IsUnique \"id\", ColumnExists \"nope\" ]");
  ASSERT_EQ(ev.rules.size(), 4u);
  EXPECT_EQ(ev.rules[1].name, "Rule_2");
  EXPECT_DOUBLE_EQ(ev.score, 0.5);
  EXPECT_DOUBLE_EQ(Eval("Rules = [ RowCount > 0 ]").score, 1.0);
  EXPECT_DOUBLE_EQ(Eval("Rules = [ ]").score, 0.0);
}

TEST_F(DqdlEvalTest, BatchedEvaluationMatchesRuleByRule) {
  const std::vector<std::string> rules = {
      "RowCount = 5",
      "Uniqueness \"user_id\" > 0.4 where \"id > 1\"",
      "IsPrimaryKey \"id\" \"kind\"",
      "Entropy \"kind\" > 1",
      "ColumnLength \"code\" = 4",
      "Completeness \"code\" > 0.9",
      "Mean \"amount\" between 20 and 30",
      "ColumnValues \"kind\" in [\"a\", \"b\"]",
      "DataFreshness \"ts\" <= 24 hours",
      "CustomSql \"select count(*) from primary\" = 5",
      "(StandardDeviation \"amount\" > 1) and (DistinctValuesCount \"kind\" = 3)",
      "ColumnCount = 6",
  };
  Evaluation all = Eval(StrCat("Rules = [ ", Join(rules, ", "), " ]"));
  ASSERT_EQ(all.rules.size(), rules.size());
  int passed = 0;
  for (size_t i = 0; i < rules.size(); ++i) {
    RuleResult alone = One(rules[i]);
    EXPECT_EQ(all.rules[i].name, StrCat("Rule_", i + 1));
    EXPECT_EQ(all.rules[i].description, rules[i]);
    EXPECT_EQ(all.rules[i].result, alone.result) << rules[i];
    EXPECT_EQ(all.rules[i].evaluation_message, alone.evaluation_message) << rules[i];
    EXPECT_EQ(all.rules[i].evaluated_metrics, alone.evaluated_metrics) << rules[i];
    passed += alone.result == "PASS";
  }
  EXPECT_EQ(passed, 8);
  EXPECT_DOUBLE_EQ(all.score, 8.0 / 12);
}

TEST_F(DqdlEvalTest, RelationMayBeASubqueryAndMustExist) {
  EXPECT_EQ(One("RowCount = 2", "(SELECT * FROM t WHERE kind = 'a')").result, "PASS");
  EXPECT_EQ(One("CustomSql \"select count(*) from primary\" = 2", "(SELECT * FROM t WHERE kind = 'a')").result, "PASS");
  auto rs = Parse("Rules = [ RowCount > 0 ]");
  ASSERT_TRUE(rs.ok());
  EXPECT_FALSE(Evaluate(*rs, "\"missing\"", *con_, kNow).ok());
}

TEST_F(DqdlEvalTest, RowPredicateSplitsGoodAndQuarantinedRows) {
  EXPECT_EQ(PassingRows("Rules = [ IsComplete \"user_id\", ColumnValues \"kind\" in [\"a\", \"b\"] ]"), 3);
  EXPECT_EQ(PassingRows("Rules = [ IsComplete \"user_id\" where \"kind = 'a'\" ]"), 5);
  EXPECT_EQ(PassingRows("Rules = [ IsComplete \"code\" where \"kind = 'b'\" ]"), 4);
  EXPECT_EQ(PassingRows("Rules = [ (ColumnValues \"kind\" = \"c\") or (IsComplete \"code\") ]"), 4);
  EXPECT_EQ(PassingRows("Rules = [ (RowCount > 0) and (ColumnLength \"code\" = 4) ]"), 3);
  EXPECT_EQ(PassingRows("Rules = [ (RowCount > 0) or (ColumnLength \"code\" = 4) ]"), 5);
  // Thresholds do not apply per row: a row failing the condition is quarantined.
  EXPECT_EQ(PassingRows("Rules = [ ColumnValues \"id\" > 1 with threshold > 0.5 ]"), 4);
  EXPECT_EQ(PassingRows("Rules = [ DataFreshness \"ts\" <= 24 hours ]"), 2);
  EXPECT_EQ(PassingRows("Rules = [ Completeness \"amount\" > 0.5, ColumnValues \"v\" != EMPTY ]", "(SELECT * FROM t, s)"),
            12);
  auto none = RowPredicate(*Parse("Rules = [ RowCount > 0, IsUnique \"id\", CustomSql \"select id from primary\" ]"));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, "");
}

}  // namespace
}  // namespace sluice::dq
