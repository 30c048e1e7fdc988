#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/status.h"
#include "redshift/warehouse.h"

// The PostgreSQL wire protocol (version 3.0) front end of the warehouse: psql, libpq,
// JDBC and BI tools connect on --pg-port (5439 by default, as Redshift) and run SQL
// through a WarehouseSession. See pgwire/README.md for what is supported.
namespace sluice {

// Opens the session of one authenticated connection. `database` is what the client asked
// for ("" when the startup packet names none: the default database). A failed Status
// ends the connection with a FATAL error carrying SqlStateOf(status) (3D000 for an
// unknown database).
using PgSessionFactory = std::function<absl::StatusOr<std::unique_ptr<WarehouseSession>>(
    const std::string& database, const std::string& user)>;

enum class PgAuthMethod { kMd5, kCleartext };

struct PgServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 5439;  // 0: an ephemeral port (see PgServer::port())
  // user → password. A user not listed cannot connect.
  std::map<std::string, std::string> users = {{"test", "test"}};
  PgAuthMethod auth = PgAuthMethod::kMd5;
  // Reported to clients as the server_version parameter and by nothing else (SELECT
  // version() is the backend's). Redshift reports 8.0.2; psql 15 sends the same \d
  // queries for it as for 9.2 (its oldest supported server), and connects with a warning.
  std::string server_version = "8.0.2";
  int max_connections = 500;  // more are refused with 53300
};

// Listens on a TCP port and serves each connection on its own thread with blocking
// socket I/O (a statement may run for minutes; a thread per session keeps that off any
// shared I/O thread). Thread-safe; Stop() is idempotent and also runs at destruction.
class PgServer {
 public:
  static absl::StatusOr<std::unique_ptr<PgServer>> Start(const PgServerOptions& options, PgSessionFactory factory);
  ~PgServer();

  // The port listened on (the ephemeral one when options.port was 0).
  uint16_t port() const;
  // Connections currently open (sessions and ones still authenticating).
  int active_connections() const;
  // Closes the listener and every connection (cancelling running statements) and waits
  // for their threads.
  void Stop();

  class Impl;

 private:
  explicit PgServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice
