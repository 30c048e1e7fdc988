#include <stdlib.h>

#include <algorithm>

#include "athena/engine.h"
#include "base/strings.h"
#include "glue/catalog.h"
#include "gtest/gtest.h"
#include "redshift/lexer.h"
#include "redshift/session.h"
#include "redshift/translate.h"
#include "redshift/warehouse.h"
#include "s3/store.h"
#include "sql/sql.h"

namespace sluice {
namespace {

std::string TempDir() {
  std::string tmpl = ::testing::TempDir() + "/redshift_test_XXXXXX";
  return ::mkdtemp(tmpl.data());
}

// A warehouse over a fresh lake, opened as the server does: before the lake engine
// restricts DuckDB's file access.
class WarehouseTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(TempDir()); }
  void Open(const std::string& dir) {
    dir_ = dir;
    wh_.reset();
    lake_.reset();
    db_.reset();
    store_ = *ObjectStore::Open(dir + "/s3");
    catalog_ = *Catalog::Open(dir + "/catalog.db");
    db_ = *Database::Open(DatabaseOptions{});
    lake_ = std::make_unique<athena::Engine>(*catalog_, *store_, *db_, dir + "/athena");
    WarehouseOptions o;
    o.dir = dir + "/redshift";
    auto wh = Warehouse::Open(o, *db_, *store_, *catalog_, *lake_);
    ASSERT_TRUE(wh.ok()) << wh.status();
    wh_ = std::move(*wh);
    ASSERT_TRUE(lake_->Init().ok());
    auto s = wh_->Connect("", "awsuser");
    ASSERT_TRUE(s.ok()) << s.status();
    s_ = std::move(*s);
  }
  WarehouseResult Run(const std::string& sql) {
    auto r = s_->Execute(sql);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status();
    if (!r.ok() || r->empty()) return {};
    return r->back();
  }
  // The first column of the first row.
  std::string Scalar(const std::string& sql) {
    WarehouseResult r = Run(sql);
    if (r.rows.empty() || r.rows[0].empty()) return "<none>";
    return r.rows[0][0].value_or("<null>");
  }
  absl::Status Fail(const std::string& sql) {
    auto r = s_->Execute(sql);
    EXPECT_FALSE(r.ok()) << sql;
    return r.ok() ? absl::OkStatus() : r.status();
  }

  std::string dir_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<athena::Engine> lake_;
  std::unique_ptr<Warehouse> wh_;
  std::unique_ptr<WarehouseSession> s_;
};

TEST(LexerTest, SplitsOnSemicolonsOutsideQuotesCommentsAndDollarQuotes) {
  auto s = redshift::SplitStatements(
      "select 'a;b'; -- c;d\n select \"x;y\" from t; /* e; */ select $$f;g$$;;"
      " create procedure p() as $body$ begin x; end $body$ language plpgsql;");
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0], "select 'a;b'");
  EXPECT_EQ(s[1], "-- c;d\n select \"x;y\" from t");
  EXPECT_EQ(s[2], "/* e; */ select $$f;g$$");
  EXPECT_EQ(s[3], "create procedure p() as $body$ begin x; end $body$ language plpgsql");
  EXPECT_TRUE(redshift::SplitStatements("  -- only a comment\n ; ").empty());
}

