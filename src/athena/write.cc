// CREATE TABLE AS and INSERT INTO: DuckDB writes the files into a scratch folder, then
// every file goes into the lake through the object store (so it is indexed, durable and
// visible to S3 clients), and the table and its partitions are registered in the catalog.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <atomic>
#include <random>
#include <thread>
#include <set>

#include "athena/ddl.h"
#include "athena/engine.h"
#include "base/ids.h"
#include "base/strings.h"
#include "http/message.h"
#include "io/checksum.h"
#include "io/file.h"

namespace sluice::athena {
namespace {

std::string Prop(const Properties& props, const std::string& key, const std::string& fallback = "") {
  for (const auto& [k, v] : props) {
    if (AsciiLower(k) == key) return v;
  }
  return fallback;
}

// Files under `dir`, as paths relative to it.
void Walk(const std::string& dir, const std::string& rel, std::vector<std::string>* out) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    std::string abs = dir + "/" + n, r = rel.empty() ? n : rel + "/" + n;
    struct stat st;
    if (::lstat(abs.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) Walk(abs, r, out);
    else if (S_ISREG(st.st_mode)) out->push_back(r);
  }
}

}  // namespace

void RemoveTree(const std::string& path) {
  if (DIR* d = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      std::string child = path + "/" + n;
      struct stat st;
      if (::lstat(child.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) RemoveTree(child);
      else ::unlink(child.c_str());
    }
    ::closedir(d);
  }
  ::rmdir(path.c_str());
}

absl::Status UploadTree(ObjectStore& store, const std::string& dir, const std::string& bucket, const std::string& prefix,
                        const std::string& content_type, std::vector<std::string>* keys) {
  std::vector<std::string> files;
  Walk(dir, "", &files);
  // Files go in from several threads: the store's group-committing index writer then makes
  // them durable together (one sync per group) instead of one commit after another.
  std::vector<absl::Status> results(files.size());
  std::atomic<size_t> next{0};
  auto upload = [&] {
    std::string buf(1 << 20, '\0');
    for (size_t i = next.fetch_add(1); i < files.size(); i = next.fetch_add(1)) {
      const std::string& rel = files[i];
      results[i] = [&]() -> absl::Status {
        ASSIGN_OR_RETURN(auto f, store.NewObjectFile());
        auto md5 = NewHasher(ChecksumAlgorithm::kMd5);
        UniqueFd in(::open((dir + "/" + rel).c_str(), O_RDONLY | O_CLOEXEC));
        if (!in.valid()) return absl::InternalError(StrCat("cannot open ", rel, ": ", strerror(errno)));
        for (;;) {
          ssize_t n = ::read(in.get(), buf.data(), buf.size());
          if (n < 0) return absl::InternalError(StrCat("cannot read ", rel, ": ", strerror(errno)));
          if (n == 0) break;
          md5->Update(std::string_view(buf.data(), static_cast<size_t>(n)));
          RETURN_IF_ERROR(f->Append(std::string_view(buf.data(), static_cast<size_t>(n))));
        }
        ObjectMeta meta;
        meta.key = prefix + rel;
        meta.etag = HexEncode(md5->Finish());
        meta.content_type = content_type;
        return store.PutObject(bucket, meta, std::move(f)).status();
      }();
    }
  };
  size_t threads = std::min<size_t>(files.size(), 8);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(upload);
  upload();
  for (auto& t : pool) t.join();
  for (size_t i = 0; i < files.size(); ++i) {
    RETURN_IF_ERROR(results[i]);
    keys->push_back(prefix + files[i]);
  }
  return absl::OkStatus();
}

