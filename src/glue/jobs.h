#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "athena/engine.h"
#include "glue/catalog.h"
#include "glue/data_quality.h"
#include "s3/store.h"
#include "sql/sql.h"

// Glue ETL jobs: definitions, runs, job bookmarks and run logs.
//
// A run executes the script at Command.ScriptLocation (an s3:// object):
//   - glueetl + .sql: statements in the shared DuckDB engine (see job_script.cc);
//   - pythonshell + .py: `python3 script.py --JOB_NAME <name> --<key> <value> ...` as a child
//     process with AWS_ENDPOINT_URL, credentials and region in its environment;
//   - glueetl + .py (PySpark): handed to spark-submit when configured, otherwise FAILED.
// Each run has its own thread; a monitor thread enforces Timeout and StopJobRun (interrupting
// the DuckDB query or killing the process group). Definitions, runs and bookmarks are
// documents in the catalog database (kinds "job", "job_run", "job_bookmark", "job_retry"), so
// they survive restarts; a run that was active when the server stopped is marked ERROR on
// start and retried when the job's MaxRetries allows (a retry is recorded before the run's
// final state, so a crash between the two still retries).
// Logs are files under <state_dir>/logs/<job>/<run-id>/{output,error}.
// Thread-safe. Errors: NotFound (EntityNotFoundException), AlreadyExists, InvalidArgument,
// ResourceExhausted (ConcurrentRunsExceededException).
namespace sluice {

struct JobsOptions {
  std::string python = "python3";
  std::string spark_submit;  // empty: PySpark scripts fail with a message saying how to configure it
  // Handed to child processes.
  std::string access_key = "test", secret_key = "test", region = "us-east-1";
};

class Jobs {
 public:
  // All references must outlive the object. `state_dir` is <data-dir>/glue.
  Jobs(Catalog& catalog, ObjectStore& store, athena::Engine& engine, Database& db, DataQuality& dq,
       std::string state_dir, JobsOptions options);
  ~Jobs();
  absl::Status Init();
  void Stop();
  // The endpoint child processes reach the server at (known once the HTTP server listens).
  void SetEndpoint(std::string url) { endpoint_ = std::move(url); }
  // Starts the retries recorded and not started before the previous process stopped.
  // REQUIRES: Init and SetEndpoint done.
  absl::Status ResumeRetries();

  absl::Status Create(const Json& input);
  absl::StatusOr<Json> Get(const std::string& name);
  absl::StatusOr<std::vector<Json>> List();
  absl::Status Update(const std::string& name, const Json& update);
  absl::Status Delete(const std::string& name);

  // Returns the run id. `input` is StartJobRun's request.
  absl::StatusOr<std::string> StartRun(const std::string& name, const Json& input);
  absl::StatusOr<Json> GetRun(const std::string& name, const std::string& run_id);
  absl::StatusOr<std::vector<Json>> GetRuns(const std::string& name);  // newest first
  absl::Status StopRun(const std::string& name, const std::string& run_id);
  // A run's log stream ("output" or "error").
  absl::StatusOr<std::string> Logs(const std::string& name, const std::string& run_id, const std::string& stream);

  // JobBookmarkEntry; ResetBookmark with a run id rewinds to the state after that run.
  absl::StatusOr<Json> GetBookmark(const std::string& name);
  absl::StatusOr<Json> ResetBookmark(const std::string& name, const std::string& run_id);

 private:
  struct Active;
  void Execute(std::shared_ptr<Active> run);  // the run's thread: ExecuteRun, no exception escapes
  void ExecuteRun(std::shared_ptr<Active> run);
  // Starts the recorded retry (kind "job_retry", "<job>/<run id>") of a run unless it
  // exists already, then drops the record (kept when the server is stopping).
  void StartRetry(const std::string& job, const std::string& run_id);
  absl::Status RunSql(Active& run, const std::string& script, const std::string& log_dir);
  absl::Status RunProcess(Active& run, const std::vector<std::string>& argv, const std::string& dir,
                          const std::string& log_dir);
  void Monitor();
  absl::Status Persist(const Json& run);
  absl::StatusOr<std::string> FetchScript(const std::string& location, const std::string& dir);
  std::string RuntimeDir();  // awsglue helpers for Python shell scripts, written on first use

  Catalog& catalog_;
  ObjectStore& store_;
  athena::Engine& engine_;
  Database& db_;
  DataQuality& dq_;
  std::string state_dir_;
  JobsOptions options_;
  std::string endpoint_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::string, std::shared_ptr<Active>> active_;  // by run id; shared with the run's thread
  std::map<std::string, std::thread> threads_;  // by run id, until the monitor joins them
  std::vector<std::string> finished_;           // runs whose threads are done
  std::thread monitor_;
};

}  // namespace sluice
