#include "lambda/worker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <future>

#include "base/strings.h"
#include "io/file.h"

namespace sluice::lambda {
namespace {

constexpr size_t kMaxResponse = 6 * 1024 * 1024;  // synchronous response payload limit
constexpr std::string_view kPrefix = "/2018-06-01/runtime/";

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// A blocking reader of HTTP/1.1 requests on one connection.
class Conn {
 public:
  explicit Conn(int fd) : fd_(fd) {}
  // False when the peer closed or sent something unreadable.
  bool Read(std::string* method, std::string* path, std::vector<std::pair<std::string, std::string>>* headers,
            std::string* body) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (buf_.size() > 64 * 1024 || !Fill()) return false;
    }
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    auto lines = Split(head, '\n');
    if (lines.empty()) return false;
    auto first = Split(StripWhitespace(lines[0]), ' ', true);
    if (first.size() < 2) return false;
    *method = std::string(first[0]);
    *path = std::string(first[1]);
    headers->clear();
    uint64_t length = 0;
    bool chunked = false;
    for (size_t i = 1; i < lines.size(); ++i) {
      auto colon = lines[i].find(':');
      if (colon == std::string_view::npos) continue;
      std::string name = AsciiLower(StripWhitespace(lines[i].substr(0, colon)));
      std::string value(StripWhitespace(lines[i].substr(colon + 1)));
      if (name == "content-length" && !ParseNumber(value, &length)) return false;
      if (name == "transfer-encoding" && AsciiLower(value).find("chunked") != std::string::npos) chunked = true;
      headers->emplace_back(std::move(name), std::move(value));
    }
    body->clear();
    if (!chunked) return Take(length, body);
    for (;;) {  // chunked: <hex size>\r\n<data>\r\n ... 0\r\n\r\n
      size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos) {
        if (!Fill()) return false;
      }
      uint64_t size = 0;
      std::string_view line(buf_.data(), eol);
      line = line.substr(0, line.find(';'));
      if (!ParseNumber(StripWhitespace(line), &size, 16)) return false;
      buf_.erase(0, eol + 2);
      if (size == 0) {
        while ((eol = buf_.find("\r\n")) != 0) {  // trailers, then the empty line
          if (eol == std::string::npos) {
            if (!Fill()) return false;
          } else {
            buf_.erase(0, eol + 2);
          }
        }
        buf_.erase(0, 2);
        return true;
      }
      std::string chunk;
      if (!Take(size + 2, &chunk)) return false;
      body->append(chunk, 0, size);
    }
  }

 private:
  bool Fill() {
    char tmp[65536];
    for (;;) {
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf_.append(tmp, static_cast<size_t>(n));
      return true;
    }
  }
  bool Take(uint64_t n, std::string* out) {
    while (buf_.size() < n) {
      if (!Fill()) return false;
    }
    out->append(buf_, 0, n);
    buf_.erase(0, n);
    return true;
  }
  int fd_;
  std::string buf_;
};

std::string ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 413: return "Payload Too Large";
    default: return "Error";
  }
}

int64_t MaxMemoryMb(pid_t pid) {
  auto text = ReadFile(StrCat("/proc/", pid, "/status"));
  if (!text.ok()) return 0;
  auto at = text->find("VmHWM:");
  if (at == std::string::npos) return 0;
  int64_t kb = 0;
  std::string_view rest = std::string_view(*text).substr(at + 6);
  rest = StripWhitespace(rest.substr(0, rest.find(" kB")));
  if (!ParseNumber(rest, &kb)) return 0;
  return (kb + 1023) / 1024;
}

}  // namespace

struct Spawner::Job {
  const Request* request;
  std::promise<absl::StatusOr<pid_t>> done;
};

Spawner::Spawner() : thread_([this] { Loop(); }) {}

Spawner::~Spawner() { Stop(); }

void Spawner::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  std::lock_guard lock(join_mu_);
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<pid_t> Spawner::Spawn(const Request& request) {
  Job job{&request, {}};
  auto future = job.done.get_future();
  {
    std::lock_guard lock(mu_);
    if (stop_) return absl::UnavailableError("the server is stopping");
    queue_.push_back(&job);
  }
  cv_.notify_all();
  return future.get();
}

