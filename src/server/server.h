#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"

// The composition root: opens every store under the data directory, builds the services
// in dependency order, wires them into the router and starts the HTTP endpoint; Stop()
// tears down in reverse (endpoint first, so in-flight requests finish, then stores).
namespace sluice {

struct ServerOptions {
  std::string data_dir = "./sluice-data";
  std::string host = "127.0.0.1";
  uint16_t port = 4566;
  uint16_t pg_port = 5439;  // the warehouse's PostgreSQL wire protocol; 0: any free port
  std::string region;       // requests are signed for it; "" = config.json's "region"
};

class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  virtual ~Server() = default;
  virtual uint16_t port() const = 0;
  virtual uint16_t pg_port() const = 0;
  virtual void Stop() = 0;
};

}  // namespace sluice
