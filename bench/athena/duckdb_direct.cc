// The DuckDB baseline of bench/athena/run.sh: the same libduckdb.so Sluice links, driven
// directly through its C API, running the benchmark's queries over the same Parquet files.
//
//   duckdb_direct --queries FILE [--reps N] [--warmup W] [--threads T] [--deadline S]
//                 [--variant NAME]
//
// FILE holds one query per line, "name<TAB>sql" (blank lines and lines starting with '#'
// are skipped); a query may be several statements separated by ';', run as one
// duckdb_query call whose last result counts. Each query runs W untimed times, then N
// timed times (duckdb_query materializes the whole result, as Sluice's engine does; the
// timer stops after the result is destroyed). Stops early when the deadline (default
// 60 s for the whole run) passes. Writes one JSON line per query to stdout:
//   {"tool":"duckdb_direct","variant":"...","query":"...","reps":N,"rows":R,
//    "samples_ms":[...],"p50_ms":...,"p99_ms":...,"max_ms":...}
// and a readable line per query to stderr. Exits non-zero if a query fails.
#include <duckdb.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "duckdb_direct: %s\n", msg.c_str());
  std::exit(1);
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// Nearest-rank percentile of sorted values (the same rule as bench/athena/report.py).
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  double idx = p / 100.0 * static_cast<double>(sorted.size() - 1);
  size_t i = static_cast<size_t>(idx + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

// Runs sql once; returns the row count of the last statement's result.
long long RunOnce(duckdb_connection con, const std::string& sql, const std::string& name) {
  duckdb_result r;
  if (duckdb_query(con, sql.c_str(), &r) != DuckDBSuccess) {
    const char* e = duckdb_result_error(&r);
    std::string msg = e ? e : "unknown error";
    duckdb_destroy_result(&r);
    Die("query " + name + " failed: " + msg);
  }
  long long rows = static_cast<long long>(duckdb_row_count(&r));
  duckdb_destroy_result(&r);
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  std::string queries_file, variant = "direct";
  int reps = 20, warmup = 2, threads = 0;
  double deadline_s = 60;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--queries") queries_file = value();
    else if (a == "--reps") reps = std::atoi(value().c_str());
    else if (a == "--warmup") warmup = std::atoi(value().c_str());
    else if (a == "--threads") threads = std::atoi(value().c_str());
    else if (a == "--deadline") deadline_s = std::atof(value().c_str());
    else if (a == "--variant") variant = value();
    else if (a == "-h" || a == "--help") {
      std::fprintf(stderr,
                   "usage: duckdb_direct --queries FILE [--reps N] [--warmup W] [--threads T] "
                   "[--deadline S] [--variant NAME]\n");
      return 0;
    } else {
      Die("unknown argument " + a);
    }
  }
  if (queries_file.empty()) Die("--queries FILE is required");
  if (reps < 1) reps = 1;

  std::vector<std::pair<std::string, std::string>> queries;
  {
    std::ifstream in(queries_file);
    if (!in) Die("cannot read " + queries_file);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      auto tab = line.find('\t');
      if (tab == std::string::npos) Die("query line without a tab: " + line.substr(0, 80));
      queries.emplace_back(line.substr(0, tab), line.substr(tab + 1));
    }
  }

  duckdb_config config = nullptr;
  if (duckdb_create_config(&config) != DuckDBSuccess) Die("cannot create config");
  if (threads > 0) duckdb_set_config(config, "threads", std::to_string(threads).c_str());
  duckdb_database db = nullptr;
  char* error = nullptr;
  if (duckdb_open_ext(nullptr, &db, config, &error) != DuckDBSuccess) {
    Die(std::string("cannot open an in-memory database: ") + (error ? error : "?"));
  }
  duckdb_destroy_config(&config);
  duckdb_connection con = nullptr;
  if (duckdb_connect(db, &con) != DuckDBSuccess) Die("cannot connect");

  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(deadline_s));
  for (const auto& [name, sql] : queries) {
    for (int w = 0; w < warmup; ++w) RunOnce(con, sql, name);
    std::vector<double> samples;
    long long rows = -1;
    for (int n = 0; n < reps && (n == 0 || Clock::now() < deadline); ++n) {
      auto t0 = Clock::now();
      rows = RunOnce(con, sql, name);
      auto t1 = Clock::now();
      samples.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::vector<double> sorted = samples;
    std::sort(sorted.begin(), sorted.end());
    double p50 = Percentile(sorted, 50), p99 = Percentile(sorted, 99), max = sorted.back();
    std::string out = "{\"tool\":\"duckdb_direct\",\"variant\":" + JsonString(variant) + ",\"query\":" + JsonString(name) +
                      ",\"reps\":" + std::to_string(samples.size()) + ",\"rows\":" + std::to_string(rows) +
                      ",\"samples_ms\":[";
    for (size_t i = 0; i < samples.size(); ++i) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%s%.4f", i ? "," : "", samples[i]);
      out += buf;
    }
    char tail[160];
    std::snprintf(tail, sizeof tail, "],\"p50_ms\":%.4f,\"p99_ms\":%.4f,\"max_ms\":%.4f}", p50, p99, max);
    out += tail;
    std::printf("%s\n", out.c_str());
    std::fflush(stdout);
    std::fprintf(stderr, "duckdb_direct %-8s %-10s reps %3zu rows %6lld  p50 %8.2f ms  p99 %8.2f ms\n", variant.c_str(),
                 name.c_str(), samples.size(), rows, p50, p99);
  }
  duckdb_disconnect(&con);
  duckdb_close(&db);
  std::printf("{\"tool\":\"duckdb_direct\",\"variant\":%s,\"duckdb_version\":%s}\n", JsonString(variant).c_str(),
              JsonString(duckdb_library_version()).c_str());
  return 0;
}
