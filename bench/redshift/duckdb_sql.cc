// The baseline for bench/redshift/run.sh: runs SETUP once, then TIMED `rounds` times (each
// after RESET, if given) in one libduckdb database, printing each timed run's seconds.
//   duckdb_sql DB_PATH ROUNDS SETUP_SQL RESET_SQL TIMED_SQL
#include <duckdb.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

static bool Run(duckdb_connection con, const std::string& sql) {
  if (sql.empty()) return true;
  duckdb_result r;
  bool ok = duckdb_query(con, sql.c_str(), &r) == DuckDBSuccess;
  if (!ok) std::fprintf(stderr, "duckdb: %s\n  in: %s\n", duckdb_result_error(&r), sql.c_str());
  duckdb_destroy_result(&r);
  return ok;
}

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s DB_PATH ROUNDS SETUP_SQL RESET_SQL TIMED_SQL\n", argv[0]);
    return 2;
  }
  duckdb_database db;
  duckdb_connection con;
  if (duckdb_open(argv[1], &db) != DuckDBSuccess || duckdb_connect(db, &con) != DuckDBSuccess) return 1;
  if (!Run(con, argv[3])) return 1;
  int rounds = std::atoi(argv[2]);
  for (int i = 0; i < rounds; ++i) {
    if (!Run(con, argv[4])) return 1;
    auto t0 = std::chrono::steady_clock::now();
    if (!Run(con, argv[5])) return 1;
    std::printf("%.6f\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  duckdb_disconnect(&con);
  duckdb_close(&db);
  return 0;
}
