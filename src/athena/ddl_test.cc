#include "athena/ddl.h"

#include "athena/engine.h"
#include "gtest/gtest.h"

namespace sluice::athena {
namespace {

TEST(DdlTest, SeedCreateExternalTable) {
  auto st = ParseStatement(
      "CREATE EXTERNAL TABLE IF NOT EXISTS events (\n  user_id string,\n  action  string,\n  amount  double\n)\n"
      "PARTITIONED BY (event_date date)\nSTORED AS PARQUET\nLOCATION 's3://bucket/curated/events/'");
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_EQ(st->kind, Statement::Kind::kCreateTable);
  const auto& t = st->create_table;
  EXPECT_TRUE(t.if_not_exists);
  EXPECT_EQ(t.table.name, "events");
  ASSERT_EQ(t.columns.size(), 3u);
  EXPECT_EQ(t.columns[2].type, "double");
  ASSERT_EQ(t.partition_keys.size(), 1u);
  EXPECT_EQ(t.partition_keys[0].name, "event_date");
  EXPECT_EQ(t.stored_as, "PARQUET");
  EXPECT_EQ(t.location, "s3://bucket/curated/events/");
}

TEST(DdlTest, DelimitedSerdeTypesAndProperties) {
  auto st = ParseStatement(
      "create external table `db`.`logs` (ts timestamp, tags array<string>, m map<string,int>, "
      "s struct<a:int,b:decimal(10,2)> COMMENT 'nested') ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\t' "
      "LOCATION 's3://b/logs' TBLPROPERTIES ('skip.header.line.count'='1');");
  ASSERT_TRUE(st.ok()) << st.status();
  const auto& t = st->create_table;
  EXPECT_EQ(t.table.db, "db");
  EXPECT_EQ(t.columns[1].type, "array<string>");
  EXPECT_EQ(t.columns[3].type, "struct<a:int,b:decimal(10,2)>");
  EXPECT_EQ(t.columns[3].comment, "nested");
  EXPECT_EQ(t.serde_properties[0].second, "\t");
  EXPECT_EQ(t.table_properties[0].first, "skip.header.line.count");
  EXPECT_EQ(*HiveToDuckType(t.columns[3].type), "STRUCT(\"a\" INTEGER, \"b\" DECIMAL(10,2))");
  EXPECT_EQ(*HiveToDuckType("map<string,array<bigint>>"), "MAP(VARCHAR, BIGINT[])");
  EXPECT_FALSE(HiveToDuckType("blob").ok());
}

TEST(DdlTest, UtilityStatementsAndQueries) {
  EXPECT_EQ(ParseStatement("MSCK REPAIR TABLE events;")->kind, Statement::Kind::kMsckRepair);
  EXPECT_EQ(ParseStatement("SHOW PARTITIONS awsdatacatalog.db.events")->show.target.db, "db");
  EXPECT_EQ(ParseStatement("SELECT 1")->kind, Statement::Kind::kQuery);
  auto ctas = ParseStatement("CREATE TABLE curated WITH (format = 'PARQUET', external_location = 's3://b/c/', "
                             "partitioned_by = ARRAY['event_date'], write_compression='SNAPPY') AS SELECT a, event_date FROM raw");
  ASSERT_TRUE(ctas.ok()) << ctas.status();
  EXPECT_EQ(ctas->kind, Statement::Kind::kCreateTableAs);
  EXPECT_EQ(ctas->write.partitioned_by, std::vector<std::string>{"event_date"});
  EXPECT_EQ(ctas->write.query, "SELECT a, event_date FROM raw");
  EXPECT_EQ(ctas->write.properties[1].second, "s3://b/c/");
  auto ins = ParseStatement("INSERT INTO db.t SELECT * FROM x");
  ASSERT_TRUE(ins.ok());
  EXPECT_EQ(ins->write.query, "SELECT * FROM x");
  auto add = ParseStatement("ALTER TABLE t ADD IF NOT EXISTS PARTITION (dt='2025-08-01', h=3) LOCATION 's3://b/x/'");
  ASSERT_TRUE(add.ok()) << add.status();
  EXPECT_TRUE(add->add_partitions.if_not_exists);
  EXPECT_EQ(add->add_partitions.partitions[0].values[1].second, "3");
  EXPECT_FALSE(ParseStatement("CREATE EXTERNAL TABLE t (a int)").ok());  // no LOCATION
  EXPECT_FALSE(ParseStatement("CREATE EXTERNAL TABLE t (a int) LOCATION 's3://b/' garbage").ok());
  EXPECT_FALSE(SingleStatement("SELECT 1; SELECT 2").ok());
  EXPECT_EQ(*SingleStatement("-- note\nSELECT ';' ; "), "SELECT ';'");
  EXPECT_FALSE(ParseS3Location("file:///etc/").ok());
}

}  // namespace
}  // namespace sluice::athena
