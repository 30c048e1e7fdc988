#pragma once

#include <string>

#include "absl/time/time.h"
#include "sns/sns.h"

// The documents SNS delivers: the JSON envelope (Notification, SubscriptionConfirmation)
// laid out as AWS lays it out ("Key" : value, two-space indent), the Lambda event, and
// the email text.
namespace sluice::sns {

struct Envelope {
  std::string type;  // "Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"
  std::string message_id;
  std::string topic_arn;
  std::string subject;  // Notification only; omitted when empty
  std::string message;
  absl::Time timestamp;
  std::string sequence_number;  // FIFO topics
  std::string token;            // confirmations
  std::string subscribe_url;    // confirmations
  std::string unsubscribe_url;  // notifications
  std::string signing_cert_url;
  SnsMessageAttributes message_attributes;  // notifications
};

// 2025-08-01T12:00:00.123Z
std::string SnsTimestamp(absl::Time t);

// The signature fields are present but not verifiable: Sluice has no SNS signing
// certificate (SigningCertURL points at this endpoint's path that does not serve one).
std::string RenderEnvelope(const Envelope& e);

// {"Records":[{"EventSource":"aws:sns","EventVersion":"1.0","EventSubscriptionArn":...,
// "Sns":{...}}]} as Lambda receives it.
std::string RenderLambdaEvent(const Envelope& e, const std::string& subscription_arn);

// One mbox entry ("From sns@... <date>\n" headers, blank line, body, blank line), with
// body lines starting with "From " escaped as ">From ".
std::string RenderMboxEntry(const std::string& from, const std::string& to, const std::string& subject,
                            const std::string& body, absl::Time date);

}  // namespace sluice::sns
