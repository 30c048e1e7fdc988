#pragma once

#include <functional>
#include <string>

#include "absl/time/time.h"
#include "base/status.h"
#include "nlohmann/json.hpp"

// Runs an Amazon States Language state machine (JSONPath flavour) over an input: input and
// output processing in AWS's order (InputPath, Parameters, ResultSelector, ResultPath,
// OutputPath), every state type, Retry and Catch, task timeouts. The environment — task
// integrations, the clock, history events, checkpoints — comes in through Hooks, so the
// same code runs durable Standard executions, in-memory Express ones and nested Parallel
// branches and Map iterations. Errors are Status values naming the ASL error (see
// states/language.h ErrorName()). Thread-safe: a Run uses only its arguments.
namespace sluice::states {

using Json = nlohmann::json;

// Bounds on the data a state produces (its output, a task's result): AWS's 256 KiB payload
// quota, and the nesting depth every Sluice API accepts (base/json.h kMaxJsonDepth). Beyond
// them the execution fails with States.DataLimitExceeded.
inline constexpr int kMaxStateDataDepth = 128;
inline constexpr size_t kMaxStateDataBytes = 262144;
// Fails with States.DataLimitExceeded when `data` exceeds those bounds; `what` names it.
absl::Status CheckStateData(const Json& data, const std::string& what);

struct Hooks {
  // Appends a history event of `type` ("TaskStateEntered") with its details object.
  std::function<void(const std::string& type, Json details)> event;
  // Runs a Task's resource with its effective parameters; `context` is the context object
  // ($$, with Task.Token set for .waitForTaskToken and activities). `deadline` is when the
  // task times out; `heartbeat` (seconds, 0: none) how long it may go without a heartbeat.
  std::function<absl::StatusOr<Json>(const std::string& resource, const Json& parameters, const Json& context,
                                     absl::Time deadline, double heartbeat)>
      task;
  // A new task token (for $$.Task.Token).
  std::function<std::string()> new_token;
  // Sleeps until `until` (Wait states, retry intervals); false when the execution stops.
  std::function<bool(absl::Time until)> sleep;
  // Called before a top-level state is entered, with its name and input (durability).
  std::function<void(const std::string& state, const Json& input)> checkpoint;
  // Reads Map ItemReader items (S3 JSON / CSV / listing).
  std::function<absl::StatusOr<Json>(const Json& reader, const Json& input)> read_items;
  // Writes a Map state's results for its ResultWriter; returns the state's result
  // (MapRunArn and ResultWriterDetails).
  std::function<absl::StatusOr<Json>(const Json& writer, const Json& input, const Json& succeeded, const Json& failed)>
      write_results;
  std::function<bool()> stopped;
};

class Interpreter {
 public:
  // `machine` is a validated definition (or a branch / item processor: StartAt + States).
  Interpreter(const Json& machine, Hooks& hooks)
      : machine_(machine), hooks_(hooks), reads_context_(machine.dump().find("$$") != std::string::npos) {}
  // Runs from `start_at` (default: StartAt) with `input`; `context` is $$ (Execution,
  // StateMachine; State is filled here). Returns the machine's output.
  // `context` is updated in place (State, Task) as the run goes.
  absl::StatusOr<Json> Run(const Json& input, Json& context, const std::string& start_at = "", int depth = 0);

 private:
  // One state; sets *next ("" when the machine ends). Returns the state's output.
  absl::StatusOr<Json> Step(const std::string& name, const Json& state, const Json& input, Json& context,
                            std::string* next, int depth);
  absl::StatusOr<Json> Execute(const std::string& name, const Json& state, const Json& effective, const Json& raw,
                               Json& context, int depth);
  absl::StatusOr<Json> RunParallel(const Json& state, const Json& input, const Json& context, int depth);
  absl::StatusOr<Json> RunMap(const std::string& name, const Json& state, const Json& input, const Json& raw,
                              const Json& context, int depth);

  const Json& machine_;
  Hooks& hooks_;
  bool reads_context_;  // whether any path of the machine reads $$ (else $$.State is not kept)
};

}  // namespace sluice::states
