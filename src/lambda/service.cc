#include "lambda/service.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "absl/strings/cord.h"
#include "base/ids.h"
#include "base/json.h"
#include "base/strings.h"
#include "base/time.h"
#include "io/checksum.h"
#include "io/file.h"
#include "lambda/zip.h"

namespace sluice::lambda {

extern const char kPythonBootstrap[];  // python_bootstrap.py, embedded at build time
extern const char kNodejsBootstrap[];  // nodejs_bootstrap.js

namespace {

constexpr uint64_t kMaxZip = 50ull << 20;
constexpr uint64_t kMaxUnzipped = 262144000;

// Runtimes of the service model; which of them this machine can run is decided in
// CheckRuntime.
const std::set<std::string>& KnownRuntimes() {
  static const std::set<std::string> k = {
      "nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs16.x",
      "nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs4.3-edge", "java8", "java8.al2", "java11", "java17",
      "java21", "java25", "python2.7", "python3.6", "python3.7", "python3.8", "python3.9", "python3.10",
      "python3.11", "python3.12", "python3.13", "python3.14", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1",
      "dotnetcore3.1", "dotnet6", "dotnet8", "dotnet10", "go1.x", "ruby2.5", "ruby2.7", "ruby3.2", "ruby3.3",
      "ruby3.4", "provided", "provided.al2", "provided.al2023", "nodejs24.x", "python3.14"};
  return k;
}

const std::set<std::string>& DeprecatedRuntimes() {
  static const std::set<std::string> k = {"nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x",
                                          "nodejs12.x", "nodejs4.3-edge", "python2.7", "python3.6", "python3.7",
                                          "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1",
                                          "ruby2.5", "ruby2.7", "java8", "go1.x", "provided"};
  return k;
}

const std::set<std::string>& ReservedEnvironmentKeys() {
  static const std::set<std::string> k = {
      "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
      "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
      "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
      "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
      "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"};
  return k;
}

bool ValidName(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'; });
}

absl::Status Validation(const std::string& value, const std::string& member, const std::string& constraint) {
  return LambdaStatus(absl::StatusCode::kInvalidArgument, "ValidationException",
                      StrCat("1 validation error detected: Value '", value, "' at '", member,
                             "' failed to satisfy constraint: ", constraint));
}

absl::Status InvalidParameter(const std::string& message) {
  return LambdaStatus(absl::StatusCode::kInvalidArgument, "InvalidParameterValueException", message);
}

std::string LastModified(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%E3S+0000", t, absl::UTCTimeZone()); }

bool OnPath(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0;
  const char* path = ::getenv("PATH");
  for (auto dir : Split(path ? path : "/usr/bin:/bin", ':', true)) {
    if (::access(StrCat(dir, "/", program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

}  // namespace

absl::Status LambdaStatus(absl::StatusCode base, const std::string& code, const std::string& message) {
  absl::Status st(base, message);
  st.SetPayload("lambda-code", absl::Cord(code));
  return st;
}

absl::Status CheckRevisionId(const Json& in, const Json& current, const std::string& get_api) {
  if (!in.contains("RevisionId") || in["RevisionId"] == current) return absl::OkStatus();
  return LambdaStatus(absl::StatusCode::kFailedPrecondition, "PreconditionFailedException",
                      get_api.empty() ? "The Revision Id provided does not match the latest Revision Id."
                                      : StrCat("The Revision Id provided does not match the latest Revision Id. "
                                               "Call the ", get_api, " API to retrieve the latest Revision Id"));
}

Json Function::ToJson() const {
  Json j = {{"name", name}, {"config", config}, {"tags", tags}, {"event_invoke_config", event_invoke_config},
            {"revision", revision}, {"code_revision", code_revision}, {"policy", policy_statements},
            {"versions", versions}, {"aliases", aliases}, {"last_version", last_version}};
  if (reserved_concurrency) j["reserved_concurrency"] = *reserved_concurrency;
  return j;
}

Function Function::FromJson(const Json& j) {
  Function f;
  f.name = j.value("name", "");
  f.config = j.value("config", Json::object());
  f.tags = j.value("tags", std::map<std::string, std::string>{});
  f.event_invoke_config = j.contains("event_invoke_config") ? j["event_invoke_config"] : Json();
  f.revision = j.value("revision", int64_t{0});
  f.code_revision = j.value("code_revision", int64_t{0});
  f.policy_statements = j.value("policy", Json::array());
  f.versions = j.value("versions", Json::object());
  f.aliases = j.value("aliases", Json::object());
  f.last_version = j.value("last_version", int64_t{0});
  if (j.contains("reserved_concurrency")) f.reserved_concurrency = j["reserved_concurrency"].get<int>();
  return f;
}

absl::StatusOr<std::unique_ptr<LambdaService>> LambdaService::Open(const std::string& dir, LambdaOptions options) {
  RETURN_IF_ERROR(MakeDirs(dir + "/runtime"));
  RETURN_IF_ERROR(MakeDirs(dir + "/logs"));
  std::error_code ec;
  std::filesystem::remove_all(dir + "/tmp", ec);  // the /tmp of workers of an earlier run
  RETURN_IF_ERROR(MakeDirs(dir + "/tmp"));
  RETURN_IF_ERROR(WriteFileAtomically(dir + "/runtime/python_bootstrap.py", kPythonBootstrap));
  RETURN_IF_ERROR(WriteFileAtomically(dir + "/runtime/nodejs_bootstrap.js", kNodejsBootstrap));
  std::unique_ptr<LambdaService> s(new LambdaService(dir, std::move(options)));
  ASSIGN_OR_RETURN(s->writer_, SqliteGroupWriter::Open(dir + "/lambda.db"));
  s->esm_ = std::make_unique<EventSourceMappings>(*s, *s->writer_, s->options_);
  RETURN_IF_ERROR(s->Load());
  s->spawner_ = std::make_unique<Spawner>();
  return s;
}

LambdaService::~LambdaService() { Stop(); }

absl::Status LambdaService::Load() {
  ASSIGN_OR_RETURN(auto db, SqliteDb::Open(dir_ + "/lambda.db"));
  RETURN_IF_ERROR(db->Exec(
      "CREATE TABLE IF NOT EXISTS functions(name TEXT PRIMARY KEY, doc TEXT NOT NULL);"
      "CREATE TABLE IF NOT EXISTS async_invocations(id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, "
      "function TEXT NOT NULL, payload BLOB NOT NULL, attempts INTEGER NOT NULL, next_ms INTEGER NOT NULL, "
      "created_ms INTEGER NOT NULL);"));
  ASSIGN_OR_RETURN(SqliteStmt * q, db->Prepare("SELECT doc FROM functions"));
  q->Reset();
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    Json doc = ParseJson(q->Text(0), kMaxStoredJsonDepth);
    if (doc.is_discarded()) return absl::DataLossError("lambda.db: a function row is not JSON");
    Function f = Function::FromJson(doc);
    functions_[f.name] = std::move(f);
  }
  ASSIGN_OR_RETURN(SqliteStmt * a, db->Prepare(
      "SELECT id, request_id, function, payload, attempts, next_ms, created_ms FROM async_invocations"));
  a->Reset();
  for (;;) {
    ASSIGN_OR_RETURN(bool row, a->Step());
    if (!row) break;
    AsyncItem item{a->Text(1), a->Text(2), a->Text(3), static_cast<int>(a->Int(4)), a->Int(5), a->Int(6), false};
    next_async_id_ = std::max(next_async_id_, a->Int(0) + 1);
    queue_[a->Int(0)] = std::move(item);
  }
  RETURN_IF_ERROR(LoadLayers(*db));
  return esm_->Load(*db);
}

std::string LambdaService::Arn(const std::string& name) const {
  return StrCat("arn:aws:lambda:", options_.region, ":", options_.account, ":function:", name);
}

std::string LambdaService::CodeDir(const std::string& name, int64_t revision) const {
  return StrCat(dir_, "/functions/", name, "/", revision);
}

absl::StatusOr<std::string> LambdaService::ResolveName(const std::string& function, std::string* qualifier_out) const {
  // name | name:qualifier | account:function:name[:q] | arn:aws:lambda:region:account:function:name[:q]
  std::vector<std::string_view> parts = Split(function, ':');
  std::string_view name, qualifier;
  if (parts.size() >= 7 && parts[0] == "arn" && parts[5] == "function") {
    name = parts[6];
    if (parts.size() > 7) qualifier = parts[7];
    if (parts.size() > 8) name = "";
  } else if (parts.size() >= 3 && parts[1] == "function") {
    name = parts[2];
    if (parts.size() > 3) qualifier = parts[3];
    if (parts.size() > 4) name = "";
  } else if (parts.size() <= 2) {
    name = parts[0];
    if (parts.size() == 2) qualifier = parts[1];
  }
  if (!ValidName(name)) {
    return Validation(function, "functionName",
                      "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}"
                      "(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?");
  }
  if (qualifier_out) {
    *qualifier_out = std::string(qualifier);
    return std::string(name);
  }
  if (!qualifier.empty() && qualifier != "$LATEST") {
    // Versions and aliases are not built yet: only $LATEST exists.
    return LambdaStatus(absl::StatusCode::kNotFound, "ResourceNotFoundException",
                        StrCat("Function not found: ", Arn(std::string(name)), ":", qualifier));
  }
  return std::string(name);
}

absl::StatusOr<Function*> LambdaService::Find(const std::string& function) {
  ASSIGN_OR_RETURN(std::string name, ResolveName(function));
  auto it = functions_.find(name);
  if (it == functions_.end()) {
    return LambdaStatus(absl::StatusCode::kNotFound, "ResourceNotFoundException", StrCat("Function not found: ", Arn(name)));
  }
  return &it->second;
}

absl::StatusOr<std::string> LambdaService::FunctionArn(const std::string& function) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  return Arn(f->name);
}

absl::Status LambdaService::Persist(const Function& f) {
  std::string doc = f.ToJson().dump();
  std::string name = f.name;
  return writer_->Write([name, doc](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStmt * q, db.Prepare("INSERT OR REPLACE INTO functions(name, doc) VALUES(?, ?)"));
    return q->Bind(1, name).Bind(2, doc).Run();
  });
}

absl::Status LambdaService::ApplyConfiguration(const Json& in, Json& config, bool create) {
  if (in.contains("Runtime")) {
    std::string runtime = in["Runtime"].get<std::string>();
    if (!KnownRuntimes().contains(runtime)) {
      return Validation(runtime, "runtime", "Member must satisfy enum value set: [python3.9, python3.10, python3.11, "
                                            "python3.12, python3.13, provided.al2, provided.al2023, nodejs20.x, ...]");
    }
    if (DeprecatedRuntimes().contains(runtime)) {
      return InvalidParameter(StrCat("The runtime parameter of ", runtime,
                                     " is no longer supported for creating or updating AWS Lambda functions. We "
                                     "recommend you use a supported runtime while creating or updating functions."));
    }
    if (runtime.starts_with("python")) {
      if (!OnPath(options_.python)) {
        return InvalidParameter(StrCat("Sluice runs ", runtime, " functions with ", options_.python,
                                       ", which is not installed on this machine (config.json lambda.python)"));
      }
    } else if (runtime.starts_with("nodejs")) {
      if (!OnPath(options_.node)) {
        return InvalidParameter(StrCat("Sluice runs ", runtime, " functions with ", options_.node,
                                       ", which is not installed on this machine"));
      }
    } else if (!runtime.starts_with("provided")) {
      return InvalidParameter(StrCat("Sluice cannot run ", runtime,
                                     " functions: it ships runtimes for python3.x, nodejs (with node installed) and "
                                     "provided.al2/provided.al2023 (a bootstrap in the zip)"));
    }
    config["Runtime"] = runtime;
  } else if (create && in.value("PackageType", "Zip") == "Zip") {
    return InvalidParameter("Runtime and Handler are mandatory parameters for functions created with deployment "
                            "packages.");
  }
  if (in.contains("PackageType") && in["PackageType"] != "Zip") {
    return LambdaStatus(absl::StatusCode::kUnimplemented, "NotImplemented",
                        "Container image functions (PackageType Image) are not implemented in Sluice");
  }
  if (in.contains("Handler")) {
    std::string h = in["Handler"].get<std::string>();
    if (h.empty() || h.size() > 128 || std::any_of(h.begin(), h.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
      return Validation(h, "handler", "Member must satisfy regular expression pattern: [^\\s]+");
    }
    config["Handler"] = h;
  } else if (create && !config.value("Runtime", "").starts_with("provided")) {
    return InvalidParameter("Runtime and Handler are mandatory parameters for functions created with deployment "
                            "packages.");
  }
  if (in.contains("Role")) {
    std::string role = in["Role"].get<std::string>();
    if (!role.starts_with("arn:aws:iam::") || role.find(":role/") == std::string::npos) {
      return Validation(role, "role",
                        "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+");
    }
    config["Role"] = role;
  }
  if (in.contains("Description")) {
    std::string d = in["Description"].get<std::string>();
    if (d.size() > 256) return Validation(d, "description", "Member must have length less than or equal to 256");
    config["Description"] = d;
  }
  if (in.contains("Timeout")) {
    int t = in["Timeout"].get<int>();
    if (t < 1) return Validation(StrCat(t), "timeout", "Member must have value greater than or equal to 1");
    if (t > 900) return Validation(StrCat(t), "timeout", "Member must have value less than or equal to 900");
    config["Timeout"] = t;
  }
  if (in.contains("MemorySize")) {
    int m = in["MemorySize"].get<int>();
    if (m < 128) return Validation(StrCat(m), "memorySize", "Member must have value greater than or equal to 128");
    if (m > 10240) return Validation(StrCat(m), "memorySize", "Member must have value less than or equal to 10240");
    config["MemorySize"] = m;
  }
  if (in.contains("EphemeralStorage")) {
    int size = in["EphemeralStorage"].value("Size", 512);
    if (size < 512 || size > 10240) {
      return Validation(StrCat(size), "ephemeralStorage.size", "Member must have value between 512 and 10240");
    }
    config["EphemeralStorage"] = {{"Size", size}};
  }
  if (in.contains("Architectures")) {
    const Json& a = in["Architectures"];
    if (!a.is_array() || a.size() != 1 || (a[0] != "x86_64" && a[0] != "arm64")) {
      return Validation(a.dump(), "architectures", "Member must have length less than or equal to 1");
    }
    config["Architectures"] = a;
  }
  if (in.contains("Environment")) {
    Json vars = in["Environment"].value("Variables", Json::object());
    std::vector<std::string> reserved;
    size_t size = 0;
    for (auto& [k, v] : vars.items()) {
      if (!v.is_string()) return InvalidParameter(StrCat("Environment variable ", k, " must be a string"));
      if (ReservedEnvironmentKeys().contains(k)) reserved.push_back(k);
      bool ok = !k.empty() && std::isalpha(static_cast<unsigned char>(k[0])) &&
                std::all_of(k.begin(), k.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
      if (!ok) {
        return Validation(k, "environment.variables",
                          "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: "
                          "[a-zA-Z]([a-zA-Z0-9_])+]");
      }
      size += k.size() + v.get<std::string>().size();
    }
    if (!reserved.empty()) {
      return InvalidParameter(StrCat("Lambda was unable to configure your environment variables because the "
                                     "environment variables you have provided contains reserved keys that are "
                                     "currently not supported for modification. Reserved keys used in this request: ",
                                     Join(reserved, ", ")));
    }
    if (size > 4096) {
      return InvalidParameter(StrCat("Lambda was unable to configure your environment variables because the "
                                     "environment variables you have provided exceeded the 4KB limit. String "
                                     "measured: ", vars.dump()));
    }
    config["Environment"] = {{"Variables", vars}};
  }
  if (in.contains("Layers")) {
    const Json& layers = in["Layers"];
    if (!layers.is_array() || layers.size() > 5) {
      return InvalidParameter("Cannot reference more than 5 layers.");
    }
    Json out = Json::array();
    for (const auto& arn : layers) {
      ASSIGN_OR_RETURN(Json layer, LayerVersionByArn(arn.get<std::string>()));
      out.push_back({{"Arn", layer["LayerVersionArn"]}, {"CodeSize", layer["Content"]["CodeSize"]}});
    }
    if (out.empty()) {
      config.erase("Layers");
    } else {
      config["Layers"] = out;
    }
  }
  for (const char* member : {"DeadLetterConfig", "TracingConfig", "KMSKeyArn", "VpcConfig", "LoggingConfig"}) {
    if (in.contains(member)) config[member] = in[member];
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> LambdaService::FetchZip(const Json& in) {
  std::string zip;
  if (in.contains("ZipFile")) {
    auto decoded = Base64Decode(in["ZipFile"].get<std::string>());
    if (!decoded) return InvalidParameter("ZipFile is not valid base64");
    zip = std::move(*decoded);
  } else if (in.contains("S3Bucket") || in.contains("S3Key")) {
    std::string bucket = in.value("S3Bucket", ""), key = in.value("S3Key", "");
    if (!options_.code_fetcher) return InvalidParameter("S3 is not available to fetch function code from");
    auto object = options_.code_fetcher(bucket, key, in.value("S3ObjectVersion", ""));
    if (!object.ok()) {
      return InvalidParameter(StrCat("Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: ",
                                     object.status().message()));
    }
    zip = std::move(*object);
  } else if (in.contains("ImageUri")) {
    return LambdaStatus(absl::StatusCode::kUnimplemented, "NotImplemented",
                        "Container image functions (ImageUri) are not implemented in Sluice");
  } else {
    return InvalidParameter("Please provide a source for function code.");
  }
  if (zip.size() > kMaxZip) {
    return LambdaStatus(absl::StatusCode::kOutOfRange, "RequestEntityTooLargeException",
                        StrCat("Zipped size must be smaller than ", kMaxZip, " bytes"));
  }
  return zip;
}

absl::Status LambdaService::UnzipInto(const std::string& zip, const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  absl::Status st = Unzip(zip, dir, kMaxUnzipped);
  if (!st.ok()) {
    std::filesystem::remove_all(dir, ec);
    if (absl::IsOutOfRange(st)) return InvalidParameter(StrCat("Unzipped size must be smaller than ", kMaxUnzipped, " bytes"));
    if (absl::IsInvalidArgument(st)) {
      return InvalidParameter("Could not unzip uploaded file. Please check your file, then try to upload again.");
    }
  }
  return st;
}

absl::Status LambdaService::InstallCode(const std::string& name, int64_t revision, const Json& in, Json& config) {
  ASSIGN_OR_RETURN(std::string zip, FetchZip(in));
  RETURN_IF_ERROR(UnzipInto(zip, CodeDir(name, revision)));
  config["CodeSize"] = zip.size();
  config["CodeSha256"] = Base64Encode(Sha256(zip));
  return absl::OkStatus();
}

absl::StatusOr<Json> LambdaService::CreateFunction(const Json& in) {
  std::string name = in.value("FunctionName", "");
  if (!ValidName(name)) {
    // CreateFunction also takes ARNs; anything else is refused by the pattern.
    ASSIGN_OR_RETURN(name, ResolveName(name));
  }
  Json config = {{"FunctionName", name},
                 {"FunctionArn", Arn(name)},
                 {"Role", ""},
                 {"Description", ""},
                 {"Timeout", 3},
                 {"MemorySize", 128},
                 {"Version", "$LATEST"},
                 {"TracingConfig", {{"Mode", "PassThrough"}}},
                 {"PackageType", "Zip"},
                 {"Architectures", {"x86_64"}},
                 {"EphemeralStorage", {{"Size", 512}}},
                 {"SnapStart", {{"ApplyOn", "None"}, {"OptimizationStatus", "Off"}}},
                 {"LoggingConfig", {{"LogFormat", "Text"}, {"LogGroup", StrCat("/aws/lambda/", name)}}}};
  RETURN_IF_ERROR(ApplyConfiguration(in, config, /*create=*/true));
  if (!in.contains("Code") || !in["Code"].is_object()) return InvalidParameter("Please provide a source for function code.");
  {
    std::lock_guard lock(mu_);
    if (functions_.contains(name)) {
      return LambdaStatus(absl::StatusCode::kAlreadyExists, "ResourceConflictException",
                          StrCat("Function already exist: ", name));
    }
  }
  Function f;
  f.name = name;
  f.revision = f.code_revision = 1;
  RETURN_IF_ERROR(InstallCode(name, f.code_revision, in["Code"], config));
  config["LastModified"] = LastModified(absl::Now());
  config["RevisionId"] = NewUuid();
  config["State"] = "Active";
  config["LastUpdateStatus"] = "Successful";
  f.config = config;
  if (in.contains("Tags")) f.tags = in["Tags"].get<std::map<std::string, std::string>>();
  {
    std::lock_guard lock(mu_);
    if (functions_.contains(name)) {
      return LambdaStatus(absl::StatusCode::kAlreadyExists, "ResourceConflictException", StrCat("Function already exist: ", name));
    }
    RETURN_IF_ERROR(Persist(f));
    functions_[name] = f;
  }
  if (in.value("Publish", false)) return PublishVersion(name, Json::object());  // returns version 1
  return config;
}

absl::StatusOr<Json> LambdaService::GetFunctionConfiguration(const std::string& name) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Target t, Resolve(name));
  return t.snapshot.config;
}

absl::StatusOr<Json> LambdaService::GetFunction(const std::string& name) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Target t, Resolve(name));
  const Function* f = &t.snapshot;
  // Code.Location (a presigned URL of the package on AWS) is left out: Sluice keeps the
  // unpacked code, not the zip.
  Json out = {{"Configuration", f->config}, {"Code", {{"RepositoryType", "S3"}}}, {"Tags", f->tags}};
  if (f->reserved_concurrency) out["Concurrency"] = {{"ReservedConcurrentExecutions", *f->reserved_concurrency}};
  return out;
}

absl::StatusOr<Json> LambdaService::ListFunctions(const std::string& marker, int max_items, bool all_versions) {
  if (max_items <= 0 || max_items > 50) max_items = 50;
  std::lock_guard lock(mu_);
  Json out = {{"Functions", Json::array()}};
  int listed = 0;
  for (auto it = functions_.upper_bound(marker); it != functions_.end(); ++it) {
    if (listed == max_items) {
      out["NextMarker"] = std::prev(it)->first;
      break;
    }
    ++listed;
    out["Functions"].push_back(it->second.config);
    if (!all_versions) continue;
    // FunctionVersion=ALL: the published versions too, oldest first.
    std::map<int64_t, Json> versions;
    for (const auto& [v, doc] : it->second.versions.items()) {
      int64_t n = 0;
      ParseNumber(v, &n);
      versions[n] = doc["config"];
    }
    for (auto& [n, c] : versions) out["Functions"].push_back(c);
  }
  return out;
}

absl::Status LambdaService::DeleteFunction(const std::string& function) {
  std::string name;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(Function * f, Find(function));
    name = f->name;
    RETURN_IF_ERROR(writer_->Write([name](SqliteDb& db) -> absl::Status {
      ASSIGN_OR_RETURN(SqliteStmt * q, db.Prepare("DELETE FROM functions WHERE name=?"));
      return q->Bind(1, name).Run();
    }));
    functions_.erase(name);
  }
  DropIdleWorkers(name);
  std::error_code ec;
  std::filesystem::remove_all(StrCat(dir_, "/functions/", name), ec);
  return absl::OkStatus();
}

absl::StatusOr<Json> LambdaService::UpdateFunctionCode(const std::string& function, const Json& in) {
  Function copy;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(Function * f, Find(function));
    RETURN_IF_ERROR(CheckRevisionId(in, f->config["RevisionId"], "GetFunction/GetAlias"));
    copy = *f;
  }
  if (in.contains("Architectures")) {
    Json arch = {{"Architectures", in["Architectures"]}};
    RETURN_IF_ERROR(ApplyConfiguration(arch, copy.config, false));
  }
  int64_t code_revision = copy.code_revision + 1;
  RETURN_IF_ERROR(InstallCode(copy.name, code_revision, in, copy.config));
  if (in.value("DryRun", false)) {
    std::error_code ec;
    std::filesystem::remove_all(CodeDir(copy.name, code_revision), ec);
    return copy.config;
  }
  int64_t old_code = 0;
  Json out;
  {
    std::lock_guard lock(mu_);
    auto it = functions_.find(copy.name);
    if (it == functions_.end()) return LambdaStatus(absl::StatusCode::kNotFound, "ResourceNotFoundException", StrCat("Function not found: ", Arn(copy.name)));
    Function f = it->second;
    old_code = f.code_revision;
    f.code_revision = std::max(code_revision, f.code_revision + 1);
    if (f.code_revision != code_revision) std::filesystem::rename(CodeDir(f.name, code_revision), CodeDir(f.name, f.code_revision));
    f.revision++;
    for (const char* k : {"CodeSize", "CodeSha256", "Architectures"}) f.config[k] = copy.config[k];
    f.config["LastModified"] = LastModified(absl::Now());
    f.config["RevisionId"] = NewUuid();
    f.config["LastUpdateStatus"] = "Successful";
    RETURN_IF_ERROR(Persist(f));
    it->second = f;
    out = f.config;
  }
  DropIdleWorkers(copy.name);
  // Busy workers of the old code finish their invocation first; the folder before the
  // old one is surely unused by now.
  {
    std::lock_guard lock(mu_);
    auto it = functions_.find(copy.name);
    bool kept = false;  // published versions keep their code
    if (it != functions_.end()) {
      for (const auto& [v, version] : it->second.versions.items()) kept = kept || version.value("code_revision", int64_t{0}) == old_code - 1;
    }
    std::error_code ec;
    if (!kept) std::filesystem::remove_all(CodeDir(copy.name, old_code - 1), ec);
  }
  if (in.value("Publish", false)) return PublishVersion(copy.name, Json::object());
  return out;
}

absl::StatusOr<Json> LambdaService::UpdateFunctionConfiguration(const std::string& function, const Json& in) {
  Json out;
  std::string name;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(Function * f, Find(function));
    RETURN_IF_ERROR(CheckRevisionId(in, f->config["RevisionId"], "GetFunction/GetAlias"));
    Function copy = *f;
    RETURN_IF_ERROR(ApplyConfiguration(in, copy.config, false));
    copy.revision++;
    copy.config["LastModified"] = LastModified(absl::Now());
    copy.config["RevisionId"] = NewUuid();
    copy.config["LastUpdateStatus"] = "Successful";
    RETURN_IF_ERROR(Persist(copy));
    *f = copy;
    out = copy.config;
    name = copy.name;
  }
  DropIdleWorkers(name);
  return out;
}

absl::StatusOr<Json> LambdaService::ListTags(const std::string& arn) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(arn));
  return Json{{"Tags", f->tags}};
}

