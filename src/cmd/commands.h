#pragma once

#include <optional>
#include <string>
#include <vector>

// One function per subcommand, each in cmd/<name>.cc; argv[0] is the subcommand name.
namespace sluice {

int RunServer(int argc, char** argv);
int RunVersion();
int RunSql(int argc, char** argv);
int RunLogs(int argc, char** argv);

// sluice sql --local: the query over the lake files of `data_dir`, without a server.
int RunSqlLocal(const std::string& data_dir, const std::string& query, const std::string& database,
                const std::string& format);
// Prints a result as `sluice sql` does: format is table, csv or json.
void PrintRows(const std::vector<std::string>& columns, const std::vector<std::vector<std::optional<std::string>>>& rows,
               const std::string& format);

}  // namespace sluice
