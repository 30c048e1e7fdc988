#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "base/status.h"

// One execution environment: a worker process (the function's runtime bootstrap) and the
// Lambda Runtime API it polls. Each worker has its own loopback listener (as each AWS
// execution environment has its own AWS_LAMBDA_RUNTIME_API), so every Runtime API request
// belongs to exactly one worker and one invocation at a time.
namespace sluice::lambda {

// Forks worker processes from one long-lived thread: PR_SET_PDEATHSIG fires when the
// forking *thread* ends, so forking from request threads would kill workers early.
// Workers get their own process group and SIGKILL when the server dies.
class Spawner {
 public:
  Spawner();
  ~Spawner();
  struct Request {
    std::vector<std::string> argv;  // argv[0] is resolved with the server's PATH
    std::vector<std::string> env;
    std::string cwd;
    int output_fd = -1;  // stdout and stderr
  };
  absl::StatusOr<pid_t> Spawn(const Request& request);
  // Spawns what is queued, then refuses (Unavailable). Idempotent.
  void Stop();

 private:
  void Loop();
  std::mutex mu_, join_mu_;
  std::condition_variable cv_;
  struct Job;
  std::vector<Job*> queue_;
  bool stop_ = false;
  std::thread thread_;
};

struct WorkerSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // AWS_LAMBDA_RUNTIME_API is added
  std::string cwd;
  std::string log_path;  // the log stream's file (appended)
  std::string tmp_dir;   // the worker's own /tmp (TMPDIR), removed with the worker
};

struct InvokeOutcome {
  enum class Kind { kSuccess, kError, kTimeout, kExited };
  Kind kind = Kind::kExited;
  std::string body;        // the response, or the error payload
  std::string error_type;  // Lambda-Runtime-Function-Error-Type, or the init error's type
  std::string init_error;  // the payload of /init/error, if the runtime reported one
  std::string log;         // what the worker printed during the invocation
  int exit_status = 0;     // kExited: the wait status
  double init_ms = 0;      // > 0 on the worker's first invocation (cold start)
  double duration_ms = 0;
  int64_t max_memory_mb = 0;
};

// Thread-safe. Invoke() is called by one invoker at a time (the pool hands a worker to one
// invocation). Destruction kills the process group and joins every thread.
class Worker {
 public:
  static absl::StatusOr<std::unique_ptr<Worker>> Start(Spawner& spawner, WorkerSpec spec);
  ~Worker();
  // Hands the invocation to the runtime's next poll and waits for its response or error,
  // `timeout` after the runtime took it (the process group is then killed; init may take
  // 10 s more), or the process's exit.
  InvokeOutcome Invoke(const std::string& request_id, const std::string& payload, absl::Duration timeout,
                       const std::string& function_arn);
  bool alive();
  // Kills the process group: a running Invoke returns kExited.
  void Abort() { Kill(); }
  // Appends platform lines (START/END/REPORT) to the log stream.
  void AppendLog(std::string_view text);
  uint16_t port() const { return port_; }
  int revision = 0;  // of the function's code and configuration it was started with

 private:
  Worker() = default;
  void AcceptLoop();
  void Serve(int fd);
  void ReadLogs();
  void Reap();
  void Kill();
  // One Runtime API request; returns the status line's code, body and extra headers.
  struct Reply {
    int status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    bool close = false;
  };
  Reply Handle(const std::string& method, const std::string& path,
               const std::vector<std::pair<std::string, std::string>>& headers, std::string body);

  std::string tmp_dir_;
  pid_t pid_ = -1;
  int listen_fd_ = -1;
  int log_fd_ = -1;    // the read end of the worker's stdout/stderr pipe
  int log_file_ = -1;  // the log stream's file
  uint16_t port_ = 0;
  absl::Time started_;
  absl::Time taken_ = absl::InfinitePast();  // when /next handed out the current event

  std::mutex mu_;
  std::condition_variable cv_;
  struct Pending {
    std::string id, payload, arn;
    int64_t deadline_ms = 0;
    absl::Duration timeout;
  };
  std::optional<Pending> pending_;  // handed over, not yet taken by /next
  std::string current_;             // the request id the runtime is working on
  std::optional<InvokeOutcome> outcome_;
  std::string init_error_, init_error_type_;
  std::string log_;
  bool exited_ = false, logs_closed_ = false, stopping_ = false, first_ = true;
  int exit_status_ = 0;
  double init_ms_ = 0;
  std::vector<int> conns_;
  std::vector<std::thread> threads_;  // connection threads
  std::thread accept_thread_, log_thread_, reap_thread_;
};

}  // namespace sluice::lambda