absl::Status LambdaService::TagResource(const std::string& arn, const Json& tags) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(arn));
  Function copy = *f;
  for (auto& [k, v] : tags.items()) copy.tags[k] = v.get<std::string>();
  if (copy.tags.size() > 50) return InvalidParameter("Number of tags exceeds resource tag limit.");
  RETURN_IF_ERROR(Persist(copy));
  *f = copy;
  return absl::OkStatus();
}

absl::Status LambdaService::UntagResource(const std::string& arn, const std::vector<std::string>& keys) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(arn));
  Function copy = *f;
  for (const auto& k : keys) copy.tags.erase(k);
  RETURN_IF_ERROR(Persist(copy));
  *f = copy;
  return absl::OkStatus();
}

absl::StatusOr<Json> LambdaService::PutFunctionEventInvokeConfig(const std::string& function, const Json& in, bool merge) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  Json c = merge && f->event_invoke_config.is_object() ? f->event_invoke_config : Json::object();
  if (in.contains("MaximumRetryAttempts")) {
    int n = in["MaximumRetryAttempts"].get<int>();
    if (n < 0 || n > 2) return Validation(StrCat(n), "maximumRetryAttempts", "Member must have value less than or equal to 2");
    c["MaximumRetryAttempts"] = n;
  }
  if (in.contains("MaximumEventAgeInSeconds")) {
    int n = in["MaximumEventAgeInSeconds"].get<int>();
    if (n < 60 || n > 21600) {
      return Validation(StrCat(n), "maximumEventAgeInSeconds", "Member must have value between 60 and 21600");
    }
    c["MaximumEventAgeInSeconds"] = n;
  }
  if (in.contains("DestinationConfig")) {
    for (const char* which : {"OnSuccess", "OnFailure"}) {
      std::string dest = in["DestinationConfig"].contains(which) ? in["DestinationConfig"][which].value("Destination", "") : "";
      if (!dest.empty() && !dest.starts_with("arn:aws:sqs:") && !dest.starts_with("arn:aws:sns:") &&
          !dest.starts_with("arn:aws:lambda:") && !dest.starts_with("arn:aws:events:")) {
        return InvalidParameter(StrCat("The destination ARN ", dest, " is invalid."));
      }
    }
    c["DestinationConfig"] = in["DestinationConfig"];
  }
  c["FunctionArn"] = StrCat(Arn(f->name), ":$LATEST");
  c["LastModified"] = EpochSeconds(absl::Now());
  Function copy = *f;
  copy.event_invoke_config = c;
  RETURN_IF_ERROR(Persist(copy));
  *f = copy;
  return c;
}