// Redshift SQL in, DuckDB SQL out.
TEST(TranslateTest, CaseTable) {
  struct Case {
    const char* in;
    const char* out;
  };
  const Case kCases[] = {
      {"select nvl(a, b) from t", "select coalesce(a, b) from t"},
      {"select dateadd(day, 3, ts) from t", "select (CAST(ts AS TIMESTAMP) + CAST(3 AS BIGINT) * INTERVAL '1 day') from t"},
      {"select dateadd(mon, -1, '2024-03-31')", "select (CAST('2024-03-31' AS TIMESTAMP) + CAST(-1 AS BIGINT) * INTERVAL '1 month')"},
      {"select datediff(days, a, b)", "select date_diff('day', CAST(a AS TIMESTAMP), CAST(b AS TIMESTAMP))"},
      {"select datediff('week', a, b)", "select date_diff('week', CAST(a AS TIMESTAMP), CAST(b AS TIMESTAMP))"},
      {"select date_part(yr, ts)", "select date_part('year', ts)"},
      {"select listagg(name, ',') within group (order by name) from t group by g",
       "select string_agg(name, ',' order by name) from t group by g"},
      {"select listagg(name) from t", "select string_agg(name, '') from t"},
      {"select approximate count(distinct id) from t", "select approx_count_distinct(id) from t"},
      {"select sysdate, getdate()", "select getdate(), getdate()"},
      {"select current_user", "select 'awsuser'"},
      {"select decode(x, 1, 'one', 2, 'two', 'many') from t",
       "select CASE WHEN (x) IS NOT DISTINCT FROM (1) THEN 'one' WHEN (x) IS NOT DISTINCT FROM (2) THEN 'two' ELSE 'many' END from t"},
      {"select top 10 * from t order by a", "select * from t order by a LIMIT 10"},
      {"select nvl(dateadd(d, 1, a), b)", "select coalesce((CAST(a AS TIMESTAMP) + CAST(1 AS BIGINT) * INTERVAL '1 day'), b)"},
      {"select * from #stage", "select * from \"#stage\""},
      {"create table t (a varchar(max), b character varying(max), c int4)",
       "create table t (a VARCHAR, b character VARYING, c int4)"},
      {"create table t (id int encode az64 distkey, ts timestamp sortkey) diststyle key",
       "create table t (id int  , ts timestamp ) "},
      {"create table t (a int, b int) diststyle even compound sortkey(a, b)", "create table t (a int, b int) "},
      {"create table t (a int) interleaved sortkey(a) backup no", "create table t (a int) "},
      {"create table #t (a int)", "create TEMP table \"#t\" (a int)"},
      {"create table s.t (id bigint identity(1,1), v varchar(10))",
       "create table s.t (id bigint DEFAULT nextval('\"dev\".\"s\".\"t_id_seq\"'), v varchar(10))"},
      {"create table t2 distkey(a) sortkey(a) as select * from t", "create table t2 as select * from t"},
      {"select 'nvl(a, b)' as s", "select 'nvl(a, b)' as s"},
      // psql's catalog queries.
      {"select c.reloftype::pg_catalog.regtype::pg_catalog.text", "select format_type(c.reloftype, NULL)::pg_catalog.text"},
      {"select 'public.t'::regclass",
       "select (SELECT rc.oid FROM pg_catalog.pg_class rc WHERE rc.relname = 't' AND rc.relnamespace = (SELECT rn.oid "
       "FROM pg_catalog.pg_namespace rn WHERE rn.nspname = 'public') LIMIT 1)"},
      {"select c.oid::pg_catalog.regclass from x c",
       "select (SELECT rc.relname FROM pg_catalog.pg_class rc WHERE rc.oid = (c.oid) LIMIT 1) from x c"},
      {"select c.relhasoids, relhasoids from pg_catalog.pg_class c", "select false, false from pg_catalog.pg_class c"},
      {"select unnest(tc.reloptions) from pg_class tc", "select unnest(CAST(tc.reloptions AS VARCHAR[])) from pg_class tc"},
      {"select * from pg_catalog.pg_inherits i, pg_catalog.pg_collation c",
       "select * from pg_internal.pg_inherits i, pg_internal.pg_collation c"},
      {"select 1 where n.nspname !~ '^pg_' and x ~* 'A'",
       "select 1 where n.nspname !~ '(?s).*(?:^pg_).*' and x ~ '(?si).*(?:A).*'"},
      {"select pg_catalog.format_type(a.atttypid, a.atttypmod) from pg_catalog.pg_attribute a",
       "select coalesce((SELECT ct.type_text FROM pg_internal.column_types ct, pg_catalog.pg_class cc, "
       "pg_catalog.pg_namespace cn WHERE cc.oid = a.attrelid AND cn.oid = cc.relnamespace AND ct.schema_name = "
       "cn.nspname AND ct.table_name = cc.relname AND ct.column_name = a.attname LIMIT 1), format_type((a.atttypid), "
       "a.atttypmod)) from pg_catalog.pg_attribute a"},
  };
  redshift::TranslateContext ctx{"dev", "awsuser"};
  for (const auto& c : kCases) {
    auto t = redshift::Translate(c.in, ctx);
    ASSERT_TRUE(t.ok()) << c.in;
    EXPECT_EQ(t->sql, c.out) << c.in;
  }
  auto d = redshift::Translate("create table s.t (a int encode zstd, b date) distkey(a) compound sortkey(b, a)", ctx);
  ASSERT_TRUE(d.ok() && d->design);
  EXPECT_EQ(d->design->schema, "s");
  EXPECT_EQ(d->design->table, "t");
  EXPECT_EQ(d->design->diststyle, "KEY");
  EXPECT_EQ(d->design->distkey, "a");
  EXPECT_EQ(d->design->sortkey_style, "COMPOUND");
  ASSERT_EQ(d->design->sortkey.size(), 2u);
  EXPECT_EQ(d->design->sortkey[0], "b");
  auto id = redshift::Translate("create table s.t (id bigint identity(100, 5))", ctx);
  ASSERT_TRUE(id.ok());
  ASSERT_EQ(id->before.size(), 1u);
  EXPECT_EQ(id->before[0], "CREATE SEQUENCE IF NOT EXISTS \"dev\".\"s\".\"t_id_seq\" START 100 INCREMENT 5");
}

