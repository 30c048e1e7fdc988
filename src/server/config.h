#pragma once

#include <map>
#include <string>

#include "base/status.h"
#include "http/sigv4.h"

// <data-dir>/config.json: settings that belong to a data directory. Written with the
// defaults on first start, so a user can see and edit them:
//   {"access_keys": [{"access_key_id": "test", "secret_access_key": "test"}],
//    "region": "us-east-1", "duckdb": {"memory_limit": "4GB", "threads": 2},
//    "glue": {"python": "python3", "spark_submit": "/opt/spark/bin/spark-submit"},
//    "lambda": {"python": "python3", "retry_delay_scale": 1.0},
//    "redshift": {"users": [{"user": "test", "password": "test"}]},
//    "http": {"write_timeout_seconds": 20}}
namespace sluice {

struct Config {
  AccessKeys access_keys;
  std::string region = "us-east-1";
  std::string duckdb_memory_limit;  // "" = DuckDB's default
  int duckdb_threads = 0;           // 0 = all cores
  std::string glue_python = "python3";  // runs Python shell jobs
  std::string glue_spark_submit;        // runs PySpark jobs; "" = not available
  std::string lambda_python = "python3";  // runs python3.x Lambda functions
  double lambda_retry_delay_scale = 1.0;  // scales async retry delays (tests use small values)
  std::map<std::string, std::string> warehouse_users;  // PostgreSQL wire protocol: user -> password
  // A response write that makes no progress for this long closes the connection (a client
  // that stopped reading).
  int http_write_timeout_seconds = 20;
};

absl::StatusOr<Config> LoadOrCreateConfig(const std::string& data_dir);

}  // namespace sluice
