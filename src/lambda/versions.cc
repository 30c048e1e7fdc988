// Versions (immutable snapshots of $LATEST's configuration and code) and aliases (a name for
// a version, optionally routing a share of invocations to a second one).
#include <random>

#include "base/ids.h"
#include "base/strings.h"
#include "lambda/service.h"

namespace sluice::lambda {
namespace {

absl::Status NotFound(const std::string& what) {
  return LambdaStatus(absl::StatusCode::kNotFound, "ResourceNotFoundException", what);
}

bool ValidAliasName(const std::string& n) {
  if (n.empty() || n.size() > 128) return false;
  bool all_digits = std::all_of(n.begin(), n.end(), ::isdigit);
  return !all_digits && std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; });
}

// Members of $LATEST's configuration that make a new version (a change publishes one).
Json Publishable(Json c) {
  for (const char* k : {"Version", "FunctionArn", "LastModified", "RevisionId", "LastUpdateStatus", "State"}) c.erase(k);
  return c;
}

}  // namespace

absl::StatusOr<LambdaService::Target> LambdaService::Resolve(const std::string& function) {
  std::string qualifier;
  ASSIGN_OR_RETURN(std::string name, ResolveName(function, &qualifier));
  auto it = functions_.find(name);
  std::string missing = StrCat("Function not found: ", Arn(name), qualifier.empty() ? "" : ":", qualifier);
  if (it == functions_.end()) return NotFound(missing);
  const Function& f = it->second;
  Target t{f, name, "$LATEST"};
  if (qualifier.empty() || qualifier == "$LATEST") return t;
  std::string version = qualifier;
  if (f.aliases.contains(qualifier)) {
    const Json& alias = f.aliases[qualifier];
    version = alias.value("FunctionVersion", "$LATEST");
    if (alias.contains("RoutingConfig") && alias["RoutingConfig"].contains("AdditionalVersionWeights")) {
      thread_local std::mt19937_64 rng{std::random_device{}()};
      double roll = std::uniform_real_distribution<double>(0, 1)(rng);
      const Json& weights = alias["RoutingConfig"]["AdditionalVersionWeights"];
      for (auto w = weights.begin(); weights.is_object() && w != weights.end(); ++w) {
        if (roll < w.value().get<double>()) {
          version = w.key();
          break;
        }
        roll -= w.value().get<double>();
      }
    }
    if (version == "$LATEST") return t;
  }
  if (!f.versions.contains(version)) return NotFound(missing);
  const Json& v = f.versions[version];
  t.snapshot.config = v["config"];
  t.snapshot.code_revision = v.value("code_revision", int64_t{0});
  int64_t number = 0;
  ParseNumber(version, &number);
  t.snapshot.revision = -number;  // versions never change: one pool each
  t.key = StrCat(name, ":", version);
  t.version = version;
  return t;
}

absl::StatusOr<Json> LambdaService::PublishVersion(const std::string& function, const Json& in) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  if (in.contains("CodeSha256") && in["CodeSha256"] != f->config["CodeSha256"]) {
    return LambdaStatus(absl::StatusCode::kInvalidArgument, "InvalidParameterValueException",
                        "CodeSHA256 (" + in["CodeSha256"].get<std::string>() +
                            ") is different from current CodeSHA256 in $LATEST. Please try again with the CodeSHA256 "
                            "in $LATEST.");
  }
  RETURN_IF_ERROR(CheckRevisionId(in, f->config["RevisionId"], ""));
  // Nothing changed since the last version: AWS returns that version.
  std::string last = StrCat(f->last_version);
  if (f->versions.contains(last) && Publishable(f->versions[last]["config"]) == Publishable(f->config) &&
      !in.contains("Description")) {
    return f->versions[last]["config"];
  }
  Function copy = *f;
  int64_t n = ++copy.last_version;
  Json c = copy.config;
  c["Version"] = StrCat(n);
  c["FunctionArn"] = StrCat(Arn(f->name), ":", n);
  c["RevisionId"] = NewUuid();
  if (in.contains("Description")) c["Description"] = in["Description"];
  copy.versions[StrCat(n)] = {{"config", c}, {"code_revision", copy.code_revision}};
  RETURN_IF_ERROR(Persist(copy));
  *f = copy;
  return c;
}

absl::StatusOr<Json> LambdaService::ListVersionsByFunction(const std::string& function) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  Json out = {{"Versions", Json::array({f->config})}};
  std::vector<std::pair<int64_t, Json>> versions;
  for (const auto& [v, doc] : f->versions.items()) {
    int64_t n = 0;
    ParseNumber(v, &n);
    versions.emplace_back(n, doc["config"]);
  }
  std::sort(versions.begin(), versions.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [n, c] : versions) out["Versions"].push_back(c);
  return out;
}