void Spawner::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;
    Job* job = queue_.front();
    queue_.erase(queue_.begin());
    lock.unlock();
    const Request& r = *job->request;
    // Everything the child needs is prepared before fork: only async-signal-safe calls after.
    std::vector<char*> argv, env;
    for (const auto& a : r.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto& e : r.env) env.push_back(const_cast<char*>(e.c_str()));
    env.push_back(nullptr);
    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);  // the server died before prctl
      int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, 0);
      ::dup2(r.output_fd, 1);
      ::dup2(r.output_fd, 2);
      ::close_range(3, ~0U, 0);
      if (::chdir(r.cwd.c_str()) != 0) ::_exit(126);
      ::execvpe(argv[0], argv.data(), env.data());
      const char msg[] = "cannot execute the runtime bootstrap: ";
      (void)!::write(2, msg, sizeof msg - 1);
      (void)!::write(2, argv[0], std::strlen(argv[0]));
      (void)!::write(2, "\n", 1);
      ::_exit(127);
    }
    if (pid < 0) {
      job->done.set_value(absl::InternalError(StrCat("fork: ", strerror(errno))));
    } else {
      ::setpgid(pid, pid);
      job->done.set_value(pid);
    }
    lock.lock();
  }
}

absl::StatusOr<std::unique_ptr<Worker>> Worker::Start(Spawner& spawner, WorkerSpec spec) {
  std::unique_ptr<Worker> w(new Worker());
  w->listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (w->listen_fd_ < 0) return absl::InternalError(StrCat("socket: ", strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(w->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(w->listen_fd_, 16) != 0 ||
      ::getsockname(w->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(StrCat("Runtime API listener: ", strerror(errno)));
  }
  w->port_ = ntohs(addr.sin_port);
  w->tmp_dir_ = spec.tmp_dir;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return absl::InternalError(StrCat("pipe: ", strerror(errno)));
  w->log_fd_ = pipe_fds[0];
  UniqueFd write_end(pipe_fds[1]);
  ::fcntl(w->log_fd_, F_SETFL, O_NONBLOCK);
  w->log_file_ = ::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (w->log_file_ < 0) return ErrnoStatus("cannot open the log stream", spec.log_path, errno);
  Spawner::Request req;
  req.argv = spec.argv;
  req.env = spec.env;
  req.env.push_back(StrCat("AWS_LAMBDA_RUNTIME_API=127.0.0.1:", w->port_));
  req.cwd = spec.cwd;
  req.output_fd = write_end.get();
  w->started_ = absl::Now();
  ASSIGN_OR_RETURN(w->pid_, spawner.Spawn(req));
  write_end = UniqueFd();  // only the worker writes to the pipe now: EOF when it exits
  Worker* self = w.get();
  w->accept_thread_ = std::thread([self] { self->AcceptLoop(); });
  w->log_thread_ = std::thread([self] { self->ReadLogs(); });
  w->reap_thread_ = std::thread([self] { self->Reap(); });
  return w;
}

Worker::~Worker() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (int fd : conns_) ::shutdown(fd, SHUT_RDWR);
  }
  cv_.notify_all();
  Kill();
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  if (reap_thread_.joinable()) reap_thread_.join();
  if (log_thread_.joinable()) log_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  for (int fd : {listen_fd_, log_fd_, log_file_}) {
    if (fd >= 0) ::close(fd);
  }
  if (!tmp_dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(tmp_dir_, ec);
  }
}

void Worker::Kill() {
  if (pid_ > 0) ::kill(-pid_, SIGKILL);
}

bool Worker::alive() {
  std::lock_guard lock(mu_);
  return !exited_ && !stopping_;
}

void Worker::AppendLog(std::string_view text) {
  std::lock_guard lock(mu_);
  (void)!::write(log_file_, text.data(), text.size());
}

void Worker::Reap() {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  ::kill(-pid_, SIGKILL);  // whatever the runtime started goes with it
  std::lock_guard lock(mu_);
  exited_ = true;
  exit_status_ = status;
  cv_.notify_all();
}

void Worker::ReadLogs() {
  char buf[16384];
  for (;;) {
    pollfd p{log_fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, 200);
    if (rc < 0 && errno == EINTR) continue;
    std::lock_guard lock(mu_);
    // A process that left the group may hold the pipe open: stop reading once stopping.
    if (rc == 0) {
      if (stopping_ && exited_) return;
      continue;
    }
    // Reads happen under the lock, so an invoker that sees an empty pipe while holding the
    // lock knows everything written before has reached log_.
    ssize_t n = ::read(log_fd_, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      logs_closed_ = true;
      cv_.notify_all();
      return;
    }
    (void)!::write(log_file_, buf, static_cast<size_t>(n));
    if (log_.size() < (1u << 20)) log_.append(buf, static_cast<size_t>(n));
    cv_.notify_all();
  }
}

void Worker::AcceptLoop() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // shut down
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lock(mu_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    conns_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void Worker::Serve(int fd) {
  Conn conn(fd);
  std::string method, path, body;
  std::vector<std::pair<std::string, std::string>> headers;
  while (conn.Read(&method, &path, &headers, &body)) {
    Reply r = Handle(method, path, headers, std::move(body));
    std::string out = StrCat("HTTP/1.1 ", r.status, " ", ReasonPhrase(r.status), "\r\nContent-Type: application/json\r\n",
                             "Content-Length: ", r.body.size(), "\r\n");
    for (const auto& [k, v] : r.headers) StrAppend(&out, k, ": ", v, "\r\n");
    out += "\r\n";
    out += r.body;
    if (!WriteAll(fd, out) || r.close) break;
  }
  std::lock_guard lock(mu_);
  std::erase(conns_, fd);
  ::close(fd);
}

Worker::Reply Worker::Handle(const std::string& method, const std::string& target,
                             const std::vector<std::pair<std::string, std::string>>& headers, std::string body) {
  auto error = [](int status, std::string type, std::string message) {
    Reply r;
    r.status = status;
    r.body = StrCat(R"({"errorMessage":")", message, R"(","errorType":")", type, R"("})");
    return r;
  };
  std::string_view path = target;
  path = path.substr(0, path.find('?'));
  if (!ConsumePrefix(&path, kPrefix)) return error(404, "InvalidRequest", "unknown path");
  auto header = [&](std::string_view name) -> std::string {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return "";
  };
  std::unique_lock lock(mu_);
  if (path == "invocation/next" && method == "GET") {
    if (first_) {
      first_ = false;
      init_ms_ = absl::ToDoubleMilliseconds(absl::Now() - started_);
    }
    cv_.notify_all();
    cv_.wait(lock, [&] { return stopping_ || pending_.has_value(); });
    if (!pending_) {
      Reply r = error(500, "Runtime.Stopping", "the server is stopping");
      r.close = true;
      return r;
    }
    Pending p = std::move(*pending_);
    pending_.reset();
    current_ = p.id;
    taken_ = absl::Now();
    p.deadline_ms = absl::ToUnixMillis(taken_ + p.timeout);
    cv_.notify_all();
    Reply r;
    r.body = std::move(p.payload);
    r.headers = {{"Lambda-Runtime-Aws-Request-Id", p.id},
                 {"Lambda-Runtime-Deadline-Ms", StrCat(p.deadline_ms)},
                 {"Lambda-Runtime-Invoked-Function-Arn", p.arn},
                 {"Lambda-Runtime-Trace-Id", StrCat("Root=1-", absl::ToUnixSeconds(absl::Now()), "-", p.id, ";Sampled=0")}};
    return r;
  }
  if (path == "init/error" && method == "POST") {
    init_error_ = body;
    init_error_type_ = header("lambda-runtime-function-error-type");
    cv_.notify_all();
    Reply r;
    r.status = 202;
    r.body = R"({"status":"OK"})";
    return r;
  }
  if (ConsumePrefix(&path, "invocation/") && method == "POST") {
    auto slash = path.find('/');
    if (slash == std::string_view::npos) return error(404, "InvalidRequest", "unknown path");
    std::string id(path.substr(0, slash));
    std::string_view what = path.substr(slash + 1);
    if (what != "response" && what != "error") return error(404, "InvalidRequest", "unknown path");
    if (id != current_ || current_.empty() || outcome_) {
      return error(400, "InvalidRequestID", StrCat("Invalid request ID: ", id));
    }
    InvokeOutcome o;
    if (what == "response") {
      if (body.size() > kMaxResponse) {
        o.kind = InvokeOutcome::Kind::kError;
        o.error_type = "Function.ResponseSizeTooLarge";
        o.body = StrCat(R"({"errorMessage":"Response payload size (", body.size(),
                        R"( bytes) exceeded maximum allowed payload size (6291556 bytes).","errorType":"Function.ResponseSizeTooLarge"})");
        outcome_ = std::move(o);
        cv_.notify_all();
        return error(413, "RequestEntityTooLarge", "the response is larger than 6 MB");
      }
      o.kind = InvokeOutcome::Kind::kSuccess;
    } else {
      o.kind = InvokeOutcome::Kind::kError;
      o.error_type = header("lambda-runtime-function-error-type");
    }
    o.body = std::move(body);
    outcome_ = std::move(o);
    cv_.notify_all();
    Reply r;
    r.status = 202;
    r.body = R"({"status":"OK"})";
    return r;
  }
  return error(404, "InvalidRequest", "unknown path");
}

InvokeOutcome Worker::Invoke(const std::string& request_id, const std::string& payload, absl::Duration timeout,
                             const std::string& function_arn) {
  std::unique_lock lock(mu_);
  log_.clear();
  outcome_.reset();
  current_.clear();
  bool cold = first_;
  absl::Time start = absl::Now();
  taken_ = absl::InfinitePast();
  pending_ = Pending{request_id, payload.empty() ? "{}" : payload, function_arn, 0, timeout};
  cv_.notify_all();
  // The runtime's init (a cold start) has its own limit; the timeout runs from when the
  // runtime takes the event, as on AWS.
  bool done = cv_.wait_for(lock, std::chrono::seconds(10) + absl::ToChronoSeconds(timeout),
                           [&] { return !pending_ || exited_ || stopping_; });
  if (done && !pending_ && !exited_ && !stopping_) {
    done = cv_.wait_until(lock, absl::ToChronoTime(taken_ + timeout), [&] { return outcome_ || exited_ || stopping_; });
  }
  InvokeOutcome out;
  if (outcome_) {
    out = std::move(*outcome_);
    outcome_.reset();
  } else if (!done) {
    out.kind = InvokeOutcome::Kind::kTimeout;
  } else {
    out.kind = InvokeOutcome::Kind::kExited;
    out.exit_status = exit_status_;
  }
  // Duration counts from when the runtime took the event (init is reported apart).
  out.duration_ms = absl::ToDoubleMilliseconds(absl::Now() - std::max(start, taken_));
  if (out.kind == InvokeOutcome::Kind::kTimeout) {
    lock.unlock();
    Kill();
    lock.lock();
  }
  pending_.reset();
  current_.clear();
  if (pid_ > 0 && !exited_) out.max_memory_mb = MaxMemoryMb(pid_);
  // What the runtime printed before it answered is in the pipe already: collect it.
  absl::Time drain_deadline = absl::Now() + absl::Milliseconds(out.kind == InvokeOutcome::Kind::kSuccess ? 200 : 1000);
  for (;;) {
    int pending_bytes = 0;
    if (logs_closed_ || ::ioctl(log_fd_, FIONREAD, &pending_bytes) != 0 || pending_bytes == 0) {
      if (out.kind == InvokeOutcome::Kind::kSuccess || out.kind == InvokeOutcome::Kind::kError || logs_closed_) break;
    }
    if (cv_.wait_until(lock, absl::ToChronoTime(drain_deadline)) == std::cv_status::timeout) break;
  }
  out.log = std::move(log_);
  log_.clear();
  out.init_error = init_error_;
  if (out.error_type.empty()) out.error_type = init_error_type_;
  if (cold) out.init_ms = init_ms_;
  return out;
}

}  // namespace sluice::lambda
