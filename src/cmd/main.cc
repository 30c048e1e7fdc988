// sluice: the AWS data pipeline on one machine. Subcommands live in cmd/<name>.cc.
#include <cstdio>
#include <string_view>

#include "cmd/commands.h"

int main(int argc, char** argv) {
  std::string_view sub = argc > 1 ? argv[1] : "";
  if (sub == "server") return sluice::RunServer(argc - 1, argv + 1);
  if (sub == "version" || sub == "--version") return sluice::RunVersion();
  if (sub == "sql") return sluice::RunSql(argc - 1, argv + 1);
  if (sub == "logs") return sluice::RunLogs(argc - 1, argv + 1);
  std::fprintf(sub.empty() || sub == "help" || sub == "--help" || sub == "-h" ? stdout : stderr,
               "usage: sluice <command> [options]\n\n"
               "commands:\n"
               "  server    run the AWS-compatible endpoint (sluice server --help)\n"
               "  sql       run one SQL statement on a running server, or with --local over the\n"
               "            lake files without one (sluice sql --help)\n"
               "  logs      print a Glue job run's logs (sluice logs job <name> [<run-id>])\n"
               "  version   print the version\n");
  return sub.empty() || sub == "help" || sub == "--help" || sub == "-h" ? 0 : 2;
}
