#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "pgwire/pgwire.h"
#include "pgwire/wire.h"

// One client connection of the PostgreSQL protocol (private to pgwire/).
namespace sluice::pgwire {

// Sessions by (process id, secret key) for CancelRequest, which arrives on a connection
// of its own. Thread-safe. A session is removed before it is destroyed.
class CancelRegistry {
 public:
  void Add(int32_t pid, int32_t secret, WarehouseSession* session);
  void Remove(int32_t pid);
  // Cancels the session's running statement when the key matches; else nothing.
  void Cancel(int32_t pid, int32_t secret);

 private:
  std::mutex mu_;
  std::unordered_map<int32_t, std::pair<int32_t, WarehouseSession*>> sessions_;
};

// What the server shares with its connections; outlives them.
struct ServerContext {
  PgServerOptions options;
  PgSessionFactory factory;
  CancelRegistry cancels;
  std::atomic<int32_t> next_pid{0};
  std::atomic<int> open_connections{0};
};

// Serves one socket: startup, authentication, then queries until the client terminates,
// the socket fails, or Shutdown(). Run() on one thread; Shutdown() from any thread.
class Connection {
 public:
  Connection(boost::asio::ip::tcp::socket socket, ServerContext& ctx);
  ~Connection();
  void Run();
  // Wakes a blocked read or write and cancels the running statement; Run() then returns.
  void Shutdown();

 private:
  struct Statement;
  struct Portal;
  class Protocol;

  boost::asio::ip::tcp::socket socket_;
  ServerContext& ctx_;
  std::mutex mu_;  // guards session_ against Shutdown()
  std::unique_ptr<WarehouseSession> session_;
  std::atomic<bool> shutdown_{false};
};

}  // namespace sluice::pgwire