TEST_F(WarehouseTest, RedshiftSqlRuns) {
  Run("create table sales (id bigint identity(1,1), region varchar(max) encode lzo, amount decimal(10,2), "
      "sold timestamp sortkey) diststyle key distkey(region)");
  Run("insert into sales (region, amount, sold) values ('eu', 10, '2024-01-01 10:00'), ('eu', 5, '2024-01-03 00:00'), "
      "('us', 7, '2024-02-01 00:00')");
  EXPECT_EQ(Scalar("select max(id) from sales"), "3");
  EXPECT_EQ(Scalar("select listagg(region, ',') within group (order by region) from (select distinct region from sales)"),
            "eu,us");
  EXPECT_EQ(Scalar("select datediff(day, min(sold), max(sold)) from sales"), "31");
  EXPECT_EQ(Scalar("select dateadd(month, 1, '2024-01-31'::date)"), "2024-02-29 00:00:00");
  EXPECT_EQ(Scalar("select nvl(null, 'x')"), "x");
  EXPECT_EQ(Scalar("select nvl2(null, 'a', 'b')"), "b");
  EXPECT_EQ(Scalar("select approximate count(distinct region) from sales"), "2");
  EXPECT_EQ(Scalar("select top 1 region from sales order by amount desc"), "eu");
  EXPECT_EQ(Scalar("select convert_timezone('UTC', 'America/New_York', '2024-01-01 12:00:00'::timestamp)"),
            "2024-01-01 07:00:00");
  EXPECT_EQ(Scalar("select decode(region, 'eu', 'Europe', 'other') from sales order by id limit 1"), "Europe");
  EXPECT_EQ(Scalar("select count(*) from sales where sold < getdate() and sold < sysdate"), "3");
  EXPECT_EQ(Scalar("select 1::int4 + 2::int8"), "3");
  EXPECT_EQ(Scalar("select current_user"), "awsuser");
  WarehouseResult info = Run("select \"table\", diststyle, sortkey1, tbl_rows from svv_table_info where \"table\" = 'sales'");
  ASSERT_EQ(info.rows.size(), 1u);
  EXPECT_EQ(info.rows[0][1].value_or(""), "KEY");
  EXPECT_EQ(info.rows[0][2].value_or(""), "sold");
  EXPECT_EQ(info.rows[0][3].value_or(""), "3");
  Run("create table #stage (a int)");
  Run("insert into #stage values (1)");
  EXPECT_EQ(Scalar("select count(*) from #stage"), "1");
  Run("create temp table tmp1 as select * from sales");
  EXPECT_EQ(Scalar("select count(*) from tmp1"), "3");
  Run("create table target (id int, v varchar)");
  Run("insert into target values (1, 'old')");
  Run("merge into target using (select 1 as id, 'new' as v union all select 2, 'b') s on target.id = s.id "
      "when matched then update set v = s.v when not matched then insert values (s.id, s.v)");
  EXPECT_EQ(Scalar("select string_agg(v, ',' order by id) from target"), "new,b");
  Run("set search_path to '$user', public");
  Run("set datestyle to iso");
  EXPECT_EQ(Scalar("select count(*) from pg_catalog.pg_namespace where nspname = 'public'"), "1");
  // psql's \dt.
  WarehouseResult dt = Run(R"(SELECT n.nspname as "Schema",
  c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type",
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r','p','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;)");
  bool found_sales = false;
  for (const auto& row : dt.rows) found_sales |= row[1].value_or("") == "sales";
  EXPECT_TRUE(found_sales);
  WarehouseResult cols = Run("select column_name, data_type from information_schema.columns where table_name = 'sales' "
                             "order by ordinal_position");
  EXPECT_EQ(cols.rows.size(), 4u);
  EXPECT_EQ(Scalar("select count(*) from information_schema.tables where table_schema = 'public'"), "2");
}

