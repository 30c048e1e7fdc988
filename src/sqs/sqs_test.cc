#include "sqs/sqs.h"

#include <filesystem>
#include <thread>

#include "gtest/gtest.h"
#include "sqs/message.h"
#include "sqs/queue.h"

namespace sluice {
namespace {

using Json = nlohmann::json;
constexpr char kEndpoint[] = "http://localhost:4566";

class SqsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sqs-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Reopen();
  }
  void TearDown() override {
    sqs_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    sqs_.reset();
    SqsOptions o;
    o.start_threads = false;
    auto s = Sqs::Open(dir_.string(), o);
    ASSERT_TRUE(s.ok()) << s.status();
    sqs_ = std::move(*s);
  }
  Json Call(const std::string& action, const Json& in) {
    auto out = sqs_->Call(action, in, kEndpoint);
    EXPECT_TRUE(out.ok()) << action << ": " << out.status();
    return out.ok() ? *out : Json();
  }
  std::string ErrorOf(const std::string& action, const Json& in) {
    auto out = sqs_->Call(action, in, kEndpoint);
    return out.ok() ? "ok" : SqsErrorCode(out.status());
  }
  std::string Create(const std::string& name, Json attrs = Json::object()) {
    return Call("CreateQueue", {{"QueueName", name}, {"Attributes", attrs}})["QueueUrl"];
  }

  std::filesystem::path dir_;
  std::unique_ptr<Sqs> sqs_;
};

TEST(MessageTest, Md5OfAttributesMatchesAwsAlgorithm) {
  // The digest botocore's documentation and the Java SDK compute for one String attribute.
  sqs::Attributes attrs;
  attrs["a"] = {"String", "b", ""};
  std::string buf = std::string("\0\0\0\1a", 5) + std::string("\0\0\0\6String", 10) + "\1" + std::string("\0\0\0\1b", 5);
  EXPECT_EQ(sqs::Md5OfAttributes(attrs), sqs::Md5Hex(buf));
  EXPECT_EQ(sqs::Md5OfAttributes({}), "");
}

TEST(MessageTest, RejectsBadAttributeNamesAndTypes) {
  EXPECT_FALSE(sqs::ValidateAttributes({{"AWS.x", {"String", "v", ""}}}).ok());
  EXPECT_FALSE(sqs::ValidateAttributes({{"a..b", {"String", "v", ""}}}).ok());
  EXPECT_FALSE(sqs::ValidateAttributes({{"a", {"Text", "v", ""}}}).ok());
  EXPECT_FALSE(sqs::ValidateAttributes({{"a", {"Number", "abc", ""}}}).ok());
  EXPECT_FALSE(sqs::ValidateAttributes({{"a", {"String", "", ""}}}).ok());
  EXPECT_TRUE(sqs::ValidateAttributes({{"a.b-c_d", {"Number.int", "-1.5e3", ""}}}).ok());
  EXPECT_FALSE(sqs::ValidMessageText(std::string("a\x01", 2)));
  EXPECT_TRUE(sqs::ValidMessageText("h\xc3\xa9llo\n"));
}

TEST(QueueTest, FifoGroupIsBlockedWhileAMessageIsInFlight) {
  sqs::Queue q(1, "q.fifo", true);
  for (int i = 1; i <= 4; ++i) {
    sqs::Message m;
    m.seq = i;
    m.group_id = i <= 2 ? "a" : "b";
    q.Add(m);
  }
  auto first = q.Available(0, 1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0]->seq, 1);
  first[0]->received = true;
  q.SetVisibleAt(*first[0], 1000);
  auto next = q.Available(0, 10);
  ASSERT_EQ(next.size(), 2u);  // group a waits for message 1
  EXPECT_EQ(next[0]->seq, 3);
  EXPECT_EQ(next[1]->seq, 4);
  EXPECT_EQ(q.NextVisibleAt(0), 1000);
}

TEST(QueueTest, PendingMessagesAreNotReceivable) {
  sqs::Queue q(1, "q", false);
  sqs::Message m;
  m.seq = 1;
  m.pending = true;
  q.Add(m);
  EXPECT_TRUE(q.Available(0, 10).empty());
  q.Commit(1);
  EXPECT_EQ(q.Available(0, 10).size(), 1u);
}

