#include "sql/sql.h"

#include <unistd.h>

#include "gtest/gtest.h"

namespace sluice {
namespace {

TEST(SqlTest, QueriesReturnTypedColumnsAndNulls) {
  auto db = Database::Open({});
  ASSERT_TRUE(db.ok()) << db.status();
  auto con = (*db)->Connect();
  ASSERT_TRUE(con.ok());
  auto r = (*con)->Query("SELECT 42 AS answer, 'it''s' AS s, NULL::VARCHAR AS n");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->columns, (std::vector<std::string>{"answer", "s", "n"}));
  EXPECT_EQ(r->types[0], "INTEGER");
  EXPECT_EQ(r->types[1], "VARCHAR");
  ASSERT_EQ(r->rows.size(), 1u);
  EXPECT_EQ(r->rows[0][0], "42");
  EXPECT_EQ(r->rows[0][1], "it's");
  EXPECT_FALSE(r->rows[0][2].has_value());
}

TEST(SqlTest, ErrorsAreStatusesAndTheConnectionStaysUsable) {
  auto db = Database::Open({":memory:", "1GB", 1});
  ASSERT_TRUE(db.ok());
  auto con = (*db)->Connect();
  auto bad = (*con)->Query("SELEC 1");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.status().message()).find("syntax error"), std::string::npos);
  EXPECT_TRUE((*con)->Query("SELECT 1").ok());
  EXPECT_EQ(SqlQuote("a'b"), "'a''b'");
}

TEST(SqlTest, PreparedStatementsBindEveryKindAndCheckCounts) {
  auto db = Database::Open({});
  auto con = (*db)->Connect();
  auto stmt = (*con)->Prepare("SELECT $1::BIGINT + 1 AS i, $2 || '!' AS s, $3::DOUBLE * 2 AS d, $4::VARCHAR IS NULL AS n");
  ASSERT_TRUE(stmt.ok()) << stmt.status();
  auto r = (*stmt)->Execute({SqlValue::Int(41), SqlValue::Text("it's"), SqlValue::Double(1.25), SqlValue::Null()});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows[0][0], "42");
  EXPECT_EQ(r->rows[0][1], "it's!");
  EXPECT_EQ(r->rows[0][2], "2.5");
  EXPECT_EQ(r->rows[0][3], "true");
  EXPECT_FALSE((*stmt)->Execute({SqlValue::Int(1)}).ok());
  EXPECT_FALSE((*con)->Prepare("SELEC 1").ok());
}

TEST(SqlTest, AppenderAddsRowsAndRejectsBadOnes) {
  auto db = Database::Open({});
  auto con = (*db)->Connect();
  ASSERT_TRUE((*con)->Execute("CREATE TABLE t (id BIGINT, name VARCHAR)").ok());
  {
    auto app = (*con)->CreateAppender("", "t");
    ASSERT_TRUE(app.ok()) << app.status();
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE((*app)->AppendRow({SqlValue::Int(i), SqlValue::Text("n")}).ok());
    EXPECT_FALSE((*app)->AppendRow({SqlValue::Int(1)}).ok());
  }
  auto r = (*con)->Query("SELECT count(*), sum(id) FROM t");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rows[0][0], "1000");
  EXPECT_EQ(r->rows[0][1], "499500");
  EXPECT_FALSE((*con)->CreateAppender("", "missing").ok());
}

TEST(SqlTest, QueryProfiledReportsScansWithTheirFileFilters) {
  auto db = Database::Open({});
  auto con = (*db)->Connect();
  std::string dir = testing::TempDir() + "/sql_test_profiled_" + std::to_string(::getpid());
  ASSERT_TRUE((*con)->Execute("COPY (SELECT i, i % 3 AS p FROM range(300) t(i)) TO " + SqlQuote(dir) +
                              " (FORMAT PARQUET, PARTITION_BY (p), OVERWRITE)").ok());
  std::string files = "[" + SqlQuote(dir + "/p=0/data_0.parquet") + ", " + SqlQuote(dir + "/p=1/data_0.parquet") + ", " +
                      SqlQuote(dir + "/p=2/data_0.parquet") + "]";
  std::vector<OperatorProfile> ops;
  auto r = (*con)->QueryProfiled("SELECT sum(i) AS s FROM read_parquet(" + files +
                                     ", hive_partitioning=true, hive_types={'p': 'BIGINT'}) WHERE p = 2 AND i > 10",
                                 &ops);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->columns, std::vector<std::string>{"s"});
  const OperatorProfile* scan = nullptr;
  for (const auto& op : ops) {
    if (op.type == "TABLE_SCAN") scan = &op;
  }
  ASSERT_NE(scan, nullptr);
  EXPECT_EQ(scan->name, "READ_PARQUET");
  EXPECT_GT(scan->depth, 0);
  EXPECT_EQ(scan->info.at("Function"), "READ_PARQUET");
  EXPECT_EQ(scan->info.at("File Filters"), "(p = 2)");
  EXPECT_EQ(scan->info.at("Scanning Files"), "1/3");
  EXPECT_EQ(scan->info.at("Total Files Read"), "1");
  EXPECT_EQ(scan->info.at("Projections"), "i");

  // Values holding ", " stay whole; the profile follows each query.
  r = (*con)->QueryProfiled("SELECT count(*) FROM read_parquet(" + files +
                                ", hive_partitioning=true, hive_types={'p': 'BIGINT'}) WHERE p IN (0, 1) AND i > 1",
                            &ops);
  ASSERT_TRUE(r.ok()) << r.status();
  scan = nullptr;
  for (const auto& op : ops) {
    if (op.type == "TABLE_SCAN") scan = &op;
  }
  ASSERT_NE(scan, nullptr);
  EXPECT_EQ(scan->info.at("File Filters"), "(p IN (0, 1))");
  EXPECT_EQ(scan->info.at("Scanning Files"), "2/3");

  // Errors are statuses; plain queries still work on a profiled connection.
  EXPECT_FALSE((*con)->QueryProfiled("SELEC 1", &ops).ok());
  EXPECT_TRUE(ops.empty());
  EXPECT_TRUE((*con)->Query("SELECT 1").ok());
}

}  // namespace
}  // namespace sluice
