#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "events/pattern.h"
#include "sns/sns.h"

// SNS subscription filter policies on top of the EventBridge pattern engine.
//
// A filter policy is an event pattern with SNS's restrictions: the operators exact
// value, prefix, suffix, anything-but, numeric, exists, cidr, equals-ignore-case and
// $or (no wildcard); at most 5 keys (leaf keys for nested policies) and 150 value
// combinations (the product of each key's number of values, summed over $or branches);
// 256 KiB. With FilterPolicyScope MessageAttributes the policy is flat (no nested
// objects) and is matched against the message attributes (String → string, Number →
// number, String.Array → array; Binary attributes are ignored); with MessageBody it is
// matched against the message body, a JSON object.
namespace sluice::sns {

enum class FilterScope { kMessageAttributes, kMessageBody };

constexpr size_t kMaxFilterPolicyBytes = 256 * 1024;

// Validates `policy` (JSON text) for `scope` and returns the event pattern the engine
// matches (the policy itself, once it is known to be valid). InvalidArgument with AWS's
// message ("Invalid parameter: FilterPolicy: ...") otherwise.
absl::StatusOr<std::string> FilterPolicyToPattern(std::string_view policy, FilterScope scope);

// Limits the engine applies when compiling filter policies.
events::PatternLimits FilterPolicyLimits();

// The message attributes as flattened event fields (one top-level field per attribute).
std::vector<events::FlatField> AttributesToFields(const SnsMessageAttributes& attributes);

}  // namespace sluice::sns
