#include "glue/crawler.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "base/strings.h"
#include "base/time.h"
#include "http/message.h"
#include "sql/hive_types.h"

namespace sluice {
namespace {

constexpr size_t kSampleFiles = 16;
const char* kKind = "crawler";
const char* kRunKind = "crawler_run";  // {"Name", "State": READY | RUNNING, "LastCrawl", "Metrics"}


enum class Format { kNone, kParquet, kJson, kCsv };

Format FormatOf(std::string key) {
  key = AsciiLower(key);
  for (const char* z : {".gz", ".gzip", ".zst", ".snappy"}) {
    if (key.ends_with(z)) key.resize(key.size() - std::strlen(z));
  }
  if (key.ends_with(".parquet") || key.ends_with(".parq")) return Format::kParquet;
  if (key.ends_with(".json") || key.ends_with(".jsonl") || key.ends_with(".ndjson")) return Format::kJson;
  if (key.ends_with(".csv") || key.ends_with(".tsv") || key.ends_with(".txt")) return Format::kCsv;
  return Format::kNone;
}

bool Ignored(std::string_view key) {
  std::string_view base = key.substr(key.rfind('/') == std::string_view::npos ? 0 : key.rfind('/') + 1);
  return base.empty() || base[0] == '_' || base[0] == '.';
}

bool IsPartitionFolder(std::string_view segment) {
  auto eq = segment.find('=');
  return eq != std::string_view::npos && eq > 0;
}

}  // namespace

Crawlers::~Crawlers() { Stop(); }

void Crawlers::Stop() {
  std::map<std::string, std::thread> threads;
  {
    std::lock_guard lock(mu_);
    server_stopping_ = true;
    for (auto& [name, run] : runs_) run.stop = true;
    threads.swap(threads_);
  }
  for (auto& [name, t] : threads) t.join();
}

absl::Status Crawlers::Create(const Json& in) {
  std::string name = in.value("Name", "");
  if (name.empty() || name.size() > 255) return absl::InvalidArgumentError("Crawler name must be 1 to 255 characters long");
  if (!in.contains("Targets") || !in["Targets"].is_object()) return absl::InvalidArgumentError("Targets is required");
  for (const auto& t : in["Targets"].value("S3Targets", Json::array())) {
    std::string path = t.value("Path", "");
    if (!path.starts_with("s3://")) return absl::InvalidArgumentError(StrCat("S3 target path '", path, "' must be an s3:// URI"));
  }
  std::string db = in.value("DatabaseName", "");
  if (db.empty()) return absl::InvalidArgumentError("DatabaseName is required");
  Json doc = in;
  doc["CreationTime"] = EpochSeconds(absl::Now());
  doc["LastUpdated"] = doc["CreationTime"];
  doc["Version"] = 1;
  if (!doc.contains("SchemaChangePolicy")) {
    doc["SchemaChangePolicy"] = {{"UpdateBehavior", "UPDATE_IN_DATABASE"}, {"DeleteBehavior", "DEPRECATE_IN_DATABASE"}};
  }
  return catalog_.PutDocument(kKind, name, doc, /*create=*/true);
}

absl::StatusOr<Json> Crawlers::Get(const std::string& name) {
  ASSIGN_OR_RETURN(Json doc, catalog_.GetDocument(kKind, name));
  std::lock_guard lock(mu_);
  auto it = runs_.find(name);
  doc["State"] = it == runs_.end() ? "READY" : it->second.state;
  if (it != runs_.end() && !it->second.last_crawl.is_null()) doc["LastCrawl"] = it->second.last_crawl;
  return doc;
}

absl::StatusOr<std::vector<Json>> Crawlers::List() {
  ASSIGN_OR_RETURN(auto docs, catalog_.ListDocuments(kKind));
  std::vector<Json> out;
  for (const auto& d : docs) {
    ASSIGN_OR_RETURN(Json full, Get(d.value("Name", "")));
    out.push_back(std::move(full));
  }
  return out;
}

absl::Status Crawlers::Delete(const std::string& name) {
  {
    std::lock_guard lock(mu_);
    auto it = runs_.find(name);
    if (it != runs_.end() && it->second.state != "READY") {
      return absl::FailedPreconditionError(StrCat("Crawler ", name, " is running"));
    }
  }
  RETURN_IF_ERROR(catalog_.DeleteDocument(kKind, name));
  (void)catalog_.DeleteDocument(kRunKind, name);
  std::lock_guard lock(mu_);
  runs_.erase(name);
  return absl::OkStatus();
}

absl::Status Crawlers::Init() {
  // The last crawl of each crawler, and crawls the previous process did not finish: a crawl
  // is idempotent (it makes the catalog match the lake), so those run again.
  ASSIGN_OR_RETURN(auto docs, catalog_.ListDocuments(kRunKind));
  std::vector<std::string> resume;
  for (const auto& d : docs) {
    try {
      if (!d.is_object() || d.value("Name", "").empty()) continue;
      std::string name = d.value("Name", "");
      std::lock_guard lock(mu_);
      Run& run = runs_[name];
      if (d.contains("LastCrawl") && d["LastCrawl"].is_object()) run.last_crawl = d["LastCrawl"];
      if (d.contains("Metrics") && d["Metrics"].is_object()) run.metrics = d["Metrics"];
      if (d.value("State", "") != "READY") resume.push_back(name);
    } catch (const std::exception&) {
      continue;  // a record of the wrong shape: the crawler starts READY
    }
  }
  for (const auto& name : resume) {
    if (auto st = Start(name); !st.ok() && !absl::IsFailedPrecondition(st)) {
      // The crawler is gone (or cannot start): record the crawl as failed.
      std::lock_guard lock(mu_);
      Run& run = runs_[name];
      run.last_crawl = {{"Status", "FAILED"}, {"ErrorMessage", StrCat("The crawl could not resume after a restart: ",
                                                                       st.message())}};
      (void)SaveRun(name, run);
    }
  }
  return absl::OkStatus();
}

absl::Status Crawlers::SaveRun(const std::string& name, const Run& run) {
  Json doc = {{"Name", name}, {"State", run.state == "READY" ? "READY" : "RUNNING"}, {"Metrics", run.metrics}};
  if (!run.last_crawl.is_null()) doc["LastCrawl"] = run.last_crawl;
  return catalog_.PutDocument(kRunKind, name, doc, false);
}

absl::Status Crawlers::Start(const std::string& name) {
  ASSIGN_OR_RETURN(Json doc, catalog_.GetDocument(kKind, name));
  std::lock_guard lock(mu_);
  Run& run = runs_[name];
  if (run.state != "READY") return absl::FailedPreconditionError(StrCat("Crawler with name ", name, " has already started"));
  run.state = "RUNNING";
  run.stop = false;
  // Recorded before StartCrawler answers: after a crash the crawl runs again.
  if (auto st = SaveRun(name, run); !st.ok()) {
    run.state = "READY";
    return st;
  }
  // The previous run has finished (the state was READY): reap its thread.
  if (auto it = threads_.find(name); it != threads_.end() && it->second.joinable()) it->second.join();
  threads_[name] = std::thread([this, name, doc] { Crawl(name, doc); });
  return absl::OkStatus();
}

absl::Status Crawlers::StopCrawl(const std::string& name) {
  RETURN_IF_ERROR(catalog_.GetDocument(kKind, name).status());
  std::lock_guard lock(mu_);
  auto it = runs_.find(name);
  if (it == runs_.end() || it->second.state != "RUNNING") {
    return absl::FailedPreconditionError(StrCat("Crawler with name ", name, " isn't running"));
  }
  it->second.state = "STOPPING";
  it->second.stop = true;
  return absl::OkStatus();
}

absl::StatusOr<Json> Crawlers::Metrics(const std::string& name) {
  RETURN_IF_ERROR(catalog_.GetDocument(kKind, name).status());
  std::lock_guard lock(mu_);
  Json m = runs_[name].metrics;
  Json out = {{"CrawlerName", name}, {"TimeLeftSeconds", 0}, {"StillEstimating", false},
              {"LastRuntimeSeconds", m.value("LastRuntimeSeconds", 0.0)},
              {"MedianRuntimeSeconds", m.value("LastRuntimeSeconds", 0.0)},
              {"TablesCreated", m.value("TablesCreated", 0)}, {"TablesUpdated", m.value("TablesUpdated", 0)},
              {"TablesDeleted", m.value("TablesDeleted", 0)}};
  return out;
}

void Crawlers::Crawl(std::string name, Json crawler) {
  absl::Time started = absl::Now();
  Json metrics = {{"TablesCreated", 0}, {"TablesUpdated", 0}, {"TablesDeleted", 0}};
  absl::Status st;
  bool stop = false;
  try {
    for (const auto& t : crawler["Targets"].value("S3Targets", Json::array())) {
      {
        std::lock_guard lock(mu_);
        stop = runs_[name].stop;
      }
      if (stop) break;
      st = CrawlTarget(crawler, t.value("Path", ""), &metrics, &stop);
      if (!st.ok()) break;
    }
    if (st.ok() && !stop) st = HandleDeleted(crawler, &metrics);
  } catch (const std::exception& e) {
    // No exception leaves the crawl's thread: the crawl fails.
    st = absl::InternalError(StrCat("Internal error in the crawl: ", e.what()));
  }
  std::lock_guard lock(mu_);
  Run& run = runs_[name];
  metrics["LastRuntimeSeconds"] = absl::ToDoubleSeconds(absl::Now() - started);
  run.metrics = metrics;
  std::string status = !st.ok() ? "FAILED" : run.stop ? "CANCELLED" : "SUCCEEDED";
  run.last_crawl = {{"Status", status}, {"StartTime", EpochSeconds(started)},
                    {"LogGroup", "/aws-glue/crawlers"}, {"LogStream", name}, {"MessagePrefix", name}};
  if (!st.ok()) run.last_crawl["ErrorMessage"] = std::string(st.message());
  run.state = "READY";
  // A crawl stopped because the server stops is not finished: the next start runs it again.
  if (!server_stopping_) (void)SaveRun(name, run);
}

// Tables this crawler made whose data is gone: SchemaChangePolicy.DeleteBehavior decides.
absl::Status Crawlers::HandleDeleted(const Json& crawler, Json* metrics) {
  std::string behavior = crawler.value("SchemaChangePolicy", Json::object()).value("DeleteBehavior", "DEPRECATE_IN_DATABASE");
  if (behavior == "LOG") return absl::OkStatus();
  std::string db = crawler.value("DatabaseName", "");
  ASSIGN_OR_RETURN(auto tables, catalog_.GetTables(db));
  for (auto& t : tables) {
    if (t.value("Parameters", Json::object()).value("UPDATED_BY_CRAWLER", "") != crawler.value("Name", "")) continue;
    std::string location = t["StorageDescriptor"].value("Location", "");
    std::string_view loc = location;
    ConsumePrefix(&loc, "s3://");
    std::string bucket(loc.substr(0, loc.find('/')));
    ListRequest req;
    req.prefix = loc.find('/') == std::string_view::npos ? "" : std::string(loc.substr(loc.find('/') + 1));
    bool has_data = false;
    for (;;) {
      auto page = store_.List(bucket, req);
      if (!page.ok()) break;
      for (const auto& o : page->objects) {
        if (!Ignored(o.key) && FormatOf(o.key) != Format::kNone) has_data = true;
      }
      if (has_data || !page->truncated) break;
      req.after = page->last;
    }
    if (has_data) continue;
    std::string name = t.value("Name", "");
    if (behavior == "DELETE_FROM_DATABASE") {
      RETURN_IF_ERROR(catalog_.DeleteTable(db, name));
    } else {
      if (t["Parameters"].contains("DEPRECATED_BY_CRAWLER")) continue;
      t["Parameters"]["DEPRECATED_BY_CRAWLER"] = "1";
      RETURN_IF_ERROR(catalog_.UpdateTable(db, t));
    }
    (*metrics)["TablesDeleted"] = (*metrics)["TablesDeleted"].get<int>() + 1;
  }
  return absl::OkStatus();
}

absl::Status Crawlers::CrawlTarget(const Json& crawler, const std::string& path, Json* metrics, bool* stop) {
  std::string_view p = path;
  ConsumePrefix(&p, "s3://");
  std::string bucket(p.substr(0, p.find('/')));
  std::string prefix = p.find('/') == std::string_view::npos ? "" : std::string(p.substr(p.find('/') + 1));
  if (!prefix.empty() && prefix.back() != '/') prefix.push_back('/');
  ListRequest req;
  req.prefix = prefix;
  req.delimiter = "/";
  ASSIGN_OR_RETURN(auto page, store_.List(bucket, req));
  bool has_files = std::any_of(page.objects.begin(), page.objects.end(), [](const ObjectMeta& o) {
    return !Ignored(o.key) && FormatOf(o.key) != Format::kNone;
  });
  bool partitioned = !page.common_prefixes.empty() &&
                     std::all_of(page.common_prefixes.begin(), page.common_prefixes.end(), [&](const std::string& cp) {
                       return IsPartitionFolder(std::string_view(cp).substr(prefix.size()));
                     });
  auto table_name = [](std::string_view folder) {
    while (!folder.empty() && folder.back() == '/') folder.remove_suffix(1);
    std::string n = AsciiLower(folder.substr(folder.rfind('/') == std::string_view::npos ? 0 : folder.rfind('/') + 1));
    for (char& c : n) {
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    return n;
  };
  if (has_files || partitioned) {
    return CrawlTable(crawler, bucket, prefix, table_name(prefix.empty() ? bucket : prefix), metrics);
  }
  for (const auto& cp : page.common_prefixes) {
    if (*stop) break;
    RETURN_IF_ERROR(CrawlTable(crawler, bucket, cp, table_name(cp), metrics));
  }
  return absl::OkStatus();
}

absl::Status Crawlers::CrawlTable(const Json& crawler, const std::string& bucket, const std::string& prefix,
                                  const std::string& base_name, Json* metrics) {
  // Every data file under the table's folder, and the k=v folders between them.
  std::vector<ObjectMeta> files;
  ListRequest req;
  req.prefix = prefix;
  for (;;) {
    ASSIGN_OR_RETURN(auto page, store_.List(bucket, req));
    for (auto& o : page.objects) {
      if (!Ignored(o.key) && FormatOf(o.key) != Format::kNone) files.push_back(std::move(o));
    }
    if (!page.truncated) break;
    req.after = page.last;
  }
  if (files.empty()) return absl::OkStatus();
  Format format = FormatOf(files.front().key);
  std::vector<std::string> keys;  // partition key names, from the first file's folders
  {
    std::string_view rest = std::string_view(files.front().key).substr(prefix.size());
    for (auto seg : Split(rest, '/')) {
      if (IsPartitionFolder(seg)) keys.push_back(AsciiLower(seg.substr(0, seg.find('='))));
    }
  }
  std::map<std::vector<std::string>, std::string> partitions;  // values -> folder
  std::vector<std::string> sample;
  for (const auto& f : files) {
    if (FormatOf(f.key) != format) continue;
    std::string_view rest = std::string_view(f.key).substr(prefix.size());
    std::vector<std::string> values;
    std::string folder = prefix;
    for (auto seg : Split(rest, '/')) {
      if (!IsPartitionFolder(seg) || values.size() == keys.size()) break;
      values.push_back(UriDecode(seg.substr(seg.find('=') + 1)));
      folder += std::string(seg) + "/";
    }
    if (values.size() != keys.size()) continue;  // a file outside the partition layout
    partitions.emplace(values, folder);
    if (sample.size() < kSampleFiles) sample.push_back(store_.BucketDir(bucket) + "/" + f.path);
  }
  // Columns from DuckDB's readers over the sample.
  std::vector<std::string> quoted;
  for (const auto& s : sample) quoted.push_back(SqlQuote(s));
  std::string list = "[" + Join(quoted, ", ") + "]";
  std::string reader = format == Format::kParquet ? StrCat("read_parquet(", list, ", union_by_name=true)")
                       : format == Format::kJson  ? StrCat("read_json_auto(", list, ", format='newline_delimited', union_by_name=true)")
                                                  : StrCat("read_csv_auto(", list, ", union_by_name=true)");
  ASSIGN_OR_RETURN(auto con, db_.Connect());
  ASSIGN_OR_RETURN(QueryResult described, con->Query("DESCRIBE SELECT * FROM " + reader));
  Json columns = Json::array();
  std::set<std::string> key_set(keys.begin(), keys.end());
  for (const auto& row : described.rows) {
    std::string name = AsciiLower(row[0].value_or(""));
    if (key_set.contains(name)) continue;
    columns.push_back({{"Name", name}, {"Type", DuckToHiveType(row[1].value_or("VARCHAR"))}});
  }
  bool csv_header = false;
  std::string delimiter = ",";
  if (format == Format::kCsv) {
    auto sniff = con->Query(StrCat("SELECT Delimiter, HasHeader FROM sniff_csv(", SqlQuote(sample.front()), ")"));
    if (sniff.ok() && !sniff->rows.empty()) {
      delimiter = sniff->rows[0][0].value_or(",");
      csv_header = sniff->rows[0][1].value_or("false") == "true";
    }
  }
  std::string classification = format == Format::kParquet ? "parquet" : format == Format::kJson ? "json" : "csv";
  Json serde = format == Format::kParquet
                   ? Json{{"SerializationLibrary", "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
                          {"Parameters", {{"serialization.format", "1"}}}}
               : format == Format::kJson ? Json{{"SerializationLibrary", "org.openx.data.jsonserde.JsonSerDe"},
                                               {"Parameters", {{"paths", ""}}}}
                                         : Json{{"SerializationLibrary", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"},
                                                {"Parameters", {{"field.delim", delimiter}}}};
  Json sd = {{"Columns", columns},
             {"Location", StrCat("s3://", bucket, "/", prefix)},
             {"InputFormat", format == Format::kParquet ? "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
                                                        : "org.apache.hadoop.mapred.TextInputFormat"},
             {"OutputFormat", format == Format::kParquet ? "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
                                                         : "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"},
             {"SerdeInfo", serde},
             {"Compressed", false}};
  Json params = {{"classification", classification}, {"UPDATED_BY_CRAWLER", crawler.value("Name", "")},
                 {"CrawlerSchemaSerializerVersion", "1.0"}, {"typeOfData", "file"}, {"EXTERNAL", "TRUE"}};
  if (csv_header) params["skip.header.line.count"] = "1";
  if (format == Format::kCsv) params["delimiter"] = delimiter;
  Json partition_keys = Json::array();
  for (const auto& k : keys) partition_keys.push_back({{"Name", k}, {"Type", "string"}});
  std::string table = crawler.value("TablePrefix", "") + base_name;
  std::string db = crawler.value("DatabaseName", "");
  Json input = {{"Name", table}, {"TableType", "EXTERNAL_TABLE"}, {"Parameters", params},
                {"PartitionKeys", partition_keys}, {"StorageDescriptor", sd}};
  auto existing = catalog_.GetTable(db, table);
  std::string update = crawler.value("SchemaChangePolicy", Json::object()).value("UpdateBehavior", "UPDATE_IN_DATABASE");
  if (!existing.ok()) {
    RETURN_IF_ERROR(catalog_.CreateTable(db, input));
    (*metrics)["TablesCreated"] = (*metrics)["TablesCreated"].get<int>() + 1;
  } else if (update == "UPDATE_IN_DATABASE" && ((*existing)["StorageDescriptor"].value("Columns", Json::array()) != columns ||
                                                (*existing).value("PartitionKeys", Json::array()) != partition_keys)) {
    RETURN_IF_ERROR(catalog_.UpdateTable(db, input));
    (*metrics)["TablesUpdated"] = (*metrics)["TablesUpdated"].get<int>() + 1;
  }
  for (const auto& [values, folder] : partitions) {
    if (keys.empty()) break;
    Json p = {{"Values", values}, {"StorageDescriptor", sd}};
    p["StorageDescriptor"]["Location"] = StrCat("s3://", bucket, "/", folder);
    RETURN_IF_ERROR(catalog_.CreatePartition(db, table, p, /*if_not_exists=*/true));
  }
  return absl::OkStatus();
}

}  // namespace sluice
