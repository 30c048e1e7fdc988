// The AWSEvents.* JSON actions (awsJson1_1): decode, call EventBridge, encode.
#include "base/strings.h"
#include "events/events.h"
#include "http/json_api.h"

namespace sluice {

ServiceRoute MakeEventsService(EventBridge& events) {
  JsonServiceSpec spec;
  spec.signing_name = "events";
  spec.target_prefix = "AWSEvents";
  // PutEvents carries up to 256 KB of entries; leave room for JSON escaping.
  spec.body_limit = 1 << 20;
  spec.dispatch = [&events](const std::string& action, const Json& in, const HttpRequest&) {
    auto out = events.Call(action, in);
    if (out.ok()) {
      JsonReply r;
      r.body = std::move(*out);
      return r;
    }
    std::string code = EventsErrorCode(out.status());
    int status = code == "InternalException" ? 500 : 400;
    return JsonReply::Error(status, code, std::string(out.status().message()));
  };
  return MakeJsonService(std::move(spec));
}

}  // namespace sluice
