#include "events/events.h"
#include "events/scheduler.h"
#include "http/message.h"

#include <unistd.h>

#include "gtest/gtest.h"
#include "io/file.h"
#include "io/sqlite.h"

namespace sluice {
namespace {

class EventBridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sluice-events-XXXXXX";
    dir_ = mkdtemp(tmpl);
    Reopen();
  }
  void TearDown() override {
    eb_.reset();
    (void)system(("rm -rf " + dir_).c_str());
  }
  void Reopen() {
    eb_.reset();
    EventsOptions o;
    o.start_threads = false;  // the test drives schedules and deliveries with its own clock
    auto e = EventBridge::Open(dir_, o);
    ASSERT_TRUE(e.ok()) << e.status();
    eb_ = std::move(*e);
  }
  Json Call(const std::string& action, const Json& in) {
    auto out = eb_->Call(action, in);
    EXPECT_TRUE(out.ok()) << action << ": " << out.status();
    return out.ok() ? *out : Json();
  }
  int64_t Archived(const std::string& archive) {
    return Call("DescribeArchive", {{"ArchiveName", archive}}).value("EventCount", int64_t{-1});
  }
  // A bus whose archive counts what reaches it: the observable end of a rule's target.
  void Sink(const std::string& bus) {
    Call("CreateEventBus", {{"Name", bus}});
    Call("CreateArchive", {{"ArchiveName", bus + "-archive"}, {"EventSourceArn", bus}});
  }
  std::string BusArn(const std::string& bus) { return "arn:aws:events:us-east-1:000000000000:event-bus/" + bus; }

  std::string dir_;
  std::unique_ptr<EventBridge> eb_;
};

TEST_F(EventBridgeTest, RateScheduleFiresEachSlotOnceAndNotAgainAfterRestart) {
  Sink("sink");
  absl::Time t0 = absl::Now();
  Call("PutRule", {{"Name", "every-minute"}, {"ScheduleExpression", "rate(1 minute)"}});
  Call("PutTargets", {{"Rule", "every-minute"}, {"Targets", {{{"Id", "1"}, {"Arn", BusArn("sink")}}}}});
  eb_->RunDueSchedules(t0 + absl::Seconds(30));
  eb_->Drain(t0 + absl::Seconds(30));
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 0);  // the first slot is a minute after creation
  eb_->RunDueSchedules(t0 + absl::Seconds(61));
  eb_->RunDueSchedules(t0 + absl::Seconds(62));  // the same slot again: nothing new
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 1);
  Reopen();
  eb_->RunDueSchedules(t0 + absl::Seconds(63));  // after a restart the slot stays fired
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 1);
  eb_->RunDueSchedules(t0 + absl::Seconds(121));
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 2);
  // Ten minutes of downtime: one event for the latest slot, not ten.
  eb_->RunDueSchedules(t0 + absl::Seconds(725));
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 3);
}

TEST_F(EventBridgeTest, DisabledScheduleDoesNotFire) {
  Sink("sink");
  absl::Time t0 = absl::Now();
  Call("PutRule", {{"Name", "r"}, {"ScheduleExpression", "rate(5 minutes)"}, {"State", "DISABLED"}});
  Call("PutTargets", {{"Rule", "r"}, {"Targets", {{{"Id", "1"}, {"Arn", BusArn("sink")}}}}});
  eb_->RunDueSchedules(t0 + absl::Minutes(20));
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 0);
}

TEST_F(EventBridgeTest, MatchingEventsReachTheTargetBusOthersDoNot) {
  Sink("sink");
  Call("PutRule", {{"Name", "uploads"},
                   {"EventPattern", R"({"source":["my.app"],"detail":{"bucket":{"name":["lake"]}}})"}});
  Call("PutTargets", {{"Rule", "uploads"}, {"Targets", {{{"Id", "t"}, {"Arn", BusArn("sink")}}}}});
  Json out = Call("PutEvents", {{"Entries",
                                 {{{"Source", "my.app"}, {"DetailType", "x"}, {"Detail", R"({"bucket":{"name":"lake"}})"}},
                                  {{"Source", "my.app"}, {"DetailType", "x"}, {"Detail", R"({"bucket":{"name":"other"}})"}},
                                  {{"Source", "my.app"}, {"DetailType", "x"}, {"Detail", "not json"}}}}});
  EXPECT_EQ(out["FailedEntryCount"], 1);
  EXPECT_EQ(out["Entries"][2]["ErrorCode"], "MalformedDetail");
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 1);
}