TEST_F(WarehouseTest, CommandTagsAndRows) {
  EXPECT_EQ(Run("create table t (id int, name varchar(20))").command_tag, "CREATE TABLE");
  WarehouseResult ins = Run("insert into t values (1, 'a'), (2, 'b'), (3, NULL)");
  EXPECT_EQ(ins.command_tag, "INSERT 0 3");
  EXPECT_EQ(ins.rows_affected, 3);
  EXPECT_EQ(Run("update t set name = 'z' where id > 1").command_tag, "UPDATE 2");
  WarehouseResult sel = Run("select id, name, id > 1 as big from t order by id");
  EXPECT_TRUE(sel.has_result_set);
  EXPECT_EQ(sel.command_tag, "SELECT 3");
  ASSERT_EQ(sel.columns.size(), 3u);
  EXPECT_EQ(sel.types[0], "INTEGER");
  EXPECT_EQ(sel.rows[0][1].value_or(""), "a");
  EXPECT_EQ(sel.rows[0][2].value_or(""), "f");
  EXPECT_EQ(sel.rows[2][2].value_or(""), "t");
  EXPECT_EQ(Run("delete from t where id = 3").command_tag, "DELETE 1");
  EXPECT_EQ(Run("create table t2 as select * from t").command_tag, "SELECT 2");
  EXPECT_EQ(Run("drop table t2").command_tag, "DROP TABLE");
  EXPECT_EQ(Run("create view v as select 1").command_tag, "CREATE VIEW");
  auto many = s_->Execute("select 1; select 2, 3");
  ASSERT_TRUE(many.ok());
  ASSERT_EQ(many->size(), 2u);
  EXPECT_EQ((*many)[1].columns.size(), 2u);
}

TEST_F(WarehouseTest, ErrorsCarrySqlStates) {
  Run("create table t (id int primary key, v int not null)");
  absl::Status st = Fail("select * from nope");
  EXPECT_EQ(SqlStateOf(st), "42P01");
  EXPECT_EQ(std::string(st.message()), "relation \"nope\" does not exist");
  EXPECT_EQ(SqlStateOf(Fail("select zz from t")), "42703");
  EXPECT_EQ(SqlStateOf(Fail("selec 1")), "42601");
  Run("insert into t values (1, 1)");
  EXPECT_EQ(SqlStateOf(Fail("insert into t values (1, 2)")), "23505");
  EXPECT_EQ(SqlStateOf(Fail("insert into t values (2, NULL)")), "23502");
  EXPECT_EQ(SqlStateOf(Fail("select 'abc'::int")), "22P02");
  EXPECT_EQ(SqlStateOf(wh_->Connect("nodb", "u").status()), "3D000");
}

TEST_F(WarehouseTest, TransactionsAbortAndRollBack) {
  Run("create table t (id int)");
  EXPECT_EQ(s_->TransactionStatus(), 'I');
  EXPECT_EQ(Run("begin").command_tag, "BEGIN");
  EXPECT_EQ(s_->TransactionStatus(), 'T');
  Run("insert into t values (1)");
  (void)Fail("select * from nope");
  EXPECT_EQ(s_->TransactionStatus(), 'E');
  EXPECT_EQ(SqlStateOf(Fail("select 1")), "25P02");
  EXPECT_EQ(Run("commit").command_tag, "ROLLBACK");
  EXPECT_EQ(s_->TransactionStatus(), 'I');
  EXPECT_EQ(Scalar("select count(*) from t"), "0");
  Run("begin; insert into t values (2); commit");
  EXPECT_EQ(Scalar("select count(*) from t"), "1");
  Run("begin; insert into t values (3); rollback");
  EXPECT_EQ(Scalar("select count(*) from t"), "1");
}

TEST_F(WarehouseTest, ParamsDescribeAndCatalog) {
  Run("create table t (id int, name varchar)");
  Run("insert into t values (1, 'x'), (2, 'it''s')");
  auto r = s_->ExecuteParams("select name from t where id = $1", {std::string("2")});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows[0][0].value_or(""), "it's");
  auto d = s_->Describe("select id, name from t where id = $1");
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->columns.size(), 2u);
  EXPECT_EQ(d->types[1], "VARCHAR");
  auto none = s_->Describe("insert into t values (3, 'z')");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->columns.empty());
  EXPECT_EQ(Scalar("select current_database()"), "dev");
  EXPECT_EQ(Scalar("select current_schema()"), "public");
  EXPECT_NE(Scalar("select version()").find("Redshift"), std::string::npos);
  EXPECT_EQ(Scalar("show search_path"), "$user, public");
  EXPECT_EQ(Scalar("select count(*) from information_schema.tables where table_name = 't'"), "1");
}

