#include "sql/sql.h"

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

}  // namespace
}  // namespace sluice
