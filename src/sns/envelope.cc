#include "sns/envelope.h"

#include "base/strings.h"
#include "io/checksum.h"
#include "nlohmann/json.hpp"

namespace sluice::sns {
namespace {

std::string Quote(const std::string& s) { return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

void Field(std::string* out, bool* first, std::string_view key, const std::string& json_value) {
  StrAppend(out, *first ? "" : ",\n", "  \"", key, "\" : ", json_value);
  *first = false;
}

std::string AttributeValue(const SnsMessageAttribute& a) {
  return a.data_type == "Binary" || a.data_type.starts_with("Binary.") ? Base64Encode(a.binary_value) : a.string_value;
}

// Stands in for AWS's SHA1withRSA signature: deterministic, well-formed, not verifiable.
std::string FakeSignature(const Envelope& e) {
  return Base64Encode(Sha256(StrCat(e.type, "\n", e.message_id, "\n", e.topic_arn, "\n", e.message)) +
                      Sha256(e.message_id));
}

}  // namespace

std::string SnsTimestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

std::string RenderEnvelope(const Envelope& e) {
  std::string out = "{\n";
  bool first = true;
  Field(&out, &first, "Type", Quote(e.type));
  Field(&out, &first, "MessageId", Quote(e.message_id));
  if (!e.sequence_number.empty()) Field(&out, &first, "SequenceNumber", Quote(e.sequence_number));
  if (!e.token.empty()) Field(&out, &first, "Token", Quote(e.token));
  Field(&out, &first, "TopicArn", Quote(e.topic_arn));
  if (!e.subject.empty()) Field(&out, &first, "Subject", Quote(e.subject));
  Field(&out, &first, "Message", Quote(e.message));
  if (!e.subscribe_url.empty()) Field(&out, &first, "SubscribeURL", Quote(e.subscribe_url));
  Field(&out, &first, "Timestamp", Quote(SnsTimestamp(e.timestamp)));
  Field(&out, &first, "SignatureVersion", Quote("1"));
  Field(&out, &first, "Signature", Quote(FakeSignature(e)));
  Field(&out, &first, "SigningCertURL", Quote(e.signing_cert_url));
  if (!e.unsubscribe_url.empty()) Field(&out, &first, "UnsubscribeURL", Quote(e.unsubscribe_url));
  if (!e.message_attributes.empty()) {
    std::string attrs = "{\n";
    bool first_attr = true;
    for (const auto& [name, a] : e.message_attributes) {
      StrAppend(&attrs, first_attr ? "" : ",\n", "    ", Quote(name), " : {\"Type\":", Quote(a.data_type),
                ",\"Value\":", Quote(AttributeValue(a)), "}");
      first_attr = false;
    }
    attrs += "\n  }";
    Field(&out, &first, "MessageAttributes", attrs);
  }
  out += "\n}";
  return out;
}

std::string RenderLambdaEvent(const Envelope& e, const std::string& subscription_arn) {
  nlohmann::json attrs = nlohmann::json::object();
  for (const auto& [name, a] : e.message_attributes) attrs[name] = {{"Type", a.data_type}, {"Value", AttributeValue(a)}};
  nlohmann::json sns = {
      {"Type", e.type},
      {"MessageId", e.message_id},
      {"TopicArn", e.topic_arn},
      {"Subject", e.subject.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.subject)},
      {"Message", e.message},
      {"Timestamp", SnsTimestamp(e.timestamp)},
      {"SignatureVersion", "1"},
      {"Signature", FakeSignature(e)},
      {"SigningCertUrl", e.signing_cert_url},
      {"UnsubscribeUrl", e.unsubscribe_url},
      {"MessageAttributes", attrs},
  };
  if (!e.sequence_number.empty()) sns["SequenceNumber"] = e.sequence_number;
  nlohmann::json record = {{"EventSource", "aws:sns"},
                           {"EventVersion", "1.0"},
                           {"EventSubscriptionArn", subscription_arn},
                           {"Sns", sns}};
  return nlohmann::json{{"Records", nlohmann::json::array({record})}}.dump(-1, ' ', false,
                                                                           nlohmann::json::error_handler_t::replace);
}

std::string RenderMboxEntry(const std::string& from, const std::string& to, const std::string& subject,
                            const std::string& body, absl::Time date) {
  std::string out = StrCat("From ", from, " ", absl::FormatTime("%a %b %e %H:%M:%S %Y", date, absl::UTCTimeZone()),
                           "\nFrom: ", from, "\nTo: ", to, "\nSubject: ", subject, "\nDate: ",
                           absl::FormatTime("%a, %d %b %Y %H:%M:%S +0000", date, absl::UTCTimeZone()),
                           "\nContent-Type: text/plain; charset=UTF-8\n\n");
  for (std::string_view line : Split(body, '\n')) {
    if (line.starts_with("From ")) out += '>';
    StrAppend(&out, line, "\n");
  }
  out += "\n";
  return out;
}

}  // namespace sluice::sns