// The queries psql 15 sends for \d t, \dt, \dn and \l to a server that says it is 8.0.2
// (pg_catalog. before types already removed, as pgwire does).
TEST_F(WarehouseTest, PsqlDescribeQueriesAnswer) {
  Run("create table t (id integer not null, name varchar(20), amt numeric(10,2), day date, ts timestamp, ok boolean, "
      "big bigint, f double precision, c char(3))");
  std::string oid = Scalar(
      "SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = "
      "c.relnamespace WHERE c.relname ~ '^(t)$' AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 2, 3");
  ASSERT_NE(oid, "<none>");
  WarehouseResult r = Run(StrCat(
      "SELECT c.relchecks, c.relkind, c.relhasindex, c.relhasrules, c.relhastriggers, false, false, c.relhasoids, "
      "false as relispartition, '', c.reltablespace, CASE WHEN c.reloftype = 0 THEN '' ELSE "
      "c.reloftype::regtype::text END, c.relpersistence FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_class tc "
      "ON (c.reltoastrelid = tc.oid) WHERE c.oid = '", oid, "'"));
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][1].value_or(""), "r");
  r = Run(StrCat(
      "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), (SELECT pg_catalog.pg_get_expr(d.adbin, "
      "d.adrelid, true) FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND "
      "a.atthasdef), a.attnotnull, (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t WHERE "
      "c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation, "
      "''::char AS attidentity, ''::char AS attgenerated FROM pg_catalog.pg_attribute a WHERE a.attrelid = '",
      oid, "' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"));
  std::vector<std::string> types;
  for (const auto& row : r.rows) types.push_back(row[1].value_or(""));
  EXPECT_EQ(Join(types, ","),
            "integer,character varying(20),numeric(10,2),date,timestamp without time zone,boolean,bigint,"
            "double precision,character(3)");
  ASSERT_FALSE(r.rows.empty());
  EXPECT_EQ(r.rows[0][3].value_or(""), "t");  // not null
  EXPECT_EQ(r.rows[1][3].value_or(""), "f");
  r = Run(StrCat("SELECT c.oid::regclass FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i WHERE c.oid = "
                 "i.inhparent AND i.inhrelid = '", oid, "' ORDER BY inhseqno"));
  EXPECT_TRUE(r.rows.empty());
  EXPECT_EQ(Scalar("select 't'::regclass::bigint"), oid);
  // \dt: sluice's pg_internal tables stay hidden.
  r = Run("SELECT n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = "
          "c.relnamespace WHERE c.relkind IN ('r','p','') AND n.nspname <> 'pg_catalog' AND n.nspname !~ '^pg_toast' "
          "AND n.nspname <> 'information_schema' AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 1,2");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][1].value_or(""), "t");
  // \dn
  r = Run("SELECT n.nspname AS \"Name\", pg_catalog.pg_get_userbyid(n.nspowner) AS \"Owner\" FROM "
          "pg_catalog.pg_namespace n WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' ORDER BY 1");
  std::vector<std::string> schemas;
  for (const auto& row : r.rows) schemas.push_back(row[0].value_or(""));
  EXPECT_NE(std::find(schemas.begin(), schemas.end(), "public"), schemas.end());
  EXPECT_EQ(std::find(schemas.begin(), schemas.end(), "pg_internal"), schemas.end());
  // \l
  r = Run("SELECT d.datname as \"Name\", pg_catalog.pg_get_userbyid(d.datdba) as \"Owner\", "
          "pg_catalog.pg_encoding_to_char(d.encoding) as \"Encoding\", d.datcollate as \"Collate\", d.datctype as "
          "\"Ctype\", NULL as \"ICU Locale\", 'libc' AS \"Locale Provider\", pg_catalog.array_to_string(d.datacl, "
          "E'\\n') AS \"Access privileges\" FROM pg_catalog.pg_database d ORDER BY 1");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][0].value_or(""), "dev");
  EXPECT_EQ(r.rows[0][2].value_or(""), "UTF8");
}

TEST_F(WarehouseTest, DataSurvivesReopen) {
  Run("create table t (id int)");
  Run("insert into t values (7)");
  s_.reset();
  std::string dir = dir_;
  Open(dir);
  EXPECT_EQ(Scalar("select id from t"), "7");
}

TEST_F(WarehouseTest, CancelInterruptsALongQuery) {
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    s_->Cancel();
  });
  auto r = s_->Execute("select count(*) from range(10000000000) a");
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(SqlStateOf(r.status()), "57014");
  EXPECT_EQ(Scalar("select 1"), "1");
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