TEST_F(EventBridgeTest, InputTransformerRendersTheTemplate) {
  Sink("sink");
  Call("PutRule", {{"Name", "r"}, {"EventPattern", R"({"source":["a"]})"}});
  Json target = {{"Id", "t"}, {"Arn", BusArn("sink")},
                 {"InputTransformer", {{"InputPathsMap", {{"who", "$.detail.user"}}},
                                       {"InputTemplate", R"({"source":"b","detail-type":"<who> did it","detail":{"u":<who>}})"}}}};
  Json put = Call("PutTargets", {{"Rule", "r"}, {"Targets", {target}}});
  EXPECT_EQ(put["FailedEntryCount"], 0);
  Call("PutEvents", {{"Entries", {{{"Source", "a"}, {"DetailType", "x"}, {"Detail", R"({"user":"kim"})"}}}}});
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 1);
}

TEST_F(EventBridgeTest, UnknownTargetServicesAreRefusedWithAReason) {
  Call("PutRule", {{"Name", "r"}, {"EventPattern", R"({"source":["a"]})"}});
  Json put = Call("PutTargets", {{"Rule", "r"}, {"Targets", {{{"Id", "t"}, {"Arn", "arn:aws:lambda:us-east-1:000000000000:function:f"}}}}});
  ASSERT_EQ(put["FailedEntryCount"], 1);
  EXPECT_NE(put["FailedEntries"][0]["ErrorMessage"].get<std::string>().find("lambda"), std::string::npos);
}

TEST_F(EventBridgeTest, RulesAndTargetsSurviveARestart) {
  Call("CreateEventBus", {{"Name", "orders"}});
  Call("PutRule", {{"Name", "r"}, {"EventBusName", "orders"}, {"EventPattern", R"({"source":["a"]})"}});
  Sink("sink");
  Call("PutTargets", {{"Rule", "r"}, {"EventBusName", "orders"}, {"Targets", {{{"Id", "t"}, {"Arn", BusArn("sink")}}}}});
  Reopen();
  Json rule = Call("DescribeRule", {{"Name", "r"}, {"EventBusName", "orders"}});
  EXPECT_EQ(rule["Arn"], "arn:aws:events:us-east-1:000000000000:rule/orders/r");
  Call("PutEvents", {{"Entries", {{{"Source", "a"}, {"DetailType", "x"}, {"Detail", "{}"}, {"EventBusName", "orders"}}}}});
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 1);
}

TEST_F(EventBridgeTest, AcknowledgedDeliveriesAreDeliveredAfterAReopen) {
  // Reopening without Drain() is a crash for the delivery queue: nothing ran after the
  // acknowledgement. What was acknowledged is delivered after the reopen.
  Sink("sink");
  Call("PutRule", {{"Name", "r"}, {"EventPattern", R"({"source":["a"]})"}});
  Call("PutTargets", {{"Rule", "r"}, {"Targets", {{{"Id", "t"}, {"Arn", BusArn("sink")}}}}});
  Call("CreateArchive", {{"ArchiveName", "all"}, {"EventSourceArn", BusArn("default")}});
  Json out = Call("PutEvents", {{"Entries", {{{"Source", "a"}, {"DetailType", "x"}, {"Detail", "{}"}},
                                             {{"Source", "a"}, {"DetailType", "y"}, {"Detail", "{}"}}}}});
  ASSERT_EQ(out["FailedEntryCount"], 0);
  EXPECT_EQ(Archived("all"), 2);  // archived before PutEvents answers
  Call("PutRule", {{"Name", "tick"}, {"ScheduleExpression", "rate(1 minute)"}});
  Call("PutTargets", {{"Rule", "tick"}, {"Targets", {{{"Id", "t"}, {"Arn", BusArn("sink")}}}}});
  eb_->RunDueSchedules(absl::Now() + absl::Seconds(61));
  Reopen();
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 3);
  Reopen();  // delivered work is not delivered again
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 3);
}

TEST_F(EventBridgeTest, ATargetThatThrowsFailsAloneAndIsNotRetried) {
  int calls = 0;
  eb_->RegisterInvoker("sqs", [&](const Json&, const std::string&) -> absl::Status {
    ++calls;
    throw std::runtime_error("boom");
  });
  Sink("sink");
  Call("PutRule", {{"Name", "r"}, {"EventPattern", R"({"source":["a"]})"}});
  Call("PutTargets", {{"Rule", "r"},
                      {"Targets", {{{"Id", "q"}, {"Arn", "arn:aws:sqs:us-east-1:000000000000:q"}},
                                   {{"Id", "t"}, {"Arn", BusArn("sink")}}}}});
  Call("PutEvents", {{"Entries", {{{"Source", "a"}, {"DetailType", "x"}, {"Detail", "{}"}}}}});
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(Archived("sink-archive"), 1);
  Reopen();  // and it is not resumed after a restart either
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 1);
}

