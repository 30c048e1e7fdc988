#include "pgwire/pgwire.h"

#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <list>
#include <mutex>
#include <thread>

#include "base/strings.h"
#include "pgwire/connection.h"
#include "spdlog/spdlog.h"

namespace sluice {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class PgServer::Impl {
 public:
  Impl(const PgServerOptions& options, PgSessionFactory factory) : acceptor_(io_) {
    ctx_.options = options;
    ctx_.factory = std::move(factory);
  }

  ~Impl() { Stop(); }

  absl::Status Listen() {
    boost::system::error_code ec;
    asio::ip::address address = asio::ip::make_address(ctx_.options.host, ec);
    if (ec) return absl::InvalidArgumentError(StrCat("invalid --pg-host '", ctx_.options.host, "'"));
    tcp::endpoint endpoint(address, ctx_.options.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          StrCat("cannot listen on ", ctx_.options.host, ":", ctx_.options.port, ": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
    spdlog::info("pgwire listening on {}:{}", ctx_.options.host, port_);
    return absl::OkStatus();
  }

  uint16_t port() const { return port_; }
  int active() const { return ctx_.open_connections.load(); }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stopped_ = true;
      // Wakes the blocked accept() (Linux returns EINVAL for a shut-down listener).
      if (acceptor_.is_open()) ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
      for (auto& slot : slots_) slot->conn->Shutdown();
    }
    if (accept_thread_.joinable()) accept_thread_.join();
    std::list<std::unique_ptr<Slot>> slots;
    {
      std::lock_guard<std::mutex> lock(mu_);
      slots.swap(slots_);
    }
    for (auto& slot : slots) {
      if (slot->thread.joinable()) slot->thread.join();
    }
    boost::system::error_code ec;
    acceptor_.close(ec);
  }

 private:
  // One connection and the thread serving it.
  struct Slot {
    std::unique_ptr<pgwire::Connection> conn;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  void AcceptLoop() {
    for (;;) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      std::unique_lock<std::mutex> lock(mu_);
      if (stopped_) return;
      ReapLocked();
      if (ec) {
        if (ec == asio::error::invalid_argument || ec == asio::error::bad_descriptor) return;
        lock.unlock();
        spdlog::warn("pgwire accept failed: {}", ec.message());
        // Out of descriptors: let a connection close before the next attempt.
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      auto slot = std::make_unique<Slot>();
      slot->conn = std::make_unique<pgwire::Connection>(std::move(socket), ctx_);
      Slot* s = slot.get();
      ctx_.open_connections.fetch_add(1);
      s->thread = std::thread([this, s] {
        s->conn->Run();
        ctx_.open_connections.fetch_sub(1);
        s->done.store(true);
      });
      slots_.push_back(std::move(slot));
    }
  }

  // Joins the threads of closed connections. REQUIRES: mu_ held.
  void ReapLocked() {
    for (auto it = slots_.begin(); it != slots_.end();) {
      if ((*it)->done.load()) {
        (*it)->thread.join();
        it = slots_.erase(it);
      } else {
        ++it;
      }
    }
  }

  asio::io_context io_;  // never run: the sockets are used with blocking calls
  tcp::acceptor acceptor_;
  pgwire::ServerContext ctx_;
  uint16_t port_ = 0;
  std::thread accept_thread_;
  std::mutex mu_;
  bool stopped_ = false;
  std::list<std::unique_ptr<Slot>> slots_;
};

absl::StatusOr<std::unique_ptr<PgServer>> PgServer::Start(const PgServerOptions& options, PgSessionFactory factory) {
  auto impl = std::make_unique<Impl>(options, std::move(factory));
  RETURN_IF_ERROR(impl->Listen());
  return std::unique_ptr<PgServer>(new PgServer(std::move(impl)));
}

PgServer::PgServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PgServer::~PgServer() { Stop(); }
uint16_t PgServer::port() const { return impl_->port(); }
int PgServer::active_connections() const { return impl_->active(); }
void PgServer::Stop() { impl_->Stop(); }

}  // namespace sluice
