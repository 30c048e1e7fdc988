#include "lambda/worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <thread>

#include "base/strings.h"
#include "gtest/gtest.h"

namespace sluice::lambda {
namespace {

// One HTTP/1.1 exchange with the worker's Runtime API (the test plays the runtime).
struct Reply {
  int status = 0;
  std::string head, body;
};

Reply Http(uint16_t port, const std::string& method, const std::string& path, const std::string& body = "") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string req = StrCat(method, " ", path, " HTTP/1.1\r\nHost: x\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
  EXPECT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  std::string in;
  char buf[4096];
  Reply r;
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
    auto end = in.find("\r\n\r\n");
    if (end == std::string::npos) continue;
    r.head = in.substr(0, end);
    auto cl = AsciiLower(r.head).find("content-length: ");
    size_t len = cl == std::string::npos ? 0 : std::stoul(r.head.substr(cl + 16));
    if (in.size() >= end + 4 + len) {
      r.body = in.substr(end + 4, len);
      break;
    }
  }
  ::close(fd);
  if (r.head.size() > 12) r.status = std::stoi(r.head.substr(9, 3));
  return r;
}

std::string Header(const std::string& head, const std::string& name) {
  auto at = AsciiLower(head).find(AsciiLower(name) + ": ");
  if (at == std::string::npos) return "";
  auto start = at + name.size() + 2;
  return head.substr(start, head.find("\r\n", start) - start);
}

class WorkerTest : public ::testing::Test {
 protected:
  std::string dir_ = ::testing::TempDir() + "/worker_test_" + std::to_string(::getpid());
  Spawner spawner_;
  void SetUp() override { std::filesystem::create_directories(dir_); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<Worker> Start(const std::string& script) {
    WorkerSpec spec;
    spec.argv = {"/bin/sh", "-c", script};
    spec.cwd = dir_;
    spec.log_path = dir_ + "/log";
    auto w = Worker::Start(spawner_, spec);
    EXPECT_TRUE(w.ok()) << w.status();
    return std::move(*w);
  }
};

TEST_F(WorkerTest, NextHandsOutTheEventAndResponseFinishesIt) {
  auto w = Start("exec sleep 60");
  auto done = std::async(std::launch::async, [&] {
    return w->Invoke("req-1", R"({"a":1})", absl::Seconds(5), "arn:aws:lambda:us-east-1:0:function:f");
  });
  Reply next = Http(w->port(), "GET", "/2018-06-01/runtime/invocation/next");
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.body, R"({"a":1})");
  EXPECT_EQ(Header(next.head, "Lambda-Runtime-Aws-Request-Id"), "req-1");
  EXPECT_EQ(Header(next.head, "Lambda-Runtime-Invoked-Function-Arn"), "arn:aws:lambda:us-east-1:0:function:f");
  EXPECT_FALSE(Header(next.head, "Lambda-Runtime-Deadline-Ms").empty());
  EXPECT_EQ(Http(w->port(), "POST", "/2018-06-01/runtime/invocation/other/response", "x").status, 400);
  EXPECT_EQ(Http(w->port(), "POST", "/2018-06-01/runtime/invocation/req-1/response", "\"ok\"").status, 202);
  InvokeOutcome o = done.get();
  EXPECT_EQ(o.kind, InvokeOutcome::Kind::kSuccess);
  EXPECT_EQ(o.body, "\"ok\"");
  EXPECT_TRUE(w->alive());
}

TEST_F(WorkerTest, ErrorsCarryTheirTypeAndTimeoutsKillTheProcess) {
  auto w = Start("exec sleep 60");
  auto done = std::async(std::launch::async, [&] { return w->Invoke("req-2", "{}", absl::Seconds(5), "arn"); });
  Http(w->port(), "GET", "/2018-06-01/runtime/invocation/next");
  Reply e = Http(w->port(), "POST", "/2018-06-01/runtime/invocation/req-2/error", R"({"errorType":"X"})");
  EXPECT_EQ(e.status, 202);
  InvokeOutcome o = done.get();
  EXPECT_EQ(o.kind, InvokeOutcome::Kind::kError);
  EXPECT_EQ(o.body, R"({"errorType":"X"})");

  auto slow = std::async(std::launch::async, [&] { return w->Invoke("req-3", "{}", absl::Seconds(1), "arn"); });
  Http(w->port(), "GET", "/2018-06-01/runtime/invocation/next");  // taken, never answered
  EXPECT_EQ(slow.get().kind, InvokeOutcome::Kind::kTimeout);
  for (int i = 0; i < 100 && w->alive(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(w->alive());
}

TEST_F(WorkerTest, ARuntimeThatExitsEndsTheInvocation) {
  auto w = Start("echo starting; exit 3");
  InvokeOutcome o = w->Invoke("req-4", "{}", absl::Seconds(5), "arn");
  EXPECT_EQ(o.kind, InvokeOutcome::Kind::kExited);
  EXPECT_TRUE(WIFEXITED(o.exit_status));
  EXPECT_EQ(WEXITSTATUS(o.exit_status), 3);
}

}  // namespace
}  // namespace sluice::lambda
