#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/router.h"
#include "io/sqlite.h"
#include "nlohmann/json.hpp"

// Step Functions: state machines (STANDARD and EXPRESS), executions and their history,
// task tokens, and the service integrations tasks dispatch to in-process.
//
// STANDARD executions are durable: the execution document, a checkpoint (the state about
// to be entered and its input) and every history event are written through a
// group-committing SQLite writer (<dir>/states.db) before the state runs; after a restart
// RUNNING executions resume at their checkpoint (a Wait keeps its deadline, since the
// deadline is computed from the entered time recorded in the checkpoint). EXPRESS
// executions (StartSyncExecution, or StartExecution on an EXPRESS machine) run in memory.
// Each running execution has a thread; waits sleep on a condition variable, so
// StopExecution and Stop() wake them. Thread-safe.
namespace sluice {

using Json = nlohmann::json;

struct StatesOptions {
  std::string region = "us-east-1";
  std::string account = "000000000000";
};

// An optimized integration (arn:aws:states:::<service>:<action>[.sync|.waitForTaskToken]):
// runs `action` with the task's parameters. `mode` is "", "sync" or "sync:2"; for .sync the
// integration waits for the job itself (polling), returning early with Cancelled when
// `stopped()`; after `deadline` it returns a States.Timeout error. Errors name their ASL
// error (states::StatesError).
// What a task started (a job run id), kept in the execution's checkpoint: after a restart the
// task waits for the same job instead of starting another one.
struct TaskAttachment {
  Json state = Json::object();    // {} until the integration records what it started
  std::function<void()> persist;  // makes `state` durable (before the integration waits)
};
using Integration = std::function<absl::StatusOr<Json>(const std::string& action, const std::string& mode,
                                                       const Json& parameters, absl::Time deadline,
                                                       const std::function<bool()>& stopped,
                                                       TaskAttachment& attachment)>;
// An AWS SDK integration (arn:aws:states:::aws-sdk:<service>:<action>): the service's API
// action (PascalCase) with the parameters as its request.
using SdkService = std::function<absl::StatusOr<Json>(const std::string& action, const Json& input)>;
// Reads a Map state's ItemReader (s3:getObject of JSON / CSV, s3:listObjectsV2) with its
// Parameters already evaluated.
using ItemReader = std::function<absl::StatusOr<Json>(const Json& reader)>;
// Writes a Map state's results (ResultWriter, Parameters evaluated) under a run id;
// returns ResultWriterDetails.
using ResultWriter = std::function<absl::StatusOr<Json>(const Json& writer, const std::string& run_id,
                                                        const Json& succeeded, const Json& failed)>;

class StepFunctions {
 public:
  static absl::StatusOr<std::unique_ptr<StepFunctions>> Open(const std::string& dir, StatesOptions options);
  ~StepFunctions();
  // Registrations happen before Resume() and before requests are served.
  void RegisterIntegration(const std::string& service, Integration integration);
  void RegisterSdk(const std::string& service, SdkService sdk);
  void RegisterItemReader(ItemReader reader) { item_reader_ = std::move(reader); }
  void RegisterResultWriter(ResultWriter writer) { result_writer_ = std::move(writer); }
  // Starts the executions that were RUNNING when the server stopped.
  absl::Status Resume();
  void Stop();

  // The AWSStepFunctions.* actions. Errors carry the AWS code (StatesErrorCode()).
  absl::StatusOr<Json> Call(const std::string& action, const Json& input);

 private:
  struct Execution;
  explicit StepFunctions(StatesOptions options);
  absl::Status Save(const std::string& kind, const std::string& name, const Json& doc);
  absl::StatusOr<Json> Load(const std::string& kind, const std::string& name);
  absl::StatusOr<std::vector<Json>> LoadAll(const std::string& kind);

  absl::StatusOr<Json> CreateStateMachine(const Json& in);
  absl::StatusOr<Json> UpdateStateMachine(const Json& in);
  absl::StatusOr<Json> StartExecution(const Json& in, bool sync);
  absl::StatusOr<Json> DescribeExecution(const Json& in);
  absl::StatusOr<Json> ListExecutions(const Json& in);
  absl::StatusOr<Json> History(const Json& in);
  absl::StatusOr<Json> StopExecution(const Json& in);
  absl::StatusOr<Json> TaskResponse(const std::string& action, const Json& in);
  absl::StatusOr<Json> Activity(const std::string& action, const Json& in);
  absl::StatusOr<Json> MachineByArn(const std::string& arn);

  void Run(std::shared_ptr<Execution> e, std::string start_at, Json input);
  // Starts one stored RUNNING execution again; "" or why it cannot be resumed.
  std::string ResumeOne(const Json& doc);
  // Records a stored execution as FAILED (States.Runtime, `cause`) with its history event.
  void FailStored(Json doc, const std::string& cause);
  void ReapFinished();  // joins the threads of finished executions
  absl::StatusOr<Json> RunTask(Execution& e, const std::string& resource, const Json& parameters, const Json& context,
                               absl::Time deadline, double heartbeat);
  // Makes `token` answerable for `e` (durably, for its checkpointed task); false when it
  // already has its answer (given before a restart).
  bool RegisterToken(Execution& e, const std::string& token, const std::string& state_name);
  absl::StatusOr<Json> WaitForToken(Execution& e, const std::string& token, absl::Time deadline, double heartbeat);
  void AddEvent(Execution& e, const std::string& type, Json details);
  bool Sleep(Execution& e, absl::Time until);
  std::string MachineArn(const std::string& name) const;

  StatesOptions options_;
  std::unique_ptr<SqliteGroupWriter> writer_;
  std::unique_ptr<SqliteReaderPool> readers_;
  std::map<std::string, Integration> integrations_;
  std::map<std::string, SdkService> sdk_;
  ItemReader item_reader_;
  ResultWriter result_writer_;

  std::mutex mu_;
  std::condition_variable cv_;  // wakes sleepers (stop, task tokens)
  bool stopping_ = false;
  std::map<std::string, std::shared_ptr<Execution>> running_;  // by execution ARN; shared with its thread
  struct TokenWait {
    std::optional<absl::StatusOr<Json>> result;
    absl::Time last_heartbeat;
    std::string execution;  // the ARN of the execution that waits
  };
  std::map<std::string, TokenWait> tokens_;
  std::map<std::string, std::thread> threads_;  // by execution ARN, until joined
  std::vector<std::string> finished_;
  std::map<std::string, Json> express_;  // finished EXPRESS executions, in memory (the last 1,000)
  std::deque<std::string> express_order_;
  std::map<std::string, std::vector<std::pair<std::string, Json>>> activities_;  // activity ARN -> queued tasks
};

std::string StatesErrorCode(const absl::Status& status);

// The AWSStepFunctions.* JSON 1.0 route over `sfn`, which must outlive it.
ServiceRoute MakeStatesService(StepFunctions& sfn);

}  // namespace sluice