class LakeTest : public WarehouseTest {
 protected:
  void SetUp() override {
    WarehouseTest::SetUp();
    ASSERT_TRUE(store_->CreateBucket("bucket", "us-east-1").ok());
  }
  void Put(const std::string& key, const std::string& data) {
    auto f = store_->NewObjectFile();
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append(data).ok());
    ObjectMeta m;
    m.key = key;
    m.etag = "0";
    ASSERT_TRUE(store_->PutObject("bucket", m, std::move(*f)).ok());
  }
  std::vector<std::string> Keys(const std::string& prefix) {
    ListRequest req;
    req.prefix = prefix;
    std::vector<std::string> out;
    auto page = store_->List("bucket", req);
    if (page.ok()) {
      for (const auto& o : page->objects) out.push_back(o.key);
    }
    return out;
  }
};

TEST_F(LakeTest, SeedCopyCsvWithHeader) {
  Put("sales.csv", "id,region,amount\n1,eu,10.5\n2,us,3\n");
  Run("create table sales (id int, region varchar(10), amount decimal(10,2))");
  WarehouseResult r = Run("COPY sales FROM 's3://bucket/sales.csv' IAM_ROLE 'arn:aws:iam::123456789012:role/MyRedshiftRole' "
                          "CSV IGNOREHEADER 1;");
  EXPECT_EQ(r.command_tag, "COPY 2");
  EXPECT_EQ(Scalar("select sum(amount) from sales"), "13.50");
}

TEST_F(LakeTest, CopyRecordsLoadErrorsAndHonoursMaxError) {
  Put("in/a.csv", "1,a,2024-01-01\n2,b,notadate\nx,c,2024-01-03\n4,d,2024-01-04\n");
  Run("create table t (id int, name varchar, d date)");
  absl::Status st = Fail("copy t from 's3://bucket/in/' iam_role 'r' format as csv");
  EXPECT_NE(std::string(st.message()).find("stl_load_errors"), std::string::npos) << st;
  EXPECT_EQ(Scalar("select count(*) from t"), "0");
  WarehouseResult e = Run("select filename, line_number, colname, raw_field_value, err_code, err_reason from stl_load_errors "
                          "order by line_number");
  ASSERT_EQ(e.rows.size(), 2u);
  EXPECT_EQ(e.rows[0][0].value_or(""), "s3://bucket/in/a.csv");
  EXPECT_EQ(e.rows[0][1].value_or(""), "2");
  EXPECT_EQ(e.rows[0][2].value_or(""), "d");
  EXPECT_EQ(e.rows[0][3].value_or(""), "notadate");
  EXPECT_EQ(e.rows[0][4].value_or(""), "1205");
  EXPECT_EQ(e.rows[1][2].value_or(""), "id");
  WarehouseResult ok = Run("copy t from 's3://bucket/in/' iam_role 'r' csv maxerror 5");
  EXPECT_EQ(ok.command_tag, "COPY 2");
  EXPECT_EQ(Scalar("select count(*) from stl_load_errors"), "4");
}

TEST_F(LakeTest, CopyTextJsonGzipAndMissingPrefix) {
  Put("p/x.txt", "1|a\n2|\\N\n");
  Run("create table t (id int, v varchar)");
  EXPECT_EQ(Run("copy t from 's3://bucket/p/x.txt' iam_role 'r'").command_tag, "COPY 2");
  EXPECT_EQ(Scalar("select count(*) from t where v is null"), "1");
  Put("j/1.json", "{\"id\": 5, \"v\": \"five\"}\n{\"id\": 6, \"v\": \"six\"}\n");
  EXPECT_EQ(Run("copy t from 's3://bucket/j/' iam_role 'r' format as json 'auto'").command_tag, "COPY 2");
  Put("j/paths.json", "{\"jsonpaths\": [\"$.id\", \"$.v\"]}");
  Put("k/1.json", "{\"id\": 7, \"v\": \"seven\"}\n");
  EXPECT_EQ(Run("copy t from 's3://bucket/k/' iam_role 'r' json 's3://bucket/j/paths.json'").command_tag, "COPY 1");
  EXPECT_EQ(Scalar("select v from t where id = 7"), "seven");
  absl::Status st = Fail("copy t from 's3://bucket/nothing/' iam_role 'r' csv");
  EXPECT_NE(std::string(st.message()).find("does not exist"), std::string::npos);
  st = Fail("copy t from 's3://nobucket/x' iam_role 'r' csv");
  EXPECT_NE(std::string(st.message()).find("bucket does not exist"), std::string::npos);
  st = Fail("copy t from 's3://bucket/p/' iam_role 'r' bzip2");
  EXPECT_EQ(SqlStateOf(st), "0A000");
}

