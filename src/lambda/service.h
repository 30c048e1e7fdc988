#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "io/sqlite.h"
#include "lambda/esm.h"
#include "lambda/lambda.h"
#include "lambda/worker.h"
#include "nlohmann/json.hpp"

// The Lambda engine behind the API adapter (lambda_api.cc): function definitions, the
// worker pools that run them, and the queue of asynchronous invocations.
//
// Threading: one mutex (mu_) guards the function table and the pools; worker processes
// are started and invocations run outside it. Writes go through a SqliteGroupWriter
// (lambda.db) and are durable before the call returns.
namespace sluice::lambda {

using Json = nlohmann::json;

// A Status carrying Lambda's error code (as the payload "lambda-code").
absl::Status LambdaStatus(absl::StatusCode base, const std::string& code, const std::string& message);
// PreconditionFailedException when the request names a RevisionId other than `current`;
// `get_api` names the call that reads the latest one ("" for none).
absl::Status CheckRevisionId(const Json& in, const Json& current, const std::string& get_api);

struct Function {
  std::string name;
  Json config;  // FunctionConfiguration as GetFunctionConfiguration returns it
  std::map<std::string, std::string> tags;
  Json event_invoke_config;  // null when none was put
  Json policy_statements = Json::array();  // AddPermission's statements
  Json versions = Json::object();  // "1" -> {"config": ..., "code_revision": n}
  Json aliases = Json::object();   // name -> AliasConfiguration
  int64_t last_version = 0;
  std::optional<int> reserved_concurrency;
  int64_t revision = 0;       // bumped by every update: workers of older revisions retire
  int64_t code_revision = 0;  // names the code folder; bumped by code updates
  Json ToJson() const;
  static Function FromJson(const Json& j);
};

class LambdaService {
 public:
  static absl::StatusOr<std::unique_ptr<LambdaService>> Open(const std::string& dir, LambdaOptions options);
  ~LambdaService();
  void SetEndpoint(const std::string& endpoint);
  void Stop();

  // Control plane; inputs and outputs in the REST-JSON shapes of the botocore model.
  absl::StatusOr<Json> CreateFunction(const Json& in);
  absl::StatusOr<Json> GetFunction(const std::string& name);
  absl::StatusOr<Json> GetFunctionConfiguration(const std::string& name);
  absl::StatusOr<Json> ListFunctions(const std::string& marker, int max_items, bool all_versions);
  absl::Status DeleteFunction(const std::string& name);
  absl::StatusOr<Json> UpdateFunctionCode(const std::string& name, const Json& in);
  absl::StatusOr<Json> UpdateFunctionConfiguration(const std::string& name, const Json& in);
  absl::StatusOr<Json> ListTags(const std::string& arn);
  absl::Status TagResource(const std::string& arn, const Json& tags);
  absl::Status UntagResource(const std::string& arn, const std::vector<std::string>& keys);
  absl::StatusOr<Json> PutFunctionEventInvokeConfig(const std::string& name, const Json& in, bool merge);
  absl::StatusOr<Json> GetFunctionEventInvokeConfig(const std::string& name);
  absl::Status DeleteFunctionEventInvokeConfig(const std::string& name);
  absl::StatusOr<Json> PutFunctionConcurrency(const std::string& name, const Json& in);
  absl::StatusOr<Json> GetFunctionConcurrency(const std::string& name);
  absl::Status DeleteFunctionConcurrency(const std::string& name);
  Json GetAccountSettings();
  // Resource policy statements (kept and returned; Sluice does not enforce IAM).
  absl::StatusOr<Json> AddPermission(const std::string& name, const Json& in);
  absl::StatusOr<Json> GetPolicy(const std::string& name);
  absl::Status RemovePermission(const std::string& name, const std::string& sid);
  // The function's log streams, oldest first, concatenated (sluice logs function).
  absl::StatusOr<std::string> FunctionLogs(const std::string& name);
  // Versions and aliases (versions.cc).
  absl::StatusOr<Json> PublishVersion(const std::string& name, const Json& in);
  absl::StatusOr<Json> ListVersionsByFunction(const std::string& name);
  absl::Status DeleteVersion(const std::string& name, const std::string& version);
  absl::StatusOr<Json> CreateAlias(const std::string& name, const Json& in);
  absl::StatusOr<Json> GetAlias(const std::string& name, const std::string& alias);
  absl::StatusOr<Json> UpdateAlias(const std::string& name, const std::string& alias, const Json& in);
  absl::Status DeleteAlias(const std::string& name, const std::string& alias);
  absl::StatusOr<Json> ListAliases(const std::string& name);
  absl::StatusOr<Json> UpdateAliasDoc(const Function& f, Json alias, const Json& in);
  // Layers (layers.cc).
  absl::StatusOr<Json> PublishLayerVersion(const std::string& layer, const Json& in);
  absl::StatusOr<Json> GetLayerVersion(const std::string& layer, int64_t version);
  absl::StatusOr<Json> ListLayerVersions(const std::string& layer);
  Json ListLayers();
  absl::Status DeleteLayerVersion(const std::string& layer, int64_t version);
  absl::StatusOr<Json> LayerVersionByArn(const std::string& arn);

