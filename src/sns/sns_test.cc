#include "sns/sns.h"

#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "base/ids.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sns/engine.h"

namespace sluice {
namespace {

// Records what SNS sends to SQS; fails the first `fail` sends with `failure`.
struct FakeSqs {
  std::mutex mu;
  std::vector<std::pair<std::string, SqsDelivery>> sent;
  int fail = 0;
  absl::Status failure = absl::UnavailableError("busy");

  SqsSender Sender() {
    return [this](const std::string& arn, const SqsDelivery& d) {
      std::lock_guard lock(mu);
      if (fail > 0 && arn.find("dlq") == std::string::npos) {
        --fail;
        return failure;
      }
      if (arn.find("missing") != std::string::npos) return absl::NotFoundError("no such queue");
      sent.emplace_back(arn, d);
      return absl::OkStatus();
    };
  }
  std::vector<std::pair<std::string, SqsDelivery>> WaitFor(size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mu);
        if (sent.size() >= n) return sent;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::lock_guard lock(mu);
    return sent;
  }
};

class SnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() / ("sns-test-" + RandomHex(8))).string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<Sns> Open(bool threads = true) {
    SnsOptions o;
    o.sqs_sender = sqs_.Sender();
    o.retry_delay_scale = 0.001;
    o.start_threads = threads;
    auto sns = Sns::Open(dir_, o);
    EXPECT_TRUE(sns.ok()) << sns.status();
    return std::move(*sns);
  }
  std::string dir_;
  FakeSqs sqs_;
};

constexpr char kQueue[] = "arn:aws:sqs:us-east-1:000000000000:q";

TEST_F(SnsTest, SqsGetsTheEnvelopeOrTheRawMessageWithAttributes) {
  auto sns = Open();
  auto topic = sns->impl().CreateTopic("t", {}, {});
  ASSERT_TRUE(topic.ok());
  auto sub = sns->impl().Subscribe(*topic, "sqs", kQueue, {}, false);
  ASSERT_TRUE(sub.ok()) << sub.status();
  SnsPublishRequest req;
  req.message = "hello";
  req.subject = "s";
  req.message_attributes["a"] = {"String", "1", ""};
  auto r = sns->Publish(*topic, req);
  ASSERT_TRUE(r.ok()) << r.status();
  auto sent = sqs_.WaitFor(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].first, kQueue);
  auto doc = nlohmann::json::parse(sent[0].second.body);
  EXPECT_EQ(doc["Type"], "Notification");
  EXPECT_EQ(doc["MessageId"], r->message_id);
  EXPECT_EQ(doc["Message"], "hello");
  EXPECT_EQ(doc["MessageAttributes"]["a"]["Value"], "1");
  EXPECT_TRUE(sent[0].second.message_attributes.empty());

  ASSERT_TRUE(sns->impl().SetSubscriptionAttribute(*sub, "RawMessageDelivery", "true").ok());
  ASSERT_TRUE(sns->Publish(*topic, req).ok());
  sent = sqs_.WaitFor(2);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].second.body, "hello");
  EXPECT_EQ(sent[1].second.message_attributes.at("a").string_value, "1");
}

TEST_F(SnsTest, FifoTopicsPassGroupAndDeduplicationIdsInOrder) {
  auto sns = Open();
  auto topic = sns->impl().CreateTopic("t.fifo", {{"FifoTopic", "true"}, {"ContentBasedDeduplication", "true"}}, {});
  ASSERT_TRUE(topic.ok()) << topic.status();
  ASSERT_TRUE(sns->impl().Subscribe(*topic, "sqs", std::string(kQueue) + ".fifo", {}, false).ok());
  for (int i = 0; i < 20; ++i) {
    SnsPublishRequest req;
    req.message = "m" + std::to_string(i);
    req.message_group_id = "g";
    ASSERT_TRUE(sns->Publish(*topic, req).ok());
  }
  auto sent = sqs_.WaitFor(20);
  ASSERT_EQ(sent.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(nlohmann::json::parse(sent[i].second.body)["Message"], "m" + std::to_string(i));
    EXPECT_EQ(sent[i].second.message_group_id, "g");
    EXPECT_EQ(sent[i].second.message_deduplication_id.size(), 64u);  // SHA-256 of the body
  }
}

TEST_F(SnsTest, FailedSendsAreRetried) {
  sqs_.fail = 3;
  auto sns = Open();
  auto topic = sns->impl().CreateTopic("t", {}, {});
  ASSERT_TRUE(sns->impl().Subscribe(*topic, "sqs", kQueue, {}, false).ok());
  SnsPublishRequest req;
  req.message = "retry";
  ASSERT_TRUE(sns->Publish(*topic, req).ok());
  auto sent = sqs_.WaitFor(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sqs_.fail, 0);
}

TEST_F(SnsTest, ClientErrorsGoToTheDeadLetterQueue) {
  auto sns = Open();
  auto topic = sns->impl().CreateTopic("t", {}, {});
  auto sub = sns->impl().Subscribe(*topic, "sqs", "arn:aws:sqs:us-east-1:000000000000:missing",
                                   {{"RedrivePolicy", R"({"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq"})"}},
                                   false);
  ASSERT_TRUE(sub.ok()) << sub.status();
  SnsPublishRequest req;
  req.message = "lost";
  ASSERT_TRUE(sns->Publish(*topic, req).ok());
  auto sent = sqs_.WaitFor(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].first, "arn:aws:sqs:us-east-1:000000000000:dlq");
  EXPECT_EQ(nlohmann::json::parse(sent[0].second.body)["Message"], "lost");
}

TEST_F(SnsTest, AcceptedMessagesAreDeliveredAfterReopen) {
  std::string topic;
  {
    auto sns = Open(/*threads=*/false);
    topic = *sns->impl().CreateTopic("t", {}, {});
    ASSERT_TRUE(sns->impl().Subscribe(topic, "sqs", kQueue, {}, false).ok());
    for (int i = 0; i < 3; ++i) {
      SnsPublishRequest req;
      req.message = "kept " + std::to_string(i);
      ASSERT_TRUE(sns->Publish(topic, req).ok());
    }
  }
  EXPECT_TRUE(sqs_.sent.empty());
  auto sns = Open();
  auto sent = sqs_.WaitFor(3);
  ASSERT_EQ(sent.size(), 3u);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  sns->Stop();
  // Delivered rows were removed: a third open delivers nothing again.
  sns.reset();
  auto again = Open();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::lock_guard lock(sqs_.mu);
  EXPECT_EQ(sqs_.sent.size(), 3u);
}

TEST_F(SnsTest, SqsAndLambdaSubscriptionsNeedTheirService) {
  SnsOptions o;
  o.start_threads = false;
  auto sns = Sns::Open(dir_, o);
  ASSERT_TRUE(sns.ok());
  auto topic = (*sns)->impl().CreateTopic("t", {}, {});
  auto sqs = (*sns)->impl().Subscribe(*topic, "sqs", kQueue, {}, false);
  EXPECT_EQ(std::string(sqs.status().message()), "Invalid parameter: Endpoint Reason: SQS is not available in this Sluice");
  auto lambda = (*sns)->impl().Subscribe(*topic, "lambda", "arn:aws:lambda:us-east-1:000000000000:function:f", {}, false);
  EXPECT_EQ(SnsErrorCode(lambda.status()), "InvalidParameter");
}

}  // namespace
}  // namespace sluice
