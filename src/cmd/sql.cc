// sluice sql "SELECT ...": runs one statement through the Athena API of a running server
// (or, with --local, in place over the data directory: sql_local.cc) and prints the result
// as a table, CSV or JSON.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "base/strings.h"
#include "cmd/api_client.h"
#include "cmd/commands.h"
#include "nlohmann/json.hpp"

namespace sluice {
namespace {

std::string CsvQuote(const std::string& v) {
  if (v.find_first_of(",\"\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

void PrintRows(const std::vector<std::string>& columns, const std::vector<std::vector<std::optional<std::string>>>& rows,
               const std::string& format) {
  if (format == "json") {
    for (const auto& row : rows) {
      Json o = Json::object();
      for (size_t i = 0; i < columns.size() && i < row.size(); ++i) o[columns[i]] = row[i] ? Json(*row[i]) : Json(nullptr);
      std::cout << o.dump() << "\n";
    }
  } else if (format == "csv") {
    std::vector<std::string> h;
    for (const auto& c : columns) h.push_back(CsvQuote(c));
    std::cout << Join(h, ",") << "\n";
    for (const auto& row : rows) {
      std::vector<std::string> f;
      for (const auto& v : row) f.push_back(v ? CsvQuote(*v) : "");
      std::cout << Join(f, ",") << "\n";
    }
  } else {
    std::vector<size_t> width(columns.size());
    for (size_t i = 0; i < columns.size(); ++i) width[i] = columns[i].size();
    for (const auto& row : rows) {
      for (size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i] ? row[i]->size() : 4);
    }
    auto line = [&] {
      std::string l = "+";
      for (size_t w : width) l += std::string(w + 2, '-') + "+";
      std::cout << l << "\n";
    };
    auto print = [&](const std::vector<std::optional<std::string>>& cells) {
      std::string l = "|";
      for (size_t i = 0; i < width.size(); ++i) {
        std::string v = i < cells.size() ? cells[i].value_or("NULL") : "";
        l += " " + v + std::string(width[i] - std::min(width[i], v.size()), ' ') + " |";
      }
      std::cout << l << "\n";
    };
    if (!columns.empty()) {
      line();
      print(std::vector<std::optional<std::string>>(columns.begin(), columns.end()));
      line();
      for (const auto& row : rows) print(row);
      line();
    }
    if (columns.empty()) {
      std::cout << "OK\n";  // DDL: nothing to show
    } else {
      std::cout << rows.size() << (rows.size() == 1 ? " row" : " rows") << "\n";
    }
  }
}

int RunSql(int argc, char** argv) {
  CLI::App app{"Run one SQL statement (Athena dialect) against a running Sluice server.", "sluice sql"};
  std::string query, endpoint = "http://127.0.0.1:4566", database = "default", format = "table",
      output = "s3://sluice-athena-results/";
  if (const char* env = std::getenv("AWS_ENDPOINT_URL"); env && *env) endpoint = env;
  app.add_option("query", query, "the statement")->required();
  app.add_option("--endpoint", endpoint, "the server (default: $AWS_ENDPOINT_URL, else http://127.0.0.1:4566)")
      ->capture_default_str();
  app.add_option("--database,-d", database, "default database")->capture_default_str();
  app.add_option("--format,-f", format, "table, csv or json")->check(CLI::IsMember({"table", "csv", "json"}))->capture_default_str();
  app.add_option("--output-location", output, "s3:// prefix for the result files")->capture_default_str();
  bool local = false;
  std::string data_dir = "./sluice-data";
  app.add_flag("--local", local,
               "read the lake in place without a server (read-only: queries only; s3://bucket/key names the "
               "object's file, Glue catalog tables are views)");
  app.add_option("--data-dir", data_dir, "with --local: the server's data directory")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (local) return RunSqlLocal(data_dir, query, database, format);
  ApiClient client(endpoint, "athena", "AmazonAthena", "application/x-amz-json-1.1");
  Json start = {{"QueryString", query}, {"QueryExecutionContext", {{"Database", database}}}};
  start["ResultConfiguration"] = {{"OutputLocation", output}};
  Json reply;
  std::string error;
  if (!client.Call("StartQueryExecution", start, &reply, &error)) {
    std::fprintf(stderr, "sluice sql: %s\n", error.c_str());
    return 1;
  }
  std::string id = reply.value("QueryExecutionId", "");
  std::string state;
  auto started = std::chrono::steady_clock::now();
  for (int delay_ms = 5;; delay_ms = std::min(delay_ms * 2, 250)) {
    if (!client.Call("GetQueryExecution", {{"QueryExecutionId", id}}, &reply, &error)) {
      std::fprintf(stderr, "sluice sql: %s\n", error.c_str());
      return 1;
    }
    const Json& status = reply["QueryExecution"]["Status"];
    state = status.value("State", "");
    if (state != "QUEUED" && state != "RUNNING") {
      if (state != "SUCCEEDED") {
        std::fprintf(stderr, "sluice sql: query %s: %s\n", state.c_str(), status.value("StateChangeReason", "").c_str());
        return 1;
      }
      break;
    }
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(2)) {
      std::fprintf(stderr, "\rrunning %s ... %llds", id.c_str(),
                   static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  }
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
  std::string token;
  bool first = true;
  do {
    Json in = {{"QueryExecutionId", id}, {"MaxResults", 1000}};
    if (!token.empty()) in["NextToken"] = token;
    if (!client.Call("GetQueryResults", in, &reply, &error)) {
      std::fprintf(stderr, "sluice sql: %s\n", error.c_str());
      return 1;
    }
    const Json& rs = reply["ResultSet"];
    if (first) {
      for (const auto& c : rs["ResultSetMetadata"]["ColumnInfo"]) columns.push_back(c.value("Name", ""));
    }
    bool skip_header = first && reply.contains("ResultSet") && !rs["Rows"].empty() && !columns.empty();
    if (skip_header) {
      // DML results start with a header row that repeats the column names.
      const Json& h = rs["Rows"][0]["Data"];
      for (size_t i = 0; i < h.size() && i < columns.size(); ++i) skip_header = skip_header && h[i].value("VarCharValue", "") == columns[i];
    }
    for (size_t r = skip_header ? 1 : 0; r < rs["Rows"].size(); ++r) {
      std::vector<std::optional<std::string>> row;
      for (const auto& d : rs["Rows"][r]["Data"]) {
        if (d.contains("VarCharValue")) row.emplace_back(d["VarCharValue"].get<std::string>());
        else row.emplace_back(std::nullopt);
      }
      rows.push_back(std::move(row));
    }
    first = false;
    token = reply.value("NextToken", "");
  } while (!token.empty());

  PrintRows(columns, rows, format);
  return 0;
}

}  // namespace sluice
