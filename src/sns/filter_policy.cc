#include "sns/filter_policy.h"

#include "base/json.h"
#include "base/strings.h"
#include "nlohmann/json.hpp"

namespace sluice::sns {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxKeys = 5;
constexpr uint64_t kMaxCombinations = 150;
constexpr std::string_view kPrefix = "Invalid parameter: FilterPolicy: ";

absl::Status Invalid(std::string_view reason) { return absl::InvalidArgumentError(StrCat(kPrefix, reason)); }

bool IsOperator(const std::string& key) {
  return key == "prefix" || key == "suffix" || key == "anything-but" || key == "numeric" || key == "exists" ||
         key == "cidr" || key == "equals-ignore-case";
}

struct Counter {
  FilterScope scope;
  std::vector<std::string> keys;  // distinct leaf paths
};

// Walks one object level of the policy; returns its number of value combinations.
absl::StatusOr<uint64_t> Walk(const Json& obj, const std::string& path, int depth, Counter* counter) {
  uint64_t product = 1;
  for (const auto& [key, value] : obj.items()) {
    uint64_t n = 0;
    if (key == "$or") {
      if (!value.is_array() || value.size() < 2) return Invalid("$or must be an array of at least 2 objects");
      for (const auto& branch : value) {
        if (!branch.is_object()) return Invalid("$or must be an array of objects");
        ASSIGN_OR_RETURN(uint64_t b, Walk(branch, path, depth, counter));
        n += b;
      }
    } else if (value.is_object()) {
      if (counter->scope == FilterScope::kMessageAttributes) {
        return Invalid("Filter policy scope MessageAttributes does not support nested filter policy");
      }
      ASSIGN_OR_RETURN(n, Walk(value, StrCat(path, key, "."), depth + 1, counter));
    } else if (value.is_array()) {
      if (value.empty()) return Invalid("Empty arrays are not allowed");
      std::string leaf = path + key;
      bool known = false;
      for (const auto& k : counter->keys) known |= k == leaf;
      if (!known) counter->keys.push_back(leaf);
      for (const auto& cond : value) {
        if (cond.is_object()) {
          if (cond.size() != 1) return Invalid("Only one key allowed in match expression");
          const std::string& op = cond.begin().key();
          if (!IsOperator(op)) return Invalid(StrCat("Unrecognized match type ", op));
        } else if (cond.is_array()) {
          return Invalid("Match value must be String, number, true, false, or null");
        }
      }
      n = value.size();
    } else {
      return Invalid(StrCat("\"", key, "\" must be an object or an array"));
    }
    product *= n;
    if (product > kMaxCombinations) return Invalid("Filter policy is too complex");
  }
  return product;
}

}  // namespace

events::PatternLimits FilterPolicyLimits() {
  events::PatternLimits limits;
  limits.max_length = kMaxFilterPolicyBytes;
  return limits;
}

absl::StatusOr<std::string> FilterPolicyToPattern(std::string_view policy, FilterScope scope) {
  if (policy.size() > kMaxFilterPolicyBytes) return Invalid("Filter policy is too long");
  // The engine reports syntax errors with AWS's "Reason ... at [Source: ...]" wording.
  if (absl::Status st = events::ValidatePattern(policy, FilterPolicyLimits()); !st.ok()) {
    std::string message(st.message());
    std::string_view m = message;
    ConsumePrefix(&m, "Event pattern is not valid. Reason: ");
    return Invalid(m);
  }
  Json doc = ParseJson(policy);
  if (!doc.is_object()) return Invalid("Filter policy must be a JSON object");
  if (doc.empty()) return std::string(policy);  // {} matches everything, as on AWS
  Counter counter{scope, {}};
  ASSIGN_OR_RETURN(uint64_t combinations, Walk(doc, "", 0, &counter));
  if (counter.keys.size() > kMaxKeys) return Invalid("Filter policy can not have more than 5 keys");
  if (combinations > kMaxCombinations) return Invalid("Filter policy is too complex");
  return std::string(policy);
}

std::vector<events::FlatField> AttributesToFields(const SnsMessageAttributes& attributes) {
  std::vector<events::FlatField> out;
  for (const auto& [name, attr] : attributes) {
    events::FlatField f;
    f.path = {name};
    std::string_view type = attr.data_type;
    if (type == "String.Array") {
      Json arr = ParseJson(attr.string_value);
      if (!arr.is_array()) {
        f.values.push_back(events::Value::String(attr.string_value));
      } else {
        for (const auto& v : arr) {
          if (v.is_string()) {
            f.values.push_back(events::Value::String(v.get<std::string>()));
          } else if (v.is_number()) {
            f.values.push_back(events::Value::Number(v.dump()));
          } else if (v.is_boolean()) {
            f.values.push_back(events::Value::Bool(v.get<bool>()));
          } else if (v.is_null()) {
            f.values.push_back(events::Value::Null());
          }
        }
      }
    } else if (type == "Number" || type.starts_with("Number.")) {
      f.values.push_back(events::Value::Number(attr.string_value));
    } else if (type == "String" || type.starts_with("String.")) {
      f.values.push_back(events::Value::String(attr.string_value));
    } else {
      continue;  // Binary attributes take no part in filtering
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace sluice::sns
