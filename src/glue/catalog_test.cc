#include "glue/catalog.h"

#include <sqlite3.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace sluice {
namespace {

std::unique_ptr<Catalog> OpenTemp(std::string* path = nullptr) {
  std::string tmpl = ::testing::TempDir() + "/catalog_test_XXXXXX";
  std::string dir = ::mkdtemp(tmpl.data());
  if (path) *path = dir + "/glue/catalog.db";
  auto c = Catalog::Open(dir + "/glue/catalog.db");
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(*c);
}

TEST(CatalogTest, DatabasesTablesPartitions) {
  auto c = OpenTemp();
  ASSERT_TRUE(c->CreateDatabase({{"Name", "Sales"}}).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(c->CreateDatabase({{"Name", "sales"}})));
  Json table = {{"Name", "Events"},
                {"StorageDescriptor", {{"Columns", {{{"Name", "user_id"}, {"Type", "string"}}}}, {"Location", "s3://b/e/"}}},
                {"PartitionKeys", {{{"Name", "event_date"}, {"Type", "date"}}}}};
  ASSERT_TRUE(c->CreateTable("sales", table).ok());
  auto t = c->GetTable("SALES", "events");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)["Name"], "events");
  EXPECT_EQ((*t)["DatabaseName"], "sales");
  EXPECT_TRUE(absl::IsNotFound(c->GetTable("sales", "nope").status()));
  EXPECT_TRUE(absl::IsNotFound(c->CreateTable("nodb", table)));
  for (const char* d : {"2025-08-01", "2025-08-02", "2025-09-01"}) {
    ASSERT_TRUE(c->CreatePartition("sales", "events", {{"Values", {d}}}).ok());
  }
  EXPECT_TRUE(absl::IsInvalidArgument(c->CreatePartition("sales", "events", {{"Values", {"a", "b"}}})));
  auto ps = c->GetPartitions("sales", "events", "event_date BETWEEN '2025-08-01' AND '2025-08-31'");
  ASSERT_TRUE(ps.ok()) << ps.status();
  EXPECT_EQ(ps->size(), 2u);
  uint64_t before = c->version();
  ASSERT_TRUE(c->DeletePartition("sales", "events", Json::array({"2025-08-02"})).ok());
  EXPECT_GT(c->version(), before);
  ASSERT_TRUE(c->DeleteDatabase("sales").ok());
  EXPECT_TRUE(absl::IsNotFound(c->GetTable("sales", "events").status()));
}

TEST(CatalogTest, DamagedRecordsAreSkippedNotThrown) {
  std::string path;
  auto c = OpenTemp(&path);
  ASSERT_TRUE(c->PutDocument("job_run", "a", {{"Id", "a"}}, true).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO documents(kind, name, doc) VALUES('job_run', 'b', '{not json'),"
                             "('job_run', 'c', '[1, 2]')", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto all = c->ListDocuments("job_run");
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0]["Id"], "a");
  EXPECT_TRUE(absl::IsDataLoss(c->GetDocument("job_run", "b").status()));
  EXPECT_TRUE(absl::IsDataLoss(c->GetDocument("job_run", "c").status()));
  EXPECT_TRUE(absl::IsNotFound(c->GetDocument("job_run", "d").status()));
}

TEST(PartitionExpressionTest, Grammar) {
  std::vector<std::pair<std::string, std::string>> v = {{"year", "2025"}, {"month", "08"}, {"region", "eu-west"}};
  auto is = [&](const std::string& e) {
    auto r = MatchPartitionExpression(e, v);
    EXPECT_TRUE(r.ok()) << e << ": " << r.status();
    return r.ok() && *r;
  };
  EXPECT_TRUE(is("year = '2025'"));
  EXPECT_TRUE(is("year > 2024 AND month <= 8"));
  EXPECT_FALSE(is("year > 2025 OR month = '09'"));
  EXPECT_TRUE(is("month IN ('07', '08')"));
  EXPECT_TRUE(is("region LIKE 'eu-%'"));
  EXPECT_TRUE(is("NOT (region = 'us-east')"));
  EXPECT_TRUE(is("year NOT BETWEEN 2010 AND 2020"));
  EXPECT_FALSE(MatchPartitionExpression("nokey = 1", v).ok());
  EXPECT_FALSE(MatchPartitionExpression("year = ", v).ok());
  EXPECT_FALSE(MatchPartitionExpression("year = 'x", v).ok());
}

}  // namespace
}  // namespace sluice
