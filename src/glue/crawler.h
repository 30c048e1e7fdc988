#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "glue/catalog.h"
#include "s3/store.h"
#include "sql/sql.h"

// Glue crawlers over S3 targets. A run walks each target: a folder holding data files (or
// k=v partition folders) is a table, otherwise each subfolder is a table candidate; the
// format comes from the file extensions, the columns from DuckDB's readers on a sample of
// files, partitions from the k=v folders. Tables are created or updated as the
// SchemaChangePolicy says; definitions persist in the catalog database, runs happen on a
// thread per run. A crawl's state persists too ("crawler_run" documents, written before
// StartCrawler answers): LastCrawl survives restarts, and a crawl the server did not finish
// (kill -9, or a stop) runs again at the next start. Thread-safe; Stop() waits for running crawls.
namespace sluice {

class Crawlers {
 public:
  // All must outlive the object.
  Crawlers(Catalog& catalog, ObjectStore& store, Database& db) : catalog_(catalog), store_(store), db_(db) {}
  ~Crawlers();
  // Loads each crawler's last crawl and runs again the crawls that were running when the
  // previous process stopped (state "crawler_run" documents).
  absl::Status Init();
  void Stop();

  absl::Status Create(const Json& input);
  absl::StatusOr<Json> Get(const std::string& name);  // the Crawler shape GetCrawler returns
  absl::StatusOr<std::vector<Json>> List();
  absl::Status Delete(const std::string& name);
  absl::Status Start(const std::string& name);
  absl::Status StopCrawl(const std::string& name);
  absl::StatusOr<Json> Metrics(const std::string& name);

 private:
  struct Run {
    std::string state = "READY";  // READY, RUNNING, STOPPING
    bool stop = false;
    Json last_crawl;
    Json metrics = Json::object();
  };
  void Crawl(std::string name, Json crawler);
  absl::Status SaveRun(const std::string& name, const Run& run);  // REQUIRES: mu_ held
  absl::Status CrawlTarget(const Json& crawler, const std::string& path, Json* metrics, bool* stop);
  absl::Status HandleDeleted(const Json& crawler, Json* metrics);
  absl::Status CrawlTable(const Json& crawler, const std::string& bucket, const std::string& prefix,
                          const std::string& name, Json* metrics);

  Catalog& catalog_;
  ObjectStore& store_;
  Database& db_;
  std::mutex mu_;
  std::map<std::string, Run> runs_;
  bool server_stopping_ = false;
  std::map<std::string, std::thread> threads_;  // the latest run of each crawler
};

}  // namespace sluice
