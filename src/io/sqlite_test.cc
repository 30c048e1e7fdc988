#include "io/sqlite.h"

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace sluice {
namespace {

TEST(SqliteStmtTest, ReusedStatementRunsWithItsNewBindings) {
  char dir[] = "/tmp/sluice-sqlite-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  auto db = SqliteDb::Open(std::string(dir) + "/t.db");
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE((*db)->Exec("CREATE TABLE t (k TEXT PRIMARY KEY)").ok());
  auto insert = (*db)->Prepare("INSERT INTO t (k) VALUES (?)");
  ASSERT_TRUE(insert.ok());
  for (const char* k : {"a", "b", "c"}) {
    // The same statement, re-bound without Prepare()/Reset(): each run inserts its own key.
    ASSERT_TRUE((*insert)->Bind(1, std::string_view(k)).Run().ok()) << k;
  }
  auto count = (*db)->Prepare("SELECT count(*) FROM t");
  ASSERT_TRUE(count.ok());
  ASSERT_TRUE(*(*count)->Step());
  EXPECT_EQ((*count)->Int(0), 3);
  // A query abandoned after its first row can be re-bound too.
  auto select = (*db)->Prepare("SELECT k FROM t WHERE k >= ? ORDER BY k");
  ASSERT_TRUE(select.ok());
  ASSERT_TRUE(*(*select)->Bind(1, std::string_view("a")).Step());
  EXPECT_EQ((*select)->Text(0), "a");
  ASSERT_TRUE(*(*select)->Bind(1, std::string_view("c")).Step());
  EXPECT_EQ((*select)->Text(0), "c");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sluice