absl::StatusOr<Json> LambdaService::GetFunctionEventInvokeConfig(const std::string& function) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  if (!f->event_invoke_config.is_object()) {
    return LambdaStatus(absl::StatusCode::kNotFound, "ResourceNotFoundException",
                        StrCat("The function ", Arn(f->name), " doesn't have an EventInvokeConfig"));
  }
  return f->event_invoke_config;
}

absl::Status LambdaService::DeleteFunctionEventInvokeConfig(const std::string& function) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  if (!f->event_invoke_config.is_object()) {
    return LambdaStatus(absl::StatusCode::kNotFound, "ResourceNotFoundException",
                        StrCat("The function ", Arn(f->name), " doesn't have an EventInvokeConfig"));
  }
  Function copy = *f;
  copy.event_invoke_config = Json();
  RETURN_IF_ERROR(Persist(copy));
  *f = copy;
  return absl::OkStatus();
}

absl::StatusOr<Json> LambdaService::PutFunctionConcurrency(const std::string& function, const Json& in) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  int n = in.value("ReservedConcurrentExecutions", -1);
  if (n < 0) return Validation(StrCat(n), "reservedConcurrentExecutions", "Member must have value greater than or equal to 0");
  if (n > options_.concurrency_limit) {
    return InvalidParameter(StrCat("Specified ReservedConcurrentExecutions for function decreases account's "
                                   "UnreservedConcurrentExecution below its minimum value of [0]."));
  }
  Function copy = *f;
  copy.reserved_concurrency = n;
  RETURN_IF_ERROR(Persist(copy));
  *f = copy;
  return Json{{"ReservedConcurrentExecutions", n}};
}