absl::Status LambdaService::DeleteVersion(const std::string& function, const std::string& version) {
  std::vector<std::unique_ptr<Worker>> doomed;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(Function * f, Find(function));
    if (!f->versions.contains(version)) {
      return NotFound(StrCat("Function not found: ", Arn(f->name), ":", version));
    }
    std::vector<std::string> users;
    for (const auto& [n, a] : f->aliases.items()) {
      bool routed = a.contains("RoutingConfig") && a["RoutingConfig"].contains("AdditionalVersionWeights") &&
                    a["RoutingConfig"]["AdditionalVersionWeights"].contains(version);
      if (a.value("FunctionVersion", "") == version || routed) users.push_back(n);
    }
    if (!users.empty()) {
      return LambdaStatus(absl::StatusCode::kAlreadyExists, "ResourceConflictException",
                          StrCat("Unable to delete version because the following aliases reference it: [",
                                 Join(users, ", "), "]"));
    }
    Function copy = *f;
    copy.versions.erase(version);
    RETURN_IF_ERROR(Persist(copy));
    *f = copy;
    auto pool = pools_.find(StrCat(f->name, ":", version));
    if (pool != pools_.end()) {
      running_ -= static_cast<int>(pool->second.idle.size());
      doomed = std::move(pool->second.idle);
      pool->second.idle.clear();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> LambdaService::CreateAlias(const std::string& function, const Json& in) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  std::string name = in.value("Name", ""), version = in.value("FunctionVersion", "");
  if (!ValidAliasName(name)) {
    return LambdaStatus(absl::StatusCode::kInvalidArgument, "ValidationException",
                        StrCat("1 validation error detected: Value '", name, "' at 'name' failed to satisfy constraint: "
                               "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"));
  }
  if (f->aliases.contains(name)) {
    return LambdaStatus(absl::StatusCode::kAlreadyExists, "ResourceConflictException",
                        StrCat("Alias already exists: ", Arn(f->name), ":", name));
  }
  Json alias = {{"AliasArn", StrCat(Arn(f->name), ":", name)}, {"Name", name},
                {"FunctionVersion", version}, {"Description", in.value("Description", "")},
                {"RevisionId", NewUuid()}};
  Json update = in;
  ASSIGN_OR_RETURN(alias, UpdateAliasDoc(*f, alias, update));
  Function copy = *f;
  copy.aliases[name] = alias;
  RETURN_IF_ERROR(Persist(copy));
  *f = copy;
  return alias;
}

absl::StatusOr<Json> LambdaService::UpdateAliasDoc(const Function& f, Json alias, const Json& in) {
  if (in.contains("FunctionVersion")) alias["FunctionVersion"] = in["FunctionVersion"];
  if (in.contains("Description")) alias["Description"] = in["Description"];
  std::string version = alias.value("FunctionVersion", "");
  if (version != "$LATEST" && !f.versions.contains(version)) {
    return NotFound(StrCat("Function not found: ", Arn(f.name), ":", version));
  }
  if (in.contains("RoutingConfig")) {
    Json weights = in["RoutingConfig"].value("AdditionalVersionWeights", Json::object());
    double total = 0;
    for (const auto& [v, w] : weights.items()) {
      if (!f.versions.contains(v)) return NotFound(StrCat("Function not found: ", Arn(f.name), ":", v));
      if (v == version) {
        return LambdaStatus(absl::StatusCode::kInvalidArgument, "InvalidParameterValueException",
                            "Invalid function version in the routing configuration: it is the alias's own version");
      }
      total += w.get<double>();
    }
    if (total > 1.0) {
      return LambdaStatus(absl::StatusCode::kInvalidArgument, "InvalidParameterValueException",
                          "The sum of the additional version weights must be at most 1");
    }
    if (weights.empty()) {
      alias.erase("RoutingConfig");
    } else {
      alias["RoutingConfig"] = {{"AdditionalVersionWeights", weights}};
    }
  }
  alias["RevisionId"] = NewUuid();
  return alias;
}

absl::StatusOr<Json> LambdaService::GetAlias(const std::string& function, const std::string& name) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  if (!f->aliases.contains(name)) return NotFound(StrCat("Alias not found: ", Arn(f->name), ":", name));
  return f->aliases[name];
}

absl::StatusOr<Json> LambdaService::UpdateAlias(const std::string& function, const std::string& name, const Json& in) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  if (!f->aliases.contains(name)) return NotFound(StrCat("Alias not found: ", Arn(f->name), ":", name));
  RETURN_IF_ERROR(CheckRevisionId(in, f->aliases[name]["RevisionId"], ""));
  ASSIGN_OR_RETURN(Json alias, UpdateAliasDoc(*f, f->aliases[name], in));
  Function copy = *f;
  copy.aliases[name] = alias;
  RETURN_IF_ERROR(Persist(copy));
  *f = copy;
  return alias;
}

absl::Status LambdaService::DeleteAlias(const std::string& function, const std::string& name) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  if (!f->aliases.contains(name)) return absl::OkStatus();  // AWS: deleting a missing alias succeeds
  Function copy = *f;
  copy.aliases.erase(name);
  RETURN_IF_ERROR(Persist(copy));
  *f = copy;
  return absl::OkStatus();
}

absl::StatusOr<Json> LambdaService::ListAliases(const std::string& function) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  Json out = {{"Aliases", Json::array()}};
  for (const auto& [n, a] : f->aliases.items()) out["Aliases"].push_back(a);
  return out;
}

}  // namespace sluice::lambda