absl::Status RegisterPartitions(Catalog& catalog, const Json& table, const std::string& bucket, const std::string& prefix,
                                const std::vector<std::string>& keys) {
  size_t key_count = table.value("PartitionKeys", Json::array()).size();
  if (key_count == 0) return absl::OkStatus();
  // DuckDB names partition folders k=v with the value escaped as a URL; S3 keys keep that.
  std::set<std::string> dirs;
  for (const auto& key : keys) {
    auto slash = key.rfind('/');
    if (key.starts_with(prefix) && slash != std::string::npos && slash > prefix.size()) {
      dirs.insert(key.substr(prefix.size(), slash - prefix.size()));
    }
  }
  std::string db = table.value("DatabaseName", ""), name = table.value("Name", "");
  for (const auto& dir : dirs) {
    Json values = Json::array();
    for (auto seg : Split(dir, '/')) {
      auto eq = seg.find('=');
      values.push_back(UriDecode(eq == std::string_view::npos ? seg : seg.substr(eq + 1)));
    }
    if (values.size() != key_count) continue;
    Json input = {{"Values", values}, {"StorageDescriptor", table.value("StorageDescriptor", Json::object())}};
    input["StorageDescriptor"]["Location"] = StrCat("s3://", bucket, "/", prefix, dir, "/");
    RETURN_IF_ERROR(catalog.CreatePartition(db, name, input, /*if_not_exists=*/true));
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> FormatDescriptor(const std::string& format_in, const std::string& field_delimiter) {
  std::string format = AsciiUpper(format_in);
  if (format == "PARQUET") {
    return Json{{"InputFormat", "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"},
                {"OutputFormat", "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"},
                {"SerdeInfo", {{"SerializationLibrary", "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
                               {"Parameters", Json::object()}}},
                {"classification", "parquet"}};
  }
  if (format == "JSON") {
    return Json{{"InputFormat", "org.apache.hadoop.mapred.TextInputFormat"},
                {"OutputFormat", "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"},
                {"SerdeInfo", {{"SerializationLibrary", "org.openx.data.jsonserde.JsonSerDe"}, {"Parameters", Json::object()}}},
                {"classification", "json"}};
  }
  if (format == "TEXTFILE") {
    return Json{{"InputFormat", "org.apache.hadoop.mapred.TextInputFormat"},
                {"OutputFormat", "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"},
                {"SerdeInfo", {{"SerializationLibrary", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"},
                               {"Parameters", {{"field.delim", field_delimiter.empty() ? std::string(1, '\x01') : field_delimiter}}}}},
                {"classification", "csv"}};
  }
  return absl::InvalidArgumentError(StrCat("format '", format_in, "' is not supported by Sluice; use PARQUET, JSON or TEXTFILE"));
}

absl::StatusOr<StatementOutput> Engine::RunWrite(const WriteQuery& w, bool create, const std::string& database,
                                                 Connection& con) {
  StatementOutput out;
  out.statement_type = "DDL";
  out.has_result_set = false;
  std::string db = w.table.db.empty() ? (database.empty() ? "default" : AsciiLower(database)) : w.table.db;
  auto existing = catalog_.GetTable(db, w.table.name);
  std::string format, location, delimiter;
  std::vector<std::string> partition_keys;
  Json table;
  if (create) {
    if (existing.ok()) {
      if (w.if_not_exists) return out;
      return absl::AlreadyExistsError(StrCat("Table ", db, ".", w.table.name, " already exists"));
    }
    if (!catalog_.GetDatabase(db).ok()) return absl::NotFoundError(StrCat("Schema '", db, "' does not exist"));
    format = AsciiUpper(Prop(w.properties, "format", "PARQUET"));
    delimiter = Prop(w.properties, "field_delimiter");
    location = Prop(w.properties, "external_location");
    if (location.empty()) location = StrCat("s3://sluice-athena-results/tables/", RandomHex(16), "/");
    partition_keys = w.partitioned_by;
  } else {
    if (!existing.ok()) return absl::NotFoundError(StrCat("TABLE_NOT_FOUND: Table 'awsdatacatalog.", db, ".", w.table.name, "' does not exist"));
    table = *existing;
    const Json& sd = table["StorageDescriptor"];
    std::string cls = table.value("Parameters", Json::object()).value("classification", "");
    std::string serde = AsciiLower(sd.value("SerdeInfo", Json::object()).value("SerializationLibrary", ""));
    format = cls == "parquet" || serde.find("parquet") != std::string::npos ? "PARQUET"
             : cls == "json" || serde.find("json") != std::string::npos  ? "JSON"
                                                                          : "TEXTFILE";
    delimiter = sd.value("SerdeInfo", Json::object()).value("Parameters", Json::object()).value("field.delim", "");
    location = sd.value("Location", "");
    for (const auto& k : table.value("PartitionKeys", Json::array())) partition_keys.push_back(AsciiLower(k.value("Name", "")));
  }
  ASSIGN_OR_RETURN(Json descriptor, FormatDescriptor(format, delimiter));
  ASSIGN_OR_RETURN(auto where, ParseS3Location(location));
  auto [bucket, prefix] = where;
  if (!prefix.empty() && prefix.back() != '/') prefix.push_back('/');
  if (create) {
    ListRequest probe;
    probe.prefix = prefix;
    probe.max_keys = 1;
    auto page = store_.List(bucket, probe);
    if (!page.ok()) return absl::InvalidArgumentError(StrCat("The external_location bucket '", bucket, "' does not exist"));
    if (!page->objects.empty()) {
      return absl::AlreadyExistsError(StrCat("HIVE_PATH_ALREADY_EXISTS: Target directory for table '", db, ".", w.table.name,
                                             "' already exists: ", location));
    }
  }

  RETURN_IF_ERROR(PrepareViews(w.query, db, con, &out.data_scanned_bytes));
  std::string query = TranslateFormats(w.query);
  RETURN_IF_ERROR(CheckQuery(query, con, db));
  auto described = con.Query("DESCRIBE " + query);
  if (!described.ok()) return AthenaError(described.status(), db);
  std::vector<std::pair<std::string, std::string>> columns;  // name, DuckDB type
  for (const auto& row : described->rows) columns.emplace_back(AsciiLower(row[0].value_or("")), row[1].value_or("VARCHAR"));
  if (!create) {
    // INSERT INTO matches columns by position: name them as the table does.
    std::vector<std::string> names;
    for (const auto& c : table["StorageDescriptor"].value("Columns", Json::array())) names.push_back(AsciiLower(c.value("Name", "")));
    for (const auto& k : partition_keys) names.push_back(k);
    if (names.size() != columns.size()) {
      return absl::InvalidArgumentError(StrCat("Insert query has ", columns.size(), " columns but table ", db, ".",
                                               w.table.name, " has ", names.size()));
    }
    std::vector<std::string> quoted;
    for (size_t i = 0; i < names.size(); ++i) {
      columns[i].first = names[i];
      quoted.push_back(QuoteIdent(names[i]));
    }
    query = StrCat("SELECT * FROM (", query, ") AS sluice_insert(", Join(quoted, ", "), ")");
  }
  // Partition columns come last, in order, as Athena requires.
  if (partition_keys.size() > columns.size()) return absl::InvalidArgumentError("More partition columns than columns");
  for (size_t i = 0; i < partition_keys.size(); ++i) {
    if (columns[columns.size() - partition_keys.size() + i].first != partition_keys[i]) {
      return absl::InvalidArgumentError(StrCat("Partition columns must be the last columns in the SELECT, in the order of ",
                                               create ? "partitioned_by" : "the table's partition keys"));
    }
  }

  std::vector<std::string> written;  // keys
  if (w.with_data) {
    std::string id = RandomHex(16);
    std::string scratch = StrCat(scratch_dir_, "/", id);
    RETURN_IF_ERROR(MakeDirs(scratch));
    std::string compression = AsciiLower(Prop(w.properties, "write_compression", format == "PARQUET" ? "snappy" : "none"));
    std::string options;
    if (format == "PARQUET") options = StrCat("FORMAT PARQUET, COMPRESSION ", SqlQuote(compression));
    else if (format == "JSON") options = StrCat("FORMAT JSON, COMPRESSION ", SqlQuote(compression == "none" ? "uncompressed" : compression));
    else options = StrCat("FORMAT CSV, HEADER false, DELIMITER ", SqlQuote(delimiter.empty() ? std::string(1, '\x01') : delimiter),
                          ", COMPRESSION ", SqlQuote(compression == "none" ? "uncompressed" : compression));
    std::string ext = format == "PARQUET" ? ".parquet" : format == "JSON" ? ".json" : ".csv";
    std::string target;
    if (partition_keys.empty()) {
      target = StrCat(scratch, "/", id, "_0", ext);
    } else {
      std::vector<std::string> keys;
      for (const auto& k : partition_keys) keys.push_back(QuoteIdent(k));
      target = scratch;
      options += StrCat(", PARTITION_BY (", Join(keys, ", "), "), FILENAME_PATTERN ", SqlQuote(id + "_{i}"));
    }
    auto copied = con.Query(StrCat("COPY (", query, ") TO ", SqlQuote(target), " (", options, ")"));
    if (!copied.ok()) {
      RemoveTree(scratch);
      return AthenaError(copied.status(), db);
    }
    absl::Status st = UploadTree(store_, scratch, bucket, prefix,
                                 format == "PARQUET" ? "application/octet-stream" : format == "JSON" ? "application/json" : "text/csv",
                                 &written);
    RemoveTree(scratch);
    RETURN_IF_ERROR(st);
    if (!copied->rows.empty() && !copied->rows[0].empty()) {
      ParseNumber(copied->rows[0][0].value_or("0"), &out.update_count);
    }
  }

  if (create) {
    Json cols = Json::array(), keys = Json::array();
    for (size_t i = 0; i < columns.size(); ++i) {
      Json c = {{"Name", columns[i].first}, {"Type", DuckToHiveType(columns[i].second)}};
      (i < columns.size() - partition_keys.size() ? cols : keys).push_back(c);
    }
    Json sd = {{"Columns", cols}, {"Location", StrCat("s3://", bucket, "/", prefix)},
               {"InputFormat", descriptor["InputFormat"]}, {"OutputFormat", descriptor["OutputFormat"]},
               {"SerdeInfo", descriptor["SerdeInfo"]}};
    table = {{"Name", w.table.name}, {"TableType", "EXTERNAL_TABLE"}, {"PartitionKeys", keys}, {"StorageDescriptor", sd},
             {"Parameters", {{"EXTERNAL", "TRUE"}, {"classification", descriptor["classification"]}}}};
    RETURN_IF_ERROR(catalog_.CreateTable(db, table));
  }
  table["DatabaseName"] = db;
  RETURN_IF_ERROR(RegisterPartitions(catalog_, table, bucket, prefix, written));
  return out;
}

}  // namespace sluice::athena