absl::StatusOr<Json> LambdaService::GetFunctionConcurrency(const std::string& function) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  if (!f->reserved_concurrency) return Json::object();
  return Json{{"ReservedConcurrentExecutions", *f->reserved_concurrency}};
}

absl::Status LambdaService::DeleteFunctionConcurrency(const std::string& function) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  Function copy = *f;
  copy.reserved_concurrency.reset();
  RETURN_IF_ERROR(Persist(copy));
  *f = copy;
  return absl::OkStatus();
}

Json LambdaService::GetAccountSettings() {
  std::lock_guard lock(mu_);
  int64_t code_size = 0;
  for (const auto& [n, f] : functions_) code_size += f.config.value("CodeSize", int64_t{0});
  return {{"AccountLimit",
           {{"TotalCodeSize", 80530636800},
            {"CodeSizeUnzipped", kMaxUnzipped},
            {"CodeSizeZipped", kMaxZip},
            {"ConcurrentExecutions", options_.concurrency_limit},
            {"UnreservedConcurrentExecutions", options_.concurrency_limit}}},
          {"AccountUsage", {{"TotalCodeSize", code_size}, {"FunctionCount", functions_.size()}}}};
}

absl::StatusOr<Json> LambdaService::AddPermission(const std::string& function, const Json& in) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  std::string sid = in.value("StatementId", ""), principal = in.value("Principal", ""), action = in.value("Action", "");
  if (sid.empty() || principal.empty() || action.empty()) {
    return InvalidParameter("StatementId, Action and Principal are required");
  }
  RETURN_IF_ERROR(CheckRevisionId(in, f->config["RevisionId"], "GetPolicy"));
  for (const auto& st : f->policy_statements) {
    if (st.value("Sid", "") == sid) {
      return LambdaStatus(absl::StatusCode::kAlreadyExists, "ResourceConflictException",
                          StrCat("The statement id (", sid, ") provided already exists. Please provide a new statement "
                                 "id, or remove the existing statement."));
    }
  }
  Json who;
  if (principal == "*") {
    who = "*";
  } else if (principal.find(".amazonaws.com") != std::string::npos) {
    who = {{"Service", principal}};
  } else {
    who = {{"AWS", std::all_of(principal.begin(), principal.end(), ::isdigit) ? StrCat("arn:aws:iam::", principal, ":root")
                                                                               : principal}};
  }
  Json st = {{"Sid", sid}, {"Effect", "Allow"}, {"Principal", who},
             {"Action", action.find(':') == std::string::npos ? StrCat("lambda:", action) : action},
             {"Resource", Arn(f->name)}};
  Json condition = Json::object();
  if (in.contains("SourceArn")) condition["ArnLike"] = {{"AWS:SourceArn", in["SourceArn"]}};
  if (in.contains("SourceAccount")) condition["StringEquals"]["AWS:SourceAccount"] = in["SourceAccount"];
  if (in.contains("PrincipalOrgID")) condition["StringEquals"]["aws:PrincipalOrgID"] = in["PrincipalOrgID"];
  if (in.contains("FunctionUrlAuthType")) condition["StringEquals"]["lambda:FunctionUrlAuthType"] = in["FunctionUrlAuthType"];
  if (!condition.empty()) st["Condition"] = condition;
  Function copy = *f;
  copy.policy_statements.push_back(st);
  copy.config["RevisionId"] = NewUuid();
  RETURN_IF_ERROR(Persist(copy));
  *f = copy;
  return Json{{"Statement", st.dump()}};
}

