#pragma once

#include <string>
#include <utility>
#include <vector>

#include "http/message.h"

// AWS errors and how each wire protocol renders them.
namespace sluice {

enum class AwsProtocol { kRestXml, kJson, kQuery };

struct AwsError {
  int status = 400;
  std::string code;     // "NoSuchKey"
  std::string message;  // "The specified key does not exist."
  // Extra elements rest-xml errors carry (<Key>, <BucketName>, ...), in order.
  std::vector<std::pair<std::string, std::string>> fields;

  AwsError& With(std::string name, std::string value) {
    fields.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// The error body and headers in `protocol`'s format, with x-amz-request-id.
HttpResponse RenderError(AwsProtocol protocol, const AwsError& error, const std::string& request_id);

// Escapes &, <, >, ", ' for XML text.
std::string XmlEscape(std::string_view s);

}  // namespace sluice