TEST_F(SqsTest, SendReceiveDelete) {
  std::string url = Create("orders");
  EXPECT_EQ(url, "http://localhost:4566/000000000000/orders");
  Json sent = Call("SendMessage", {{"QueueUrl", url}, {"MessageBody", "hello"}});
  EXPECT_EQ(sent["MD5OfMessageBody"], "5d41402abc4b2a76b9719d911017c592");
  Json got = Call("ReceiveMessage", {{"QueueUrl", url}, {"AttributeNames", {"All"}}});
  ASSERT_EQ(got["Messages"].size(), 1u);
  EXPECT_EQ(got["Messages"][0]["Body"], "hello");
  EXPECT_EQ(got["Messages"][0]["Attributes"]["ApproximateReceiveCount"], "1");
  EXPECT_FALSE(Call("ReceiveMessage", {{"QueueUrl", url}}).contains("Messages"));
  Call("DeleteMessage", {{"QueueUrl", url}, {"ReceiptHandle", got["Messages"][0]["ReceiptHandle"]}});
  Json attrs = Call("GetQueueAttributes", {{"QueueUrl", url}, {"AttributeNames", {"All"}}})["Attributes"];
  EXPECT_EQ(attrs["ApproximateNumberOfMessages"], "0");
  EXPECT_EQ(attrs["ApproximateNumberOfMessagesNotVisible"], "0");
  EXPECT_EQ(attrs["QueueArn"], "arn:aws:sqs:us-east-1:000000000000:orders");
}

TEST_F(SqsTest, MessagesSurviveReopen) {
  std::string url = Create("durable");
  Call("SendMessage", {{"QueueUrl", url}, {"MessageBody", "a"},
                       {"MessageAttributes", {{"k", {{"DataType", "String"}, {"StringValue", "v"}}}}}});
  Call("SendMessage", {{"QueueUrl", url}, {"MessageBody", "b"}});
  Json got = Call("ReceiveMessage", {{"QueueUrl", url}, {"VisibilityTimeout", 0}});
  Reopen();
  Json again = Call("ReceiveMessage", {{"QueueUrl", url}, {"MaxNumberOfMessages", 10}, {"AttributeNames", {"All"}},
                                       {"MessageAttributeNames", {"All"}}});
  ASSERT_EQ(again["Messages"].size(), 2u);
  Json a = again["Messages"][0]["Body"] == "a" ? again["Messages"][0] : again["Messages"][1];
  EXPECT_EQ(a["Body"], "a");
  EXPECT_EQ(a["Attributes"]["ApproximateReceiveCount"], "2");
  EXPECT_EQ(a["MessageAttributes"]["k"]["StringValue"], "v");
}

TEST_F(SqsTest, RedriveMovesToDeadLetterQueueAfterMaxReceiveCount) {
  std::string dlq = Create("dlq");
  std::string src = Create("src", {{"RedrivePolicy",
                                    R"({"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"2"})"}});
  Call("SendMessage", {{"QueueUrl", src}, {"MessageBody", "poison"}});
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(Call("ReceiveMessage", {{"QueueUrl", src}, {"VisibilityTimeout", 0}})["Messages"].size(), 1u);
  }
  EXPECT_FALSE(Call("ReceiveMessage", {{"QueueUrl", src}}).contains("Messages"));
  Json dead = Call("ReceiveMessage", {{"QueueUrl", dlq}, {"AttributeNames", {"All"}}});
  ASSERT_EQ(dead["Messages"].size(), 1u);
  EXPECT_EQ(dead["Messages"][0]["Body"], "poison");
  EXPECT_EQ(dead["Messages"][0]["Attributes"]["DeadLetterQueueSourceArn"], "arn:aws:sqs:us-east-1:000000000000:src");
  Json sources = Call("ListDeadLetterSourceQueues", {{"QueueUrl", dlq}});
  EXPECT_EQ(sources["queueUrls"], Json::array({src}));
  // Back to the source with a move task.
  Call("ChangeMessageVisibility", {{"QueueUrl", dlq}, {"ReceiptHandle", dead["Messages"][0]["ReceiptHandle"]},
                                   {"VisibilityTimeout", 0}});
  Call("StartMessageMoveTask", {{"SourceArn", "arn:aws:sqs:us-east-1:000000000000:dlq"}});
  sqs_->RunTimers(absl::Now());
  Json back = Call("ReceiveMessage", {{"QueueUrl", src}});
  ASSERT_EQ(back["Messages"].size(), 1u);
  EXPECT_EQ(back["Messages"][0]["Body"], "poison");
}

