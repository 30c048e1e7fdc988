#include "redshift/data_api.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "base/strings.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

using Json = nlohmann::json;

// A warehouse whose sessions understand a few made-up statements:
//   ROWS n       n rows of (INTEGER, VARCHAR, DOUBLE, BOOLEAN, DECIMAL(10,2), VARCHAR NULL)
//   FAIL         fails with 42P01
//   SLEEP        blocks until cancelled (57014)
//   INSERT ...   1 row affected
// and records every text it ran (BEGIN/COMMIT/ROLLBACK included).
class FakeWarehouse;

class FakeSession : public WarehouseSession {
 public:
  FakeSession(FakeWarehouse& wh, std::string db, std::string user) : wh_(wh), db_(std::move(db)), user_(std::move(user)) {}
  absl::StatusOr<std::vector<WarehouseResult>> Execute(const std::string& sql) override;
  absl::StatusOr<WarehouseResult> ExecuteParams(const std::string& sql,
                                                const std::vector<std::optional<std::string>>& params) override {
    std::string text = sql;
    for (const auto& p : params) text += StrCat(" [", p.value_or("NULL"), "]");
    auto r = Execute(text);
    if (!r.ok()) return r.status();
    return r->empty() ? WarehouseResult{} : r->back();
  }
  absl::StatusOr<WarehouseResult> Describe(const std::string&) override { return WarehouseResult{}; }
  void Cancel() override { cancelled_ = true; }
  char TransactionStatus() const override { return in_tx_ ? 'T' : 'I'; }
  const std::string& database() const override { return db_; }
  const std::string& user() const override { return user_; }

 private:
  FakeWarehouse& wh_;
  std::string db_, user_;
  std::atomic<bool> cancelled_{false};
  bool in_tx_ = false;
};

class FakeWarehouse : public Warehouse {
 public:
  absl::StatusOr<std::unique_ptr<WarehouseSession>> Connect(const std::string& database,
                                                            const std::string& user) override {
    if (database != "dev") return WarehouseError("3D000", StrCat("database \"", database, "\" does not exist"));
    return std::make_unique<FakeSession>(*this, database, user);
  }
  std::vector<std::string> Databases() override { return {"dev"}; }
  void Stop() override {}

  void Log(const std::string& s) {
    std::lock_guard lock(mu);
    log.push_back(s);
  }
  std::vector<std::string> Log() {
    std::lock_guard lock(mu);
    return log;
  }
  std::mutex mu;
  std::vector<std::string> log;
};

absl::StatusOr<std::vector<WarehouseResult>> FakeSession::Execute(const std::string& sql) {
  wh_.Log(sql);
  WarehouseResult r;
  if (sql == "BEGIN") in_tx_ = true;
  if (sql == "COMMIT" || sql == "ROLLBACK") in_tx_ = false;
  if (sql.starts_with("FAIL")) return WarehouseError("42P01", "relation \"nope\" does not exist");
  if (sql.starts_with("SLEEP")) {
    while (!cancelled_) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return WarehouseError("57014", "Query cancelled on user's request");
  }
  if (sql.starts_with("ROWS ")) {
    int n = std::stoi(sql.substr(5));
    r.has_result_set = true;
    r.columns = {"id", "name", "score", "ok", "amount", "missing"};
    r.types = {"INTEGER", "VARCHAR", "DOUBLE", "BOOLEAN", "DECIMAL(10,2)", "VARCHAR"};
    for (int i = 0; i < n; ++i) {
      r.rows.push_back({std::to_string(i), StrCat("v", i), "1.5", i % 2 ? "t" : "f", "12.30", std::nullopt});
    }
    r.rows_affected = n;
  }
  if (sql.starts_with("INSERT")) r.rows_affected = 1;
  return std::vector<WarehouseResult>{r};
}

class DataApiTest : public ::testing::Test {
 protected:
  DataApiTest() {
    RedshiftDataOptions o;
    o.threads = 2;
    o.page_rows = 10;
    service_ = std::make_unique<RedshiftDataService>(wh_, o);
  }

  Json Call(const std::string& action, const Json& in, std::string* error = nullptr) {
    JsonReply r = service_->Handle(action, in);
    if (r.error) {
      if (error) *error = r.error->code;
      return Json{{"__type", r.error->code}, {"message", r.error->message}};
    }
    if (error) *error = "";
    return r.body;
  }