absl::StatusOr<Json> LambdaService::GetPolicy(const std::string& function) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  if (f->policy_statements.empty()) {
    return LambdaStatus(absl::StatusCode::kNotFound, "ResourceNotFoundException", "The resource you requested does not exist.");
  }
  Json doc = {{"Version", "2012-10-17"}, {"Id", "default"}, {"Statement", f->policy_statements}};
  return Json{{"Policy", doc.dump()}, {"RevisionId", f->config.value("RevisionId", "")}};
}

absl::Status LambdaService::RemovePermission(const std::string& function, const std::string& sid) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(Function * f, Find(function));
  Function copy = *f;
  auto& sts = copy.policy_statements;
  auto it = std::find_if(sts.begin(), sts.end(), [&](const Json& st) { return st.value("Sid", "") == sid; });
  if (it == sts.end()) {
    return LambdaStatus(absl::StatusCode::kNotFound, "ResourceNotFoundException",
                        StrCat("Statement ", sid, " is not found in resource policy."));
  }
  sts.erase(it);
  copy.config["RevisionId"] = NewUuid();
  RETURN_IF_ERROR(Persist(copy));
  *f = copy;
  return absl::OkStatus();
}

absl::StatusOr<std::string> LambdaService::FunctionLogs(const std::string& function) {
  std::string name;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(Function * f, Find(function));
    name = f->name;
  }
  std::vector<std::pair<std::filesystem::file_time_type, std::string>> streams;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(StrCat(dir_, "/logs/", name), ec)) {
    streams.emplace_back(e.last_write_time(ec), e.path().string());
  }
  std::sort(streams.begin(), streams.end());
  std::string out;
  for (const auto& [t, path] : streams) {
    auto text = ReadFile(path);
    if (text.ok()) out += *text;
  }
  return out;
}

}  // namespace sluice::lambda
