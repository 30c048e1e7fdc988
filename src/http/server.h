#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "http/router.h"
#include "http/sigv4.h"

// The HTTP/1.1 server on the AWS endpoint (Boost.Beast). I/O threads run the connections
// as coroutines (accept, read headers and body, write responses); everything that may
// block (routing into services, body consumption, disk reads) runs on a worker pool; responses
// are written asynchronously with a write timeout, so a stalled reader never holds a worker.
// Start() returns a running server; Stop() drains it: no new connections, idle
// keep-alive connections are closed, in-flight requests finish.
namespace sluice {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 4566;  // 0 picks a free port
  int io_threads = 2;
  int worker_threads = 32;
  // The region requests must be signed for (their credential scope's region).
  std::string region = "us-east-1";
  // A response write (to a client that stopped reading) that makes no progress for this
  // long closes the connection.
  std::chrono::seconds write_timeout{20};
};

class HttpServer {
 public:
  // `router` and `keys` must outlive the server.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           const Router& router,
                                                           const AccessKeys& keys);
  virtual ~HttpServer() = default;
  virtual uint16_t port() const = 0;
  // Idempotent; returns when in-flight requests are done (or after a 30 s grace period).
  virtual void Stop() = 0;
};

}  // namespace sluice
