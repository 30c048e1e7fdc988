#pragma once

#include <string>

#include "base/status.h"
#include "nlohmann/json.hpp"

// A target's input, as EventBridge renders it from the matched event: the event itself,
// a constant (Input), a part of it (InputPath), or a template (InputTransformer with
// InputPathsMap and InputTemplate). Pure functions; thread-safe.
namespace sluice::events {

using Json = nlohmann::json;

// Checks Input / InputPath / InputTransformer of a PutTargets entry (at most one of them;
// Input is JSON; paths are JSONPath; at most 100 variables, none named aws.*).
absl::Status ValidateTargetInput(const Json& target);

// The text delivered to `target` for `event`.
absl::StatusOr<std::string> RenderInput(const Json& target, const Json& event, const std::string& rule_arn,
                                        const std::string& rule_name, const std::string& ingestion_time);

// The value at a JSONPath ($, $.a.b, $.a[0], $['a-b']) in `doc`; null when absent.
absl::StatusOr<Json> JsonPathGet(const Json& doc, const std::string& path);

}  // namespace sluice::events