  Json WaitDone(const std::string& id) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      Json d = Call("DescribeStatement", {{"Id", id}});
      std::string s = d.value("Status", "");
      if (s == "FINISHED" || s == "FAILED" || s == "ABORTED") return d;
      if (std::chrono::steady_clock::now() > deadline) return d;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  FakeWarehouse wh_;
  std::unique_ptr<RedshiftDataService> service_;
};

TEST(BindNamedParametersTest, RewritesNamesOutsideQuotesCommentsAndCasts) {
  auto r = redshift::BindNamedParameters(
      "SELECT ':a', \":a\", x::int, $$:a$$ -- :a\n FROM t WHERE a = :a AND b = :b OR c = :a /* :b */",
      {{"a", "1"}, {"b", "two"}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->first, "SELECT ':a', \":a\", x::int, $$:a$$ -- :a\n FROM t WHERE a = $1 AND b = $2 OR c = $1 /* :b */");
  ASSERT_EQ(r->second.size(), 2u);
  EXPECT_EQ(*r->second[0], "1");
  EXPECT_EQ(*r->second[1], "two");
}

TEST(BindNamedParametersTest, MissingParameterIsAnError) {
  EXPECT_FALSE(redshift::BindNamedParameters("SELECT :nope", {}).ok());
  auto r = redshift::BindNamedParameters("SELECT E'it\\'s :x'", {});
  ASSERT_TRUE(r.ok()) << r.status();
}

TEST(LikeMatchTest, PercentAndUnderscore) {
  EXPECT_TRUE(redshift::LikeMatch("%", ""));
  EXPECT_TRUE(redshift::LikeMatch("pub%", "public"));
  EXPECT_TRUE(redshift::LikeMatch("p_blic", "public"));
  EXPECT_TRUE(redshift::LikeMatch("%li%", "public"));
  EXPECT_FALSE(redshift::LikeMatch("pub", "public"));
  EXPECT_FALSE(redshift::LikeMatch("%x%", "public"));
  EXPECT_TRUE(redshift::LikeMatch("a\\_b", "a_b"));
  EXPECT_FALSE(redshift::LikeMatch("a\\_b", "axb"));
}

TEST(TypesTest, FieldsFollowColumnTypes) {
  EXPECT_EQ(redshift::RedshiftField("INTEGER", "42"), (Json{{"longValue", 42}}));
  EXPECT_EQ(redshift::RedshiftField("BIGINT", std::nullopt), (Json{{"isNull", true}}));
  EXPECT_EQ(redshift::RedshiftField("DOUBLE", "2.5"), (Json{{"doubleValue", 2.5}}));
  EXPECT_EQ(redshift::RedshiftField("BOOLEAN", "t"), (Json{{"booleanValue", true}}));
  EXPECT_EQ(redshift::RedshiftField("DECIMAL(18,2)", "1.20"), (Json{{"stringValue", "1.20"}}));
  EXPECT_EQ(redshift::RedshiftField("BLOB", "\\x4142"), (Json{{"blobValue", "QUI="}}));
  EXPECT_EQ(redshift::RedshiftTypeName("DECIMAL(18,2)"), "numeric");
  EXPECT_EQ(redshift::RedshiftTypeName("TIMESTAMP WITH TIME ZONE"), "timestamptz");
  Json m = redshift::RedshiftColumnMetadata("amount", "DECIMAL(18,2)");
  EXPECT_EQ(m["precision"], 18);
  EXPECT_EQ(m["scale"], 2);
  EXPECT_EQ(m["typeName"], "numeric");
}

TEST_F(DataApiTest, ExecuteThenReadTypedPages) {
  Json out = Call("ExecuteStatement", {{"Sql", "ROWS 25"}, {"Database", "dev"}, {"WorkgroupName", "wg1"}});
  ASSERT_TRUE(out.contains("Id")) << out;
  EXPECT_EQ(out["WorkgroupName"], "wg1");
  Json d = WaitDone(out["Id"]);
  ASSERT_EQ(d["Status"], "FINISHED") << d;
  EXPECT_EQ(d["ResultRows"], 25);
  EXPECT_TRUE(d["HasResultSet"].get<bool>());
  EXPECT_GE(d["Duration"].get<int64_t>(), 0);
  std::vector<Json> rows;
  Json page = Call("GetStatementResult", {{"Id", out["Id"]}});
  for (int pages = 1;; ++pages) {
    ASSERT_TRUE(page.contains("Records")) << page;
    EXPECT_EQ(page["TotalNumRows"], 25);
    for (auto& r : page["Records"]) rows.push_back(r);
    if (!page.contains("NextToken")) {
      EXPECT_EQ(pages, 3);
      break;
    }
    page = Call("GetStatementResult", {{"Id", out["Id"]}, {"NextToken", page["NextToken"]}});
  }
  ASSERT_EQ(rows.size(), 25u);
  EXPECT_EQ(rows[3][0], (Json{{"longValue", 3}}));
  EXPECT_EQ(rows[3][1], (Json{{"stringValue", "v3"}}));
  EXPECT_EQ(rows[3][2], (Json{{"doubleValue", 1.5}}));
  EXPECT_EQ(rows[3][3], (Json{{"booleanValue", true}}));
  EXPECT_EQ(rows[3][4], (Json{{"stringValue", "12.30"}}));
  EXPECT_EQ(rows[3][5], (Json{{"isNull", true}}));
  EXPECT_EQ(page["ColumnMetadata"][0]["typeName"], "int4");
}

TEST_F(DataApiTest, MissingDatabaseDefaultsToDev) {
  Json out = Call("ExecuteStatement", {{"Sql", "CALL sp_load_events();"}});
  ASSERT_TRUE(out.contains("Id")) << out;
  EXPECT_EQ(out["Database"], "dev");
  EXPECT_EQ(WaitDone(out["Id"])["Status"], "FINISHED");
}

TEST_F(DataApiTest, ParametersAreBoundPositionally) {
  Json out = Call("ExecuteStatement", {{"Sql", "INSERT INTO t VALUES (:id, :name)"},
                                       {"Parameters", {{{"name", "id"}, {"value", "7"}}, {{"name", "name"}, {"value", "x"}}}}});
  ASSERT_TRUE(out.contains("Id")) << out;
  Json d = WaitDone(out["Id"]);
  EXPECT_EQ(d["Status"], "FINISHED");
  EXPECT_EQ(d["ResultRows"], 1);
  auto log = wh_.Log();
  EXPECT_NE(std::find(log.begin(), log.end(), "INSERT INTO t VALUES ($1, $2) [7] [x]"), log.end());
  std::string error;
  Call("ExecuteStatement", {{"Sql", "SELECT :nope"}, {"Parameters", {{{"name", "id"}, {"value", "7"}}}}}, &error);
  EXPECT_EQ(error, "ValidationException");
}

TEST_F(DataApiTest, FailedStatementCarriesTheWarehouseError) {
  Json out = Call("ExecuteStatement", {{"Sql", "FAIL"}, {"Database", "dev"}});
  Json d = WaitDone(out["Id"]);
  EXPECT_EQ(d["Status"], "FAILED");
  EXPECT_EQ(d["Error"], "ERROR: relation \"nope\" does not exist");
  std::string error;
  Call("GetStatementResult", {{"Id", out["Id"]}}, &error);
  EXPECT_EQ(error, "ResourceNotFoundException");
  Json bad = Call("ExecuteStatement", {{"Sql", "ROWS 1"}, {"Database", "nodb"}});
  d = WaitDone(bad["Id"]);
  EXPECT_EQ(d["Status"], "FAILED");
  EXPECT_NE(d["Error"].get<std::string>().find("does not exist"), std::string::npos);
}

TEST_F(DataApiTest, BatchRollsBackOnFailure) {
  Json out = Call("BatchExecuteStatement", {{"Sqls", {"INSERT 1", "FAIL", "INSERT 2"}}, {"Database", "dev"}});
  Json d = WaitDone(out["Id"]);
  EXPECT_EQ(d["Status"], "FAILED");
  ASSERT_EQ(d["SubStatements"].size(), 3u);
  EXPECT_EQ(d["SubStatements"][0]["Status"], "FINISHED");
  EXPECT_EQ(d["SubStatements"][1]["Status"], "FAILED");
  EXPECT_EQ(d["SubStatements"][2]["Status"], "ABORTED");
  EXPECT_EQ(d["SubStatements"][1]["Id"], StrCat(out["Id"].get<std::string>(), ":2"));
  auto log = wh_.Log();
  EXPECT_NE(std::find(log.begin(), log.end(), "ROLLBACK"), log.end());
  EXPECT_EQ(std::find(log.begin(), log.end(), "INSERT 2"), log.end());

  Json ok = Call("BatchExecuteStatement", {{"Sqls", {"INSERT 1", "ROWS 2"}}});
  d = WaitDone(ok["Id"]);
  EXPECT_EQ(d["Status"], "FINISHED");
  Json page = Call("GetStatementResult", {{"Id", StrCat(ok["Id"].get<std::string>(), ":2")}});
  EXPECT_EQ(page["TotalNumRows"], 2) << page;
  Json sub = Call("DescribeStatement", {{"Id", StrCat(ok["Id"].get<std::string>(), ":1")}});
  EXPECT_EQ(sub["QueryString"], "INSERT 1");
}

TEST_F(DataApiTest, CancelRunningStatement) {
  Json out = Call("ExecuteStatement", {{"Sql", "SLEEP"}, {"Database", "dev"}});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (Call("DescribeStatement", {{"Id", out["Id"]}})["Status"] != "STARTED" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  Json c = Call("CancelStatement", {{"Id", out["Id"]}});
  EXPECT_EQ(c["Status"], true) << c;
  Json d = WaitDone(out["Id"]);
  EXPECT_EQ(d["Status"], "ABORTED");
  std::string error;
  Call("CancelStatement", {{"Id", out["Id"]}}, &error);
  EXPECT_EQ(error, "ValidationException");
}

TEST_F(DataApiTest, ValidationAndNotFound) {
  std::string error;
  Call("ExecuteStatement", {{"Database", "dev"}}, &error);
  EXPECT_EQ(error, "ValidationException");
  Call("ExecuteStatement", {{"Sql", "ROWS 1"}, {"ClusterIdentifier", "c1"}, {"WorkgroupName", "wg1"}}, &error);
  EXPECT_EQ(error, "ValidationException");
  Call("ExecuteStatement", {{"Sql", "ROWS 1"}, {"ClusterIdentifier", "Bad_Cluster"}}, &error);
  EXPECT_EQ(error, "ValidationException");
  Call("BatchExecuteStatement", {{"Sqls", Json::array()}}, &error);
  EXPECT_EQ(error, "ValidationException");
  Json nf = Call("DescribeStatement", {{"Id", "01234567-89ab-cdef-0123-456789abcdef"}}, &error);
  EXPECT_EQ(error, "ResourceNotFoundException");
  EXPECT_EQ(nf["message"], "Query does not exist.");
  Call("DescribeStatement", {{"Id", "not-a-uuid"}}, &error);
  EXPECT_EQ(error, "ValidationException");
  Call("ListStatements", {{"Status", "DONE"}}, &error);
  EXPECT_EQ(error, "ValidationException");
  Call("ListSchemas", Json::object(), &error);
  EXPECT_EQ(error, "ValidationException");
}

TEST_F(DataApiTest, ClientTokenIsIdempotent) {
  Json a = Call("ExecuteStatement", {{"Sql", "ROWS 1"}, {"ClientToken", "tok-1"}});
  Json b = Call("ExecuteStatement", {{"Sql", "ROWS 1"}, {"ClientToken", "tok-1"}});
  EXPECT_EQ(a["Id"], b["Id"]);
}

TEST_F(DataApiTest, ListStatementsFiltersAndPages) {
  for (int i = 0; i < 5; ++i) {
    Json out = Call("ExecuteStatement", {{"Sql", "ROWS 1"}, {"StatementName", StrCat("job-", i)}});
    WaitDone(out["Id"]);
  }
  Call("ExecuteStatement", {{"Sql", "ROWS 1"}, {"StatementName", "other"}});
  Json page = Call("ListStatements", {{"StatementName", "job-"}, {"MaxResults", 3}});
  ASSERT_EQ(page["Statements"].size(), 3u) << page;
  EXPECT_EQ(page["Statements"][0]["StatementName"], "job-4");  // newest first
  ASSERT_TRUE(page.contains("NextToken"));
  Json rest = Call("ListStatements", {{"StatementName", "job-"}, {"MaxResults", 3}, {"NextToken", page["NextToken"]}});
  EXPECT_EQ(rest["Statements"].size(), 2u);
  EXPECT_FALSE(rest.contains("NextToken"));
  Json finished = Call("ListStatements", {{"Status", "FINISHED"}, {"StatementName", "job-"}});
  EXPECT_EQ(finished["Statements"].size(), 5u);
}

TEST_F(DataApiTest, KeptSessionRunsLaterStatements) {
  Json a = Call("ExecuteStatement", {{"Sql", "ROWS 1"}, {"SessionKeepAliveSeconds", 60}});
  ASSERT_TRUE(a.contains("SessionId")) << a;
  WaitDone(a["Id"]);
  Json b = Call("ExecuteStatement", {{"Sql", "ROWS 2"}, {"SessionId", a["SessionId"]}});
  ASSERT_TRUE(b.contains("Id")) << b;
  EXPECT_EQ(WaitDone(b["Id"])["Status"], "FINISHED");
  std::string error;
  Call("ExecuteStatement", {{"Sql", "ROWS 2"}, {"SessionId", "01234567-89ab-cdef-0123-456789abcdef"}}, &error);
  EXPECT_EQ(error, "ValidationException");
}

TEST_F(DataApiTest, ActiveStatementQuota) {
  RedshiftDataOptions o;
  o.threads = 1;
  o.max_active = 2;
  RedshiftDataService small(wh_, o);
  auto a = small.Handle("ExecuteStatement", {{"Sql", "SLEEP"}});
  auto b = small.Handle("ExecuteStatement", {{"Sql", "SLEEP"}});
  auto c = small.Handle("ExecuteStatement", {{"Sql", "SLEEP"}});
  ASSERT_FALSE(a.error);
  ASSERT_FALSE(b.error);
  ASSERT_TRUE(c.error);
  EXPECT_EQ(c.error->code, "ActiveStatementsExceededException");
  small.Stop();
}

TEST_F(DataApiTest, WithEventPublishesTheFinalState) {
  std::mutex mu;
  std::vector<Json> events;
  RedshiftDataOptions o;
  o.publish_event = [&](Json e) {
    std::lock_guard lock(mu);
    events.push_back(std::move(e));
  };
  RedshiftDataService with_events(wh_, o);
  auto out = with_events.Handle("ExecuteStatement", {{"Sql", "ROWS 3"}, {"WithEvent", true}, {"StatementName", "n1"}});
  ASSERT_FALSE(out.error);
  with_events.Handle("ExecuteStatement", {{"Sql", "ROWS 1"}});  // no event
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    {
      std::lock_guard lock(mu);
      if (!events.empty() || std::chrono::steady_clock::now() > deadline) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  with_events.Stop();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["source"], "aws.redshift-data");
  EXPECT_EQ(events[0]["detail"]["state"], "FINISHED");
  EXPECT_EQ(events[0]["detail"]["statementId"], out.body["Id"]);
  EXPECT_EQ(events[0]["detail"]["statementName"], "n1");
  EXPECT_EQ(events[0]["detail"]["rows"], 3);
}

TEST_F(DataApiTest, CsvResultFormat) {
  Json out = Call("ExecuteStatement", {{"Sql", "ROWS 2"}, {"ResultFormat", "CSV"}});
  WaitDone(out["Id"]);
  std::string error;
  Call("GetStatementResult", {{"Id", out["Id"]}}, &error);
  EXPECT_EQ(error, "ValidationException");
  Json v2 = Call("GetStatementResultV2", {{"Id", out["Id"]}});
  ASSERT_TRUE(v2.contains("Records")) << v2;
  EXPECT_EQ(v2["Records"][0]["CSVRecords"], "id,name,score,ok,amount,missing\n0,v0,1.5,f,12.30,\n1,v1,1.5,t,12.30,\n");
}

}  // namespace
}  // namespace sluice
