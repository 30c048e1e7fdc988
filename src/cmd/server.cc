#include <signal.h>

#include <cstdio>

#include "CLI/CLI.hpp"
#include "cmd/commands.h"
#include "server/server.h"
#include "server/version.h"
#include "spdlog/spdlog.h"

namespace sluice {

int RunServer(int argc, char** argv) {
  CLI::App app{"Run the Sluice endpoint: every AWS API on one HTTP port.", "sluice server"};
  ServerOptions o;
  app.add_option("--data-dir", o.data_dir, "where all state lives")->capture_default_str();
  app.add_option("--host", o.host, "address to listen on")->capture_default_str();
  app.add_option("--port", o.port, "HTTP port for the AWS APIs")->capture_default_str();
  app.add_option("--pg-port", o.pg_port, "PostgreSQL wire protocol port of the warehouse (Redshift's)")
      ->capture_default_str();
  app.add_option("--region", o.region, "the region requests are signed for (default: config.json's, us-east-1)");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(spdlog::level::from_str(log_level));

  // Signals are taken by sigwait below, so every thread the server starts blocks them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = Server::Start(o);
  if (!server.ok()) {
    std::fprintf(stderr, "sluice: cannot start: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  spdlog::info("sluice {} listening on http://{}:{} and postgres://{}:{} (data in {})", kSluiceVersion, o.host,
               (*server)->port(), o.host, (*server)->pg_port(), o.data_dir);
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}, stopping: finishing in-flight requests", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*server)->Stop();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace sluice
