// The DuckDB baseline of bench/glue/run.sh: the same libduckdb.so Sluice links, driven
// directly through its C API, doing the seed's Glue job (raw NDJSON events -> Parquet
// partitioned by event_date) as one COPY statement.
//
//   duckdb_copy copy  --files LIST --out DIR [--warmup W] [--reps N] [--threads T]
//                     [--variant NAME]
//   duckdb_copy count --glob PATTERN [--variant NAME]
//
// copy:  LIST names the input files, one path a line. In one in-memory database, runs W
//        untimed times, then N timed times:
//          COPY (SELECT user_id, action, amount, CAST("timestamp" AS DATE) AS event_date
//                FROM read_json_auto([files...]))
//          TO 'DIR/<run>' (FORMAT PARQUET, COMPRESSION SNAPPY, PARTITION_BY (event_date))
//        each into a new folder (warmup-1.., rep-1..), timed around the one duckdb_query call
//        (wall clock; DuckDB has written and closed every file when it returns; nothing is
//        fsynced). Between runs, untimed: the previous folder is removed (the last timed
//        one is kept, for `count`) and sync() writes the dirty pages back, so that no run
//        pays for its predecessor's writeback. The warmup runs give the process what a
//        long-running server has: its threads, allocator arenas and the pages it mapped.
//        Prints {"tool":"duckdb_copy","op":"copy","variant":...,"samples_s":[...],
//                "rows":R,"out":"DIR/rep-N","duckdb_version":...}
// count: reads the Parquet files PATTERN names (hive_partitioning, so event_date comes from
//        the folder names) and prints an order-independent summary of their content:
//        {"tool":"duckdb_copy","op":"count","rows":R,"partitions":P,"files":F,
//         "amount_cents":C,"fingerprint":"H"}   (H: the sum of hash(row) over all rows)
// Progress goes to stderr. Exits non-zero when a statement fails.
#include <duckdb.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "duckdb_copy: %s\n", msg.c_str());
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

std::string SqlQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

// Runs sql; the caller destroys the result.
void Query(duckdb_connection con, const std::string& sql, duckdb_result* r) {
  if (duckdb_query(con, sql.c_str(), r) != DuckDBSuccess) {
    const char* e = duckdb_result_error(r);
    std::string msg = e ? e : "unknown error";
    duckdb_destroy_result(r);
    Die("statement failed: " + msg + "\n  " + sql.substr(0, 300));
  }
}

std::string Cell(duckdb_result* r, idx_t col) {
  char* v = duckdb_value_varchar(r, col, 0);
  std::string s = v ? v : "";
  duckdb_free(v);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) Die("usage: duckdb_copy copy --files LIST --out DIR [--threads T] | count --glob PATTERN");
  std::string op = argv[1];
  std::string files_list, out_dir, glob, variant = "direct";
  int threads = 0, warmup = 0, reps = 1;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--files") files_list = value();
    else if (a == "--out") out_dir = value();
    else if (a == "--glob") glob = value();
    else if (a == "--threads") threads = std::atoi(value().c_str());
    else if (a == "--warmup") warmup = std::atoi(value().c_str());
    else if (a == "--reps") reps = std::atoi(value().c_str());
    else if (a == "--variant") variant = value();
    else Die("unknown argument " + a);
  }
  if (op != "copy" && op != "count") Die("unknown operation " + op + " (copy or count)");

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

  std::string out;
  if (op == "copy") {
    if (files_list.empty() || out_dir.empty()) Die("copy needs --files LIST and --out DIR");
    std::vector<std::string> files;
    {
      std::ifstream in(files_list);
      if (!in) Die("cannot read " + files_list);
      std::string line;
      while (std::getline(in, line)) {
        if (!line.empty()) files.push_back(line);
      }
    }
    if (files.empty()) Die("no input files in " + files_list);
    std::string list;
    for (const auto& f : files) list += (list.empty() ? "" : ", ") + SqlQuote(f);
    std::string prefix = "COPY (SELECT user_id, action, amount, CAST(\"timestamp\" AS DATE) AS event_date "
                         "FROM read_json_auto([" + list + "])) TO ";
    const std::string suffix = " (FORMAT PARQUET, COMPRESSION SNAPPY, PARTITION_BY (event_date))";
    if (reps < 1) reps = 1;
    std::vector<double> samples;
    long long rows = -1;
    std::string previous, last;
    for (int n = 0; n < warmup + reps; ++n) {
      bool timed = n >= warmup;
      std::string dir = out_dir + "/" + (timed ? "rep-" + std::to_string(n - warmup + 1) : "warmup-" + std::to_string(n + 1));
      std::error_code ec;
      if (std::filesystem::exists(dir, ec)) Die(dir + " exists already");
      if (!previous.empty()) std::filesystem::remove_all(previous, ec);
      ::sync();
      duckdb_result r;
      auto t0 = Clock::now();
      Query(con, prefix + SqlQuote(dir) + suffix, &r);
      auto t1 = Clock::now();
      long long count = duckdb_row_count(&r) > 0 ? static_cast<long long>(duckdb_value_int64(&r, 0, 0)) : -1;
      duckdb_destroy_result(&r);
      double secs = std::chrono::duration<double>(t1 - t0).count();
      std::fprintf(stderr, "duckdb_copy %s %s: %lld rows in %.3f s\n", variant.c_str(), dir.c_str(), count, secs);
      if (timed) {
        samples.push_back(secs);
        rows = count;
      }
      previous = last = dir;
    }
    out = "{\"tool\":\"duckdb_copy\",\"op\":\"copy\",\"variant\":" + JsonString(variant) + ",\"samples_s\":[";
    for (size_t i = 0; i < samples.size(); ++i) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%s%.6f", i ? "," : "", samples[i]);
      out += buf;
    }
    out += "],\"rows\":" + std::to_string(rows) + ",\"files_in\":" + std::to_string(files.size()) +
           ",\"warmup\":" + std::to_string(warmup) + ",\"out\":" + JsonString(last);
  } else {
    if (glob.empty()) Die("count needs --glob PATTERN");
    std::string src = "read_parquet(" + SqlQuote(glob) + ", hive_partitioning = true, filename = true)";
    std::string sql = "SELECT count(*), count(DISTINCT event_date), count(DISTINCT filename), "
                      "sum(CAST(round(amount * 100) AS BIGINT)), "
                      "sum(CAST(hash(user_id, action, amount, CAST(event_date AS DATE)) AS HUGEINT)) FROM " + src;
    duckdb_result r;
    Query(con, sql, &r);
    out = "{\"tool\":\"duckdb_copy\",\"op\":\"count\",\"variant\":" + JsonString(variant) + ",\"rows\":" + Cell(&r, 0) +
          ",\"partitions\":" + Cell(&r, 1) + ",\"files\":" + Cell(&r, 2) + ",\"amount_cents\":" + Cell(&r, 3) +
          ",\"fingerprint\":" + JsonString(Cell(&r, 4));
    duckdb_destroy_result(&r);
  }
  out += ",\"duckdb_version\":" + JsonString(duckdb_library_version()) + "}";
  std::printf("%s\n", out.c_str());
  duckdb_disconnect(&con);
  duckdb_close(&db);
  return 0;
}