TEST_F(SqsTest, FifoDeduplicatesWithinTheWindow) {
  std::string url = Create("jobs.fifo", {{"FifoQueue", "true"}, {"ContentBasedDeduplication", "true"}});
  Json a = Call("SendMessage", {{"QueueUrl", url}, {"MessageBody", "x"}, {"MessageGroupId", "g"}});
  Json b = Call("SendMessage", {{"QueueUrl", url}, {"MessageBody", "x"}, {"MessageGroupId", "g"}});
  EXPECT_EQ(a["MessageId"], b["MessageId"]);
  Json got = Call("ReceiveMessage", {{"QueueUrl", url}, {"MaxNumberOfMessages", 10}});
  EXPECT_EQ(got["Messages"].size(), 1u);
  EXPECT_EQ(ErrorOf("SendMessage", {{"QueueUrl", url}, {"MessageBody", "y"}}), "MissingParameter");
}

TEST_F(SqsTest, LongPollReturnsWhenAMessageArrives) {
  std::string url = Create("poll");
  std::thread sender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    SqsSendRequest r;
    r.body = "late";
    ASSERT_TRUE(sqs_->Send("arn:aws:sqs:us-east-1:000000000000:poll", r).ok());
  });
  auto start = absl::Now();
  Json got = Call("ReceiveMessage", {{"QueueUrl", url}, {"WaitTimeSeconds", 10}});
  sender.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_EQ(got["Messages"].size(), 1u);
  EXPECT_EQ(got["Messages"][0]["Body"], "late");
}

TEST_F(SqsTest, ErrorsUseAwsShapes) {
  EXPECT_EQ(ErrorOf("GetQueueUrl", {{"QueueName", "missing"}}), "QueueDoesNotExist");
  EXPECT_EQ(ErrorOf("CreateQueue", {{"QueueName", "bad name"}}), "InvalidParameterValue");
  EXPECT_EQ(ErrorOf("CreateQueue", {{"QueueName", std::string(81, 'a')}}), "InvalidParameterValue");
  EXPECT_EQ(ErrorOf("CreateQueue", {{"QueueName", "q"}, {"Attributes", {{"VisibilityTimeout", "43201"}}}}),
            "InvalidAttributeValue");
  EXPECT_EQ(ErrorOf("CreateQueue", {{"QueueName", "q"}, {"Attributes", {{"Nope", "1"}}}}), "InvalidAttributeName");
  std::string url = Create("q");
  EXPECT_EQ(ErrorOf("CreateQueue", {{"QueueName", "q"}, {"Attributes", {{"VisibilityTimeout", "5"}}}}),
            "QueueNameExists");
  EXPECT_EQ(ErrorOf("SendMessage", {{"QueueUrl", url}, {"MessageBody", std::string(262145, 'x')}}),
            "InvalidParameterValue");
  EXPECT_EQ(ErrorOf("DeleteMessage", {{"QueueUrl", url}, {"ReceiptHandle", "garbage"}}), "ReceiptHandleIsInvalid");
  EXPECT_EQ(ErrorOf("ReceiveMessage", {{"QueueUrl", url}, {"MaxNumberOfMessages", 11}}), "InvalidParameterValue");
  Json eleven = Json::array();
  for (int i = 0; i < 11; ++i) eleven.push_back({{"Id", std::to_string(i)}, {"MessageBody", "x"}});
  EXPECT_EQ(ErrorOf("SendMessageBatch", {{"QueueUrl", url}, {"Entries", eleven}}), "TooManyEntriesInBatchRequest");
}

}  // namespace
}  // namespace sluice
