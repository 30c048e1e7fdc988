#include "sns/envelope.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sluice::sns {
namespace {

Envelope Sample() {
  Envelope e;
  e.type = "Notification";
  e.message_id = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324";
  e.topic_arn = "arn:aws:sns:us-east-1:000000000000:orders";
  e.subject = "hello";
  e.message = "line1\n\"quoted\"";
  e.timestamp = absl::FromUnixMillis(1754049600123);  // 2025-08-01T12:00:00.123Z
  e.unsubscribe_url = "http://127.0.0.1:4566/?Action=Unsubscribe&SubscriptionArn=x";
  e.signing_cert_url = "http://127.0.0.1:4566/SimpleNotificationService-sluice.pem";
  e.message_attributes["store"] = {"String", "example_corp", ""};
  e.message_attributes["blob"] = {"Binary", "", "ab"};
  return e;
}

TEST(Envelope, NotificationHasAwsFieldsInAwsLayout) {
  std::string text = RenderEnvelope(Sample());
  EXPECT_EQ(text.rfind("{\n  \"Type\" : \"Notification\",\n  \"MessageId\" : \"22b80b92", 0), 0u) << text;
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["Type"], "Notification");
  EXPECT_EQ(j["TopicArn"], "arn:aws:sns:us-east-1:000000000000:orders");
  EXPECT_EQ(j["Subject"], "hello");
  EXPECT_EQ(j["Message"], "line1\n\"quoted\"");
  EXPECT_EQ(j["Timestamp"], "2025-08-01T12:00:00.123Z");
  EXPECT_EQ(j["SignatureVersion"], "1");
  EXPECT_TRUE(j["Signature"].is_string());
  EXPECT_EQ(j["UnsubscribeURL"], "http://127.0.0.1:4566/?Action=Unsubscribe&SubscriptionArn=x");
  EXPECT_EQ(j["MessageAttributes"]["store"]["Type"], "String");
  EXPECT_EQ(j["MessageAttributes"]["store"]["Value"], "example_corp");
  EXPECT_EQ(j["MessageAttributes"]["blob"]["Value"], "YWI=");
  EXPECT_FALSE(j.contains("SequenceNumber"));
  EXPECT_FALSE(j.contains("Token"));
}

TEST(Envelope, SubjectAndAttributesAreOmittedWhenAbsent) {
  Envelope e = Sample();
  e.subject.clear();
  e.message_attributes.clear();
  auto j = nlohmann::json::parse(RenderEnvelope(e));
  EXPECT_FALSE(j.contains("Subject"));
  EXPECT_FALSE(j.contains("MessageAttributes"));
}

TEST(Envelope, ConfirmationCarriesTokenAndSubscribeUrl) {
  Envelope e;
  e.type = "SubscriptionConfirmation";
  e.message_id = "m";
  e.topic_arn = "arn:aws:sns:us-east-1:000000000000:t";
  e.token = "abc";
  e.subscribe_url = "http://h/?Action=ConfirmSubscription&TopicArn=t&Token=abc";
  e.message = "You have chosen to subscribe";
  auto j = nlohmann::json::parse(RenderEnvelope(e));
  EXPECT_EQ(j["Token"], "abc");
  EXPECT_EQ(j["SubscribeURL"], "http://h/?Action=ConfirmSubscription&TopicArn=t&Token=abc");
  EXPECT_FALSE(j.contains("UnsubscribeURL"));
}

TEST(Envelope, FifoNotificationsCarryTheSequenceNumber) {
  Envelope e = Sample();
  e.sequence_number = "10000000000000000001";
  auto j = nlohmann::json::parse(RenderEnvelope(e));
  EXPECT_EQ(j["SequenceNumber"], "10000000000000000001");
}

TEST(Envelope, LambdaEventIsARecordsList) {
  auto j = nlohmann::json::parse(RenderLambdaEvent(Sample(), "arn:aws:sns:us-east-1:000000000000:orders:sub"));
  const auto& r = j["Records"][0];
  EXPECT_EQ(r["EventSource"], "aws:sns");
  EXPECT_EQ(r["EventVersion"], "1.0");
  EXPECT_EQ(r["EventSubscriptionArn"], "arn:aws:sns:us-east-1:000000000000:orders:sub");
  EXPECT_EQ(r["Sns"]["Message"], "line1\n\"quoted\"");
  EXPECT_EQ(r["Sns"]["MessageAttributes"]["store"]["Value"], "example_corp");
  EXPECT_TRUE(r["Sns"].contains("SigningCertUrl"));
}

TEST(Envelope, MboxEscapesFromLines) {
  std::string m = RenderMboxEntry("a@b", "c@d", "s", "hi\nFrom here\n", absl::FromUnixSeconds(0));
  EXPECT_EQ(m.rfind("From a@b Thu Jan  1 00:00:00 1970\n", 0), 0u) << m;
  EXPECT_NE(m.find("\n>From here\n"), std::string::npos) << m;
  EXPECT_NE(m.find("Subject: s\n"), std::string::npos);
}

}  // namespace
}  // namespace sluice::sns