TEST_F(EventBridgeTest, AnOutboxRowThatCannotBeResumedIsDroppedNotACrash) {
  Sink("sink");
  Call("PutRule", {{"Name", "r"}, {"EventPattern", R"({"source":["a"]})"}});
  Call("PutTargets", {{"Rule", "r"}, {"Targets", {{{"Id", "t"}, {"Arn", BusArn("sink")}}}}});
  Call("PutEvents", {{"Entries", {{{"Source", "a"}, {"DetailType", "x"}, {"Detail", "{}"}}}}});
  eb_.reset();
  {
    auto db = SqliteDb::Open(dir_ + "/events.db");
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Exec("INSERT INTO outbox(id, due_ms, item) VALUES(1000, 0, 'not json'),"
                            " (1001, 0, '{\"event\": 5, \"target\": []}'),"
                            " (1002, 0, '{\"event\": \"[\", \"target\": {}}'),"
                            " (1003, 0, '{\"event\": \"{}\", \"target\": {}, \"first_ms\": \"x\"}');"
                            "INSERT INTO documents(kind, name, doc) VALUES('rule', 'default/bad',"
                            " '{\"Name\": 5, \"EventBusName\": []}');")
                    .ok());
  }
  Reopen();
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 1);
  Reopen();
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 1);
}

TEST_F(EventBridgeTest, SchedulerAtFiresOnceThenDeletesItself) {
  Sink("sink");
  EventsOptions o;
  o.start_threads = false;
  auto scheduler = Scheduler::Open(dir_, *eb_, o);
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  absl::Time t0 = absl::Now();
  std::string at = absl::FormatTime("at(%Y-%m-%dT%H:%M:%S)", t0 + absl::Seconds(90), absl::UTCTimeZone());
  Json target = {{"Arn", BusArn("sink")}, {"RoleArn", "r"}, {"Input", R"({"k":1})"},
                 {"EventBridgeParameters", {{"DetailType", "tick"}, {"Source", "my.app"}}}};
  HttpRequest req;
  req.method = "POST";
  auto made = (*scheduler)->Call("POST", "/schedules/once", req,
                                 {{"ScheduleExpression", at}, {"FlexibleTimeWindow", {{"Mode", "OFF"}}},
                                  {"Target", target}, {"ActionAfterCompletion", "DELETE"}});
  ASSERT_TRUE(made.ok()) << made.status();
  (*scheduler)->RunDue(t0 + absl::Seconds(60));
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 0);
  (*scheduler)->RunDue(t0 + absl::Seconds(91));
  (*scheduler)->RunDue(t0 + absl::Seconds(92));
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 1);
  req.method = "GET";
  EXPECT_TRUE(absl::IsNotFound((*scheduler)->Call("GET", "/schedules/once", req, Json::object()).status()));
}

TEST_F(EventBridgeTest, SchedulerRefusesMembersOfTheWrongTypeWithoutThrowing) {
  EventsOptions o;
  o.start_threads = false;
  auto scheduler = Scheduler::Open(dir_, *eb_, o);
  ASSERT_TRUE(scheduler.ok());
  HttpRequest req;
  Json target = {{"Arn", BusArn("default")}, {"RoleArn", "r"}, {"EventBridgeParameters", {{"DetailType", "t"}, {"Source", "s"}}}};
  auto out = (*scheduler)->Call("POST", "/schedules/bad", req,
                                {{"ScheduleExpression", "rate(1 minute)"}, {"FlexibleTimeWindow", {{"Mode", "OFF"}}},
                                 {"Target", target}, {"StartDate", "soon"}, {"EndDate", 1}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(EventsErrorCode(out.status()), "ValidationException");
}

TEST_F(EventBridgeTest, SchedulerRateSlotsSurviveARestart) {
  Sink("sink");
  EventsOptions o;
  o.start_threads = false;
  absl::Time t0 = absl::Now();
  Json target = {{"Arn", BusArn("sink")}, {"RoleArn", "r"}, {"EventBridgeParameters", {{"DetailType", "tick"}, {"Source", "my.app"}}}};
  HttpRequest req;
  {
    auto scheduler = Scheduler::Open(dir_, *eb_, o);
    ASSERT_TRUE(scheduler.ok());
    ASSERT_TRUE((*scheduler)->Call("POST", "/schedules/every5", req,
                                   {{"ScheduleExpression", "rate(5 minutes)"}, {"FlexibleTimeWindow", {{"Mode", "OFF"}}},
                                    {"Target", target}})
                    .ok());
    (*scheduler)->RunDue(t0 + absl::Minutes(5) + absl::Seconds(1));
  }
  auto again = Scheduler::Open(dir_, *eb_, o);
  ASSERT_TRUE(again.ok());
  (*again)->RunDue(t0 + absl::Minutes(5) + absl::Seconds(2));  // the same slot: not again
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 1);
  (*again)->RunDue(t0 + absl::Minutes(10) + absl::Seconds(1));
  eb_->Drain(absl::InfiniteFuture());
  EXPECT_EQ(Archived("sink-archive"), 2);
}

}  // namespace
}  // namespace sluice
