#pragma once

#include <functional>
#include <map>
#include <string>

#include "athena/engine.h"
#include "glue/catalog.h"
#include "glue/data_quality.h"
#include "s3/store.h"
#include "sql/sql.h"

// Private to glue/: SQL job scripts and job bookmarks.
namespace sluice {

// Files a job has processed, by source ("s3://bucket/prefix/" as the script names it, or
// "glue:db.table"), as key -> ETag.
using BookmarkFiles = std::map<std::string, std::map<std::string, std::string>>;

// The bookmark document (kind "job_bookmark") keeps what each successful run read:
//   {"JobName", "Version", "Run", "Attempt", "RunId", "PreviousRunId",
//    "runs": [{"RunId": "jr_...", "files": {source: {key: etag}}}, ...]}
// The processed files are the union over "runs".
BookmarkFiles BookmarkState(const Json& doc);
void AdvanceBookmark(Json& doc, const std::string& run_id, int attempt, const BookmarkFiles& seen);
// Drops every run after `run_id` ("" drops all); NotFound if the run is not in the bookmark.
absl::StatusOr<Json> RewindBookmark(const Json& doc, const std::string& run_id);
// The JobBookmarkEntry that GetJobBookmark returns.
Json BookmarkEntry(const Json& doc);

// The status a script ends with when its bookmarked sources hold no new data: the run
// succeeds without running the remaining statements.
bool IsNothingToDo(const absl::Status& status);

struct SqlJobContext {
  std::string job, run_id;
  std::map<std::string, std::string> args;  // ${name} -> value (names without "--")
  bool use_bookmark = false;                // read only files not in *done
  const BookmarkFiles* done = nullptr;
  BookmarkFiles* seen = nullptr;            // every file the run reads, for the bookmark
  std::string output_log, error_log;
  std::function<bool()> cancelled;  // checked before each statement (a stop between queries)
};

// Runs a .sql job script on `con`, statement by statement, in a private in-memory
// catalog (tables it creates are the run's own):
//   - ${name} is replaced by the job argument --name;
//   - 's3://...' literals that a statement reads become the committed lake files they
//     name (a prefix ending in '/', a glob, or one key), filtered by the job bookmark;
//   - db.table names of Glue catalog tables read the table through its partitions;
//   - COPY ... TO 's3://...' writes into a scratch folder, then through the object
//     store; partitions under a catalog table's location are registered;
//   - EVALUATE DATA QUALITY ON <table> RULESET '<name>' | RULES '<dqdl>'
//       [ON FAILURE FAIL | CONTINUE | QUARANTINE 's3://...'] [CONTEXT '<name>']
//     evaluates DQDL and records a Data Quality result.
class SqlJob {
 public:
  SqlJob(Catalog& catalog, ObjectStore& store, athena::Engine& engine, DataQuality& dq, Connection& con,
         SqlJobContext& ctx)
      : catalog_(catalog), store_(store), engine_(engine), dq_(dq), con_(con), ctx_(ctx) {}
  absl::Status Run(const std::string& script);

 private:
  absl::Status RunStatement(std::string sql, int number, int line);
  absl::StatusOr<std::string> Substitute(const std::string& sql);
  // Rewrites s3:// literals and catalog names; fills the COPY target when there is one.
  struct CopyTarget {
    bool present = false;
    std::string bucket, prefix;    // the object key prefix (folder) or the key's folder
    std::string scratch;           // the folder DuckDB writes into
    bool overwrite = false;
  };
  absl::StatusOr<std::string> Rewrite(const std::string& sql, CopyTarget* target);
  absl::StatusOr<std::vector<athena::LakeFile>> ReadSource(const std::string& uri);
  absl::Status DefineCatalogViews(const std::string& sql);
  absl::Status FinishCopy(const CopyTarget& target);
  absl::Status EvaluateDataQuality(const std::string& sql);
  // Whether this run has read any file not in the job bookmark so far.
  bool ReadNewData() const;
  void Log(const std::string& text);

  Catalog& catalog_;
  ObjectStore& store_;
  athena::Engine& engine_;
  DataQuality& dq_;
  Connection& con_;
  SqlJobContext& ctx_;
  std::string schema_;  // the run's private catalog
  int scratch_count_ = 0;
};

}  // namespace sluice