TEST_F(LakeTest, UnloadAndCopyBackParquet) {
  Run("create table src (id int, region varchar, amount double)");
  Run("insert into src values (1, 'eu', 1.5), (2, 'us', 2.5), (3, 'eu', 3)");
  WarehouseResult u = Run("unload ('select * from src where id > ''0''') to 's3://bucket/out/src_' iam_role 'r' "
                          "format as parquet");
  EXPECT_EQ(u.command_tag, "UNLOAD");
  EXPECT_EQ(u.rows_affected, 3);
  EXPECT_EQ(Keys("out/"), std::vector<std::string>{"out/src_0000_part_00.parquet"});
  absl::Status st = Fail("unload ('select 1') to 's3://bucket/out/src_' iam_role 'r' format parquet");
  EXPECT_NE(std::string(st.message()).find("ALLOWOVERWRITE"), std::string::npos);
  Run("unload ('select 1') to 's3://bucket/out/src_' iam_role 'r' format parquet allowoverwrite");
  Run("unload ('select * from src') to 's3://bucket/out/src_' iam_role 'r' format parquet allowoverwrite");
  Run("create table back (id int, region varchar, amount double)");
  EXPECT_EQ(Run("COPY public.back FROM 's3://bucket/out/' IAM_ROLE 'arn:aws:iam::123456789012:role/MyRedshiftRole' "
                "FORMAT AS PARQUET;")
                .command_tag,
            "COPY 3");
  Run("unload ('select * from src') to 's3://bucket/part/' iam_role 'r' parquet partition by (region) manifest");
  auto keys = Keys("part/");
  EXPECT_EQ(keys, (std::vector<std::string>{"part/manifest", "part/region=eu/0000_part_00.parquet",
                                            "part/region=us/0000_part_00.parquet"}));
  Run("unload ('select id, region from src order by id') to 's3://bucket/csv/x_' iam_role 'r' csv header parallel off");
  EXPECT_EQ(Keys("csv/"), std::vector<std::string>{"csv/x_000"});
  Run("create table c2 (id int, region varchar)");
  EXPECT_EQ(Run("copy c2 from 's3://bucket/csv/x_' iam_role 'r' csv ignoreheader 1").command_tag, "COPY 3");
  Run("unload ('select id, region from src') to 's3://bucket/gz/' iam_role 'r' delimiter '|' gzip");
  EXPECT_EQ(Keys("gz/"), std::vector<std::string>{"gz/0000_part_00.gz"});
  EXPECT_EQ(Run("copy c2 from 's3://bucket/gz/' iam_role 'r' delimiter '|' gzip").command_tag, "COPY 3");
}

TEST_F(LakeTest, StoredProcedures) {
  Put("stage/e.csv", "1,click\n2,view\n3,click\n");
  Run("create table staging_events (id int, kind varchar)");
  Run("create table events (id int, kind varchar, loaded_at timestamp)");
  Run(R"(CREATE OR REPLACE PROCEDURE sp_load_events()
AS $$
DECLARE
  n integer := 0;
  i int;
  rec record;
  total int = 0;
BEGIN
  COPY staging_events FROM 's3://bucket/stage/' IAM_ROLE 'arn:aws:iam::1:role/r' CSV;
  INSERT INTO events SELECT id, kind, getdate() FROM staging_events;
  SELECT count(*) INTO n FROM events;
  IF n > 2 THEN
    RAISE INFO 'loaded % events', n;
  ELSIF n = 0 THEN
    RAISE EXCEPTION 'nothing loaded';
  ELSE
    NULL;
  END IF;
  FOR i IN 1..3 LOOP
    total := total + i;
  END LOOP;
  FOR rec IN SELECT id FROM events ORDER BY id LOOP
    total := total + rec.id;
  END LOOP;
  WHILE total < 100 LOOP
    total := total * 2;
    EXIT WHEN total > 50;
  END LOOP;
  EXECUTE 'DELETE FROM staging_events WHERE id = ' || 2;
  RAISE NOTICE 'total %', total;
END;
$$ LANGUAGE plpgsql;)");
  WarehouseResult r = Run("CALL sp_load_events();");
  EXPECT_EQ(r.command_tag, "CALL");
  ASSERT_EQ(r.notices.size(), 2u);
  EXPECT_EQ(r.notices[0], "INFO:  loaded 3 events");
  EXPECT_EQ(r.notices[1], "NOTICE:  total 96");
  EXPECT_EQ(Scalar("select count(*) from events"), "3");
  EXPECT_EQ(Scalar("select count(*) from staging_events"), "2");
  Run("create procedure fail_if(x int) as $$ begin if x > 1 then raise exception 'too big: %', x; end if; "
      "insert into events values (x, 'p', null); end; $$ language plpgsql");
  absl::Status st = Fail("call fail_if(5)");
  EXPECT_EQ(SqlStateOf(st), "P0001");
  EXPECT_EQ(std::string(st.message()), "too big: 5");
  Run("call fail_if(1)");
  EXPECT_EQ(Scalar("select count(*) from events where kind = 'p'"), "1");
  EXPECT_EQ(SqlStateOf(Fail("create procedure fail_if(x int) as $$ begin null; end; $$ language plpgsql")), "42723");
  Run("drop procedure fail_if(int)");
  EXPECT_EQ(SqlStateOf(Fail("call fail_if(1)")), "42883");
  // Procedures survive a restart.
  s_.reset();
  Open(dir_);
  EXPECT_EQ(Run("call sp_load_events()").command_tag, "CALL");
}

