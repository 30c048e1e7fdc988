#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "base/status.h"
#include "nlohmann/json.hpp"
#include "sqs/sqs.h"

// Messages as SQS stores them, and the digests and checks AWS applies to them.
namespace sluice::sqs {

using Attributes = std::map<std::string, SqsAttributeValue>;

struct Message {
  int64_t seq = 0;  // unique across queues, ascending in send order
  std::string id;
  std::string body;
  Attributes attributes;
  std::string trace_header;  // AWSTraceHeader system attribute
  std::string group_id, dedup_id, sequence_number;
  std::string md5_body, md5_attributes, md5_system;
  std::string source_arn;  // the queue it was dead-lettered from
  int64_t sent_ms = 0;
  int64_t first_receive_ms = 0;
  int64_t visible_at_ms = 0;
  int64_t receive_count = 0;
  bool received = false;  // in flight while received and visible_at_ms is in the future
  bool pending = false;   // sent, its commit not yet done: not receivable
  std::string nonce;      // of the latest receipt handle
};

// MD5 (hex) of message attributes as AWS computes MD5OfMessageAttributes: for each
// attribute in name order, the name, the data type (each a 4-byte big-endian length and
// UTF-8 bytes), a transport byte (1 string/number, 2 binary) and the value (length +
// bytes). "" for no attributes.
std::string Md5OfAttributes(const Attributes& attributes);
std::string Md5Hex(std::string_view data);

// The bytes an attribute counts against the message size limit.
size_t AttributesSize(const Attributes& attributes);

// Name, data type and value rules of message attributes (at most 10).
absl::Status ValidateAttributes(const Attributes& attributes);
// The characters a body may contain: #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF
// (as valid UTF-8).
bool ValidMessageText(std::string_view text);

// JSON shapes (MessageAttributeValue; BinaryValue base64).
nlohmann::json AttributesToJson(const Attributes& attributes);
absl::StatusOr<Attributes> AttributesFromJson(const nlohmann::json& j);

}  // namespace sluice::sqs
