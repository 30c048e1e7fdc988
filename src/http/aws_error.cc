#include "http/aws_error.h"

#include "base/strings.h"
#include "nlohmann/json.hpp"

namespace sluice {

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\r': out += "&#13;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

HttpResponse RenderError(AwsProtocol protocol, const AwsError& error, const std::string& request_id) {
  HttpResponse r;
  r.status = error.status;
  r.SetHeader("x-amz-request-id", request_id);
  switch (protocol) {
    case AwsProtocol::kRestXml: {
      r.SetHeader("Content-Type", "application/xml");
      std::string body = StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>",
                                      XmlEscape(error.code), "</Code><Message>",
                                      XmlEscape(error.message), "</Message>");
      for (const auto& [k, v] : error.fields) StrAppend(&body, "<", k, ">", XmlEscape(v), "</", k, ">");
      StrAppend(&body, "<RequestId>", request_id, "</RequestId></Error>");
      r.body = std::move(body);
      break;
    }
    case AwsProtocol::kJson: {
      r.SetHeader("Content-Type", "application/x-amz-json-1.1");
      r.SetHeader("x-amzn-RequestId", request_id);
      r.SetHeader("x-amzn-ErrorType", error.code);
      // Services on the JSON protocol that replaced a query one (SQS) also name the old
      // error code, for clients that still expect it.
      for (const auto& [k, v] : error.fields) {
        if (k == "x-amzn-query-error") r.SetHeader(k, v);
      }
      nlohmann::json j = {{"__type", error.code}, {"message", error.message}};
      r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      break;
    }
    case AwsProtocol::kQuery: {
      r.SetHeader("Content-Type", "text/xml");
      r.body = StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Type>",
                            error.status >= 500 ? "Receiver" : "Sender", "</Type><Code>",
                            XmlEscape(error.code), "</Code><Message>", XmlEscape(error.message),
                            "</Message></Error><RequestId>", request_id,
                            "</RequestId></ErrorResponse>");
      break;
    }
  }
  return r;
}

}  // namespace sluice
