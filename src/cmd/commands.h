#pragma once

// One function per subcommand, each in cmd/<name>.cc; argv[0] is the subcommand name.
namespace sluice {

int RunServer(int argc, char** argv);
int RunVersion();
int RunSql(int argc, char** argv);
int RunLogs(int argc, char** argv);

}  // namespace sluice