TEST_F(LakeTest, SpectrumJoinsCatalogTables) {
  Run("create table src (id int, region varchar, amount double)");
  Run("insert into src values (1, 'eu', 1.5), (2, 'us', 2.5)");
  Run("unload ('select id, amount from src') to 's3://bucket/lake/sales/' iam_role 'r' parquet");
  ASSERT_TRUE(catalog_->CreateDatabase({{"Name", "gluedb"}}).ok());
  auto fmt = athena::FormatDescriptor("PARQUET", "");
  ASSERT_TRUE(fmt.ok());
  Json sd = *fmt;
  sd["Columns"] = Json::array({{{"Name", "id"}, {"Type", "int"}}, {{"Name", "amount"}, {"Type", "double"}}});
  sd["Location"] = "s3://bucket/lake/sales/";
  ASSERT_TRUE(catalog_->CreateTable("gluedb", {{"Name", "sales"}, {"StorageDescriptor", sd}, {"TableType", "EXTERNAL_TABLE"}}).ok());
  Run("create external schema spectrum from data catalog database 'gluedb' iam_role 'arn:aws:iam::1:role/r'");
  EXPECT_EQ(Scalar("select sum(s.amount) from spectrum.sales s join src on src.id = s.id where src.region = 'eu'"), "1.5");
  EXPECT_EQ(Scalar("select count(*) from svv_external_schemas where schemaname = 'spectrum'"), "1");
  EXPECT_EQ(Scalar("select tablename from svv_external_tables"), "sales");
  EXPECT_EQ(SqlStateOf(Fail("create external schema spectrum from data catalog database 'gluedb'")), "42P06");
  EXPECT_EQ(SqlStateOf(Fail("select * from spectrum.nope")), "42P01");
  Run("drop schema spectrum");
  EXPECT_EQ(SqlStateOf(Fail("select * from spectrum.sales")), "42P01");
}

}  // namespace
}  // namespace sluice
namespace sluice {
namespace {
TEST_F(WarehouseTest, ProcedureStatementsParseAndRun) {
  const char* bodies[] = {
      "DECLARE n integer := 0; BEGIN n := n + 1; END;",
      "DECLARE i int; t int = 0; BEGIN FOR i IN 1..3 LOOP t := t + i; END LOOP; END;",
      "DECLARE t int = 0; BEGIN WHILE t < 100 LOOP t := t * 2 + 1; EXIT WHEN t > 50; END LOOP; END;",
      "DECLARE n int; BEGIN SELECT 3 INTO n; IF n > 2 THEN RAISE INFO 'x % y', n; ELSIF n = 0 THEN RAISE EXCEPTION 'no'; ELSE NULL; END IF; END;",
      "DECLARE rec record; t int := 0; BEGIN FOR rec IN SELECT 1 AS id LOOP t := t + rec.id; END LOOP; END;",
      "BEGIN EXECUTE 'SELECT ' || 2; END;",
  };
  int k = 0;
  for (const char* b : bodies) {
    std::string name = "p" + std::to_string(k++);
    auto r = s_->Execute("create procedure " + name + "() as $$ " + b + " $$ language plpgsql");
    EXPECT_TRUE(r.ok()) << b << ": " << r.status();
    r = s_->Execute("call " + name + "()");
    EXPECT_TRUE(r.ok()) << b << ": " << r.status();
  }
}
}  // namespace
}  // namespace sluice
