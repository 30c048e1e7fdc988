// The lake is plain files: what S3 stores, DuckDB reads in place, partitions and all.
#include <unistd.h>

#include "gtest/gtest.h"
#include "s3/store.h"
#include "sql/sql.h"

namespace sluice {
namespace {

TEST(LakeTest, DuckDbReadsObjectsInPlaceWithHivePartitions) {
  std::string tmpl = ::testing::TempDir() + "/lake_test_XXXXXX";
  std::string dir = ::mkdtemp(tmpl.data());
  auto store = ObjectStore::Open(dir + "/s3");
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->CreateBucket("lake", "us-east-1").ok());
  auto put = [&](const std::string& key, const std::string& data) {
    auto f = (*store)->NewObjectFile();
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append(data).ok());
    ObjectMeta m;
    m.key = key;
    m.etag = "e";
    ASSERT_TRUE((*store)->PutObject("lake", m, std::move(*f)).ok());
  };
  put("events/event_date=2025-08-01/part-0.json", "{\"user\":\"a\",\"amount\":10}\n{\"user\":\"b\",\"amount\":5}\n");
  put("events/event_date=2025-08-02/part-0.json", "{\"user\":\"a\",\"amount\":7}\n");
  auto db = Database::Open({});
  ASSERT_TRUE(db.ok());
  auto con = (*db)->Connect();
  ASSERT_TRUE(con.ok());
  std::string glob = (*store)->BucketDir("lake") + "/events/*/*.json";
  auto r = (*con)->Query("SELECT event_date::VARCHAR, sum(amount)::BIGINT FROM read_json_auto(" + SqlQuote(glob) +
                         ", hive_partitioning=true) GROUP BY 1 ORDER BY 1");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->rows.size(), 2u);
  EXPECT_EQ(r->rows[0][0], "2025-08-01");
  EXPECT_EQ(r->rows[0][1], "15");
  EXPECT_EQ(r->rows[1][0], "2025-08-02");
  EXPECT_EQ(r->rows[1][1], "7");
}

}  // namespace
}  // namespace sluice
