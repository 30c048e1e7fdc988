#include "events/transform.h"

#include "base/json.h"
#include "base/strings.h"

namespace sluice::events {
namespace {

// Splits "$.a.b[0]['c d']" into steps: object keys (strings) and array indexes (numbers).
absl::StatusOr<std::vector<Json>> ParsePath(const std::string& path) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(StrCat("InputPath ", path, " is not valid: ", why));
  };
  if (path.empty() || path[0] != '$') return bad("a JSONPath starts with $");
  std::vector<Json> steps;
  size_t i = 1;
  while (i < path.size()) {
    if (path[i] == '.') {
      size_t b = ++i;
      while (i < path.size() && path[i] != '.' && path[i] != '[') ++i;
      if (i == b) return bad("empty name after '.'");
      steps.emplace_back(path.substr(b, i - b));
    } else if (path[i] == '[') {
      ++i;
      if (i < path.size() && (path[i] == '\'' || path[i] == '"')) {
        char q = path[i++];
        size_t end = path.find(q, i);
        if (end == std::string::npos || end + 1 >= path.size() || path[end + 1] != ']') return bad("unterminated ['name']");
        steps.emplace_back(path.substr(i, end - i));
        i = end + 2;
      } else {
        size_t end = path.find(']', i);
        int64_t index = 0;
        if (end == std::string::npos || !ParseNumber(path.substr(i, end - i), &index) || index < 0) {
          return bad("an index is a number in [ ]");
        }
        steps.emplace_back(index);
        i = end + 1;
      }
    } else {
      return bad(StrCat("unexpected '", std::string(1, path[i]), "'"));
    }
  }
  return steps;
}

}  // namespace

absl::StatusOr<Json> JsonPathGet(const Json& doc, const std::string& path) {
  ASSIGN_OR_RETURN(auto steps, ParsePath(path));
  const Json* at = &doc;
  for (const auto& s : steps) {
    if (s.is_string()) {
      if (!at->is_object() || !at->contains(s.get<std::string>())) return Json();
      at = &(*at)[s.get<std::string>()];
    } else {
      size_t i = s.get<size_t>();
      if (!at->is_array() || i >= at->size()) return Json();
      at = &(*at)[i];
    }
  }
  return *at;
}

absl::Status ValidateTargetInput(const Json& target) {
  int given = target.contains("Input") + target.contains("InputPath") + target.contains("InputTransformer");
  if (given > 1) {
    return absl::InvalidArgumentError("Only one of Input, InputPath, or InputTransformer must be provided.");
  }
  if (target.contains("Input")) {
    if (!target["Input"].is_string()) return absl::InvalidArgumentError("Input must be a string of JSON text.");
    Json j = ParseJson(target["Input"].get<std::string>());
    if (j.is_discarded()) return absl::InvalidArgumentError("Input is not valid JSON text.");
  }
  if (target.contains("InputPath")) {
    if (!target["InputPath"].is_string()) return absl::InvalidArgumentError("InputPath must be a string.");
    RETURN_IF_ERROR(ParsePath(target["InputPath"].get<std::string>()).status());
  }
  if (target.contains("InputTransformer")) {
    const Json& t = target["InputTransformer"];
    if (!t.is_object() || !t.contains("InputTemplate") || !t["InputTemplate"].is_string()) {
      return absl::InvalidArgumentError("InputTransformer needs an InputTemplate string.");
    }
    Json paths = t.value("InputPathsMap", Json::object());
    if (!paths.is_object()) return absl::InvalidArgumentError("InputPathsMap must be a map of names to JSONPaths.");
    if (paths.size() > 100) return absl::InvalidArgumentError("InputPathsMap has more than 100 entries.");
    for (const auto& [name, path] : paths.items()) {
      if (name.starts_with("aws.")) {
        return absl::InvalidArgumentError(StrCat("InputPathsMap name ", name, " is reserved: names may not start with aws."));
      }
      for (char c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
          return absl::InvalidArgumentError(StrCat("InputPathsMap name ", name, " may contain only letters, digits, _ and -"));
        }
      }
      if (!path.is_string()) return absl::InvalidArgumentError(StrCat("InputPathsMap ", name, " must be a JSONPath string."));
      RETURN_IF_ERROR(ParsePath(path.get<std::string>()).status());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RenderInput(const Json& target, const Json& event, const std::string& rule_arn,
                                        const std::string& rule_name, const std::string& ingestion_time) {
  if (target.contains("Input")) return target["Input"].get<std::string>();
  if (target.contains("InputPath")) {
    ASSIGN_OR_RETURN(Json v, JsonPathGet(event, target["InputPath"].get<std::string>()));
    return v.dump();
  }
  if (!target.contains("InputTransformer")) return event.dump();
  const Json& t = target["InputTransformer"];
  std::map<std::string, Json> vars;
  Json paths = t.value("InputPathsMap", Json::object());
  for (const auto& [name, path] : paths.items()) {
    ASSIGN_OR_RETURN(vars[name], JsonPathGet(event, path.get<std::string>()));
  }
  vars["aws.events.rule-arn"] = rule_arn;
  vars["aws.events.rule-name"] = rule_name;
  vars["aws.events.event.ingestion-time"] = ingestion_time;
  vars["aws.events.event"] = event;
  vars["aws.events.event.json"] = event;
  // A placeholder inside a JSON string takes the value's text (strings without their
  // quotes); outside one it takes the value as JSON.
  const std::string tmpl = t["InputTemplate"].get<std::string>();
  std::string out;
  bool in_string = false;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    char c = tmpl[i];
    if (c == '\\' && in_string && i + 1 < tmpl.size()) {
      out.push_back(c);
      out.push_back(tmpl[++i]);
      continue;
    }
    if (c == '"') in_string = !in_string;
    if (c == '<') {
      size_t end = tmpl.find('>', i);
      if (end != std::string::npos) {
        auto it = vars.find(tmpl.substr(i + 1, end - i - 1));
        if (it != vars.end()) {
          const Json& v = it->second;
          if (in_string) {
            std::string text = v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump();
            std::string quoted = Json(text).dump();
            out += quoted.substr(1, quoted.size() - 2);
          } else {
            out += v.dump();
          }
          i = end;
          continue;
        }
      }
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace sluice::events