  absl::StatusOr<LambdaInvokeResult> Invoke(const std::string& function, std::string payload, InvocationType type,
                                            bool tail_log);
  absl::StatusOr<std::string> FunctionArn(const std::string& function);
  EventSourceMappings& mappings() { return *esm_; }

 private:
  LambdaService(std::string dir, LambdaOptions options) : dir_(std::move(dir)), options_(std::move(options)) {}
  absl::Status Load();
  absl::Status LoadLayers(SqliteDb& db);
  // Resolves a name, ARN or partial ARN to a function name. Without `qualifier` only $LATEST
  // (or none) is accepted; with it, the qualifier is returned.
  absl::StatusOr<std::string> ResolveName(const std::string& function, std::string* qualifier = nullptr) const;
  // What a (possibly qualified) function name runs: $LATEST, a version, or an alias's version
  // (weighted routing rolled here). REQUIRES: mu_ held.
  struct Target {
    Function snapshot;    // config and code of the version
    std::string key;      // the worker pool: "name" or "name:version"
    std::string version;  // "$LATEST" or "3"
  };
  absl::StatusOr<Target> Resolve(const std::string& function);
  std::string Arn(const std::string& name) const;
  absl::Status Persist(const Function& f);
  absl::StatusOr<Function*> Find(const std::string& function);  // REQUIRES: mu_ held
  // Validates and applies the configuration members of `in` to `config`.
  absl::Status ApplyConfiguration(const Json& in, Json& config, bool create);
  // Unpacks the code of `in` (ZipFile or S3Bucket/S3Key) into the folder of `revision`.
  absl::Status InstallCode(const std::string& name, int64_t revision, const Json& in, Json& config);
  std::string CodeDir(const std::string& name, int64_t revision) const;
  absl::StatusOr<std::string> FetchZip(const Json& code);  // ZipFile, or S3Bucket/S3Key
  absl::Status UnzipInto(const std::string& zip, const std::string& dir);  // AWS's errors
  // Layers (layers.cc): the layer version an ARN names, and the function's /opt (its layers
  // merged in order, built once per revision).
  absl::StatusOr<std::string> OptDir(const Function& f);

  // Execution.
  struct Pool {
    std::vector<std::unique_ptr<Worker>> idle;
    int busy = 0;
  };
  struct Lease {
    std::unique_ptr<Worker> worker;
    Function snapshot;
    std::string key, version;
  };
  absl::StatusOr<Lease> Acquire(const std::string& function);
  void Release(Lease& lease);
  absl::StatusOr<std::unique_ptr<Worker>> StartWorker(const Function& f);
  std::string PythonExecutable();  // options_.python resolved to the interpreter it runs
  std::vector<std::string> WorkerEnvironment(const Function& f, const std::string& stream, const std::string& tmp,
                                             const std::string& opt) const;
  // Runs one invocation synchronously on a leased worker.
  LambdaInvokeResult Run(Lease& lease, const std::string& request_id, const std::string& payload);
  void DropIdleWorkers(const std::string& name);  // after an update or a delete

  // Asynchronous invocations.
  absl::Status Enqueue(const std::string& name, const std::string& payload);
  void DispatchLoop();
  void Dispatch(int64_t id);
  void SendToDestination(const Function& f, const std::string& condition, const std::string& request_id,
                         const std::string& payload, const LambdaInvokeResult& result, int attempts);

  const std::string dir_;
  const LambdaOptions options_;
  std::string endpoint_;
  std::unique_ptr<SqliteGroupWriter> writer_;
  std::unique_ptr<Spawner> spawner_;
  std::unique_ptr<EventSourceMappings> esm_;
  std::set<Worker*> busy_;  // leased workers, aborted by Stop
  std::mutex layers_mu_;      // guards layers_ (taken inside mu_ or alone)
  std::map<std::string, std::map<int64_t, Json>> layers_;  // name -> version -> LayerVersion doc
  std::mutex opt_mu_;         // serializes building /opt folders
  std::once_flag python_once_;
  std::string python_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Function> functions_;
  std::map<std::string, Pool> pools_;
  int running_ = 0;  // workers alive, all functions
  struct AsyncItem {
    std::string request_id, function, payload;
    int attempts = 0;
    int64_t next_ms = 0, created_ms = 0;
    bool running = false;
  };
  std::map<int64_t, AsyncItem> queue_;
  int64_t next_async_id_ = 1;
  bool stopping_ = false;
  std::vector<std::thread> dispatchers_;
};

}  // namespace sluice::lambda
