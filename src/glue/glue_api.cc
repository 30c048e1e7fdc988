// The Glue Data Catalog actions: databases, tables, partitions.
#include "base/strings.h"
#include "glue/api.h"
#include "glue/glue.h"

namespace sluice {

JsonReply FromStatus(const absl::Status& st) {
  std::string msg(st.message());
  if (absl::IsNotFound(st)) return JsonReply::Error(400, "EntityNotFoundException", msg);
  if (absl::IsAlreadyExists(st)) return JsonReply::Error(400, "AlreadyExistsException", msg);
  if (absl::IsInvalidArgument(st)) return JsonReply::Error(400, "InvalidInputException", msg);
  return JsonReply::Error(500, "InternalServiceException", msg);
}

JsonReply Ok(Json body) {
  JsonReply r;
  r.body = std::move(body);
  return r;
}

JsonReply Missing(const char* field) {
  return JsonReply::Error(400, "InvalidInputException", StrCat("Missing required parameter: ", field));
}

// Index-based pages: NextToken is the offset of the next item.
Json Page(std::vector<Json> items, const Json& in, const char* name) {
  size_t start = 0;
  std::string token = JsonString(in, "NextToken");
  if (!token.empty()) ParseNumber(token, &start);
  size_t max = 1000;
  if (in.contains("MaxResults") && in["MaxResults"].is_number_integer()) max = std::max<int64_t>(1, in["MaxResults"].get<int64_t>());
  Json out = Json::object();
  out[name] = Json::array();
  for (size_t i = start; i < items.size() && i < start + max; ++i) out[name].push_back(std::move(items[i]));
  if (start + max < items.size()) out["NextToken"] = std::to_string(start + max);
  return out;
}

namespace {


JsonReply CrawlerAction(Crawlers& crawlers, const std::string& action, const Json& in) {
  std::string name = JsonString(in, "Name");
  auto reply = [&](const absl::Status& st, const char* busy_code) {
    if (absl::IsFailedPrecondition(st)) return JsonReply::Error(400, busy_code, std::string(st.message()));
    return st.ok() ? Ok() : FromStatus(st);
  };
  if (action == "CreateCrawler") return reply(crawlers.Create(in), "InvalidInputException");
  if (action == "GetCrawler") {
    auto c = crawlers.Get(name);
    return c.ok() ? Ok({{"Crawler", *c}}) : FromStatus(c.status());
  }
  if (action == "GetCrawlers") {
    auto all = crawlers.List();
    return all.ok() ? Ok(Page(std::move(*all), in, "Crawlers")) : FromStatus(all.status());
  }
  if (action == "ListCrawlers") {
    auto all = crawlers.List();
    if (!all.ok()) return FromStatus(all.status());
    Json names = Json::array();
    for (const auto& c : *all) names.push_back(c.value("Name", ""));
    return Ok({{"CrawlerNames", names}});
  }
  if (action == "DeleteCrawler") return reply(crawlers.Delete(name), "CrawlerRunningException");
  if (action == "StartCrawler") return reply(crawlers.Start(name), "CrawlerRunningException");
  if (action == "StopCrawler") return reply(crawlers.StopCrawl(name), "CrawlerNotRunningException");
  if (action == "GetCrawlerMetrics") {
    Json list = Json::array();
    std::vector<std::string> names;
    for (const auto& n : in.value("CrawlerNameList", Json::array())) {
      if (n.is_string()) names.push_back(n.get<std::string>());
    }
    if (names.empty()) {
      auto all = crawlers.List();
      if (!all.ok()) return FromStatus(all.status());
      for (const auto& c : *all) names.push_back(c.value("Name", ""));
    }
    for (const auto& n : names) {
      auto m = crawlers.Metrics(n);
      if (!m.ok()) return FromStatus(m.status());
      list.push_back(*m);
    }
    return Ok({{"CrawlerMetricsList", list}});
  }
  return JsonReply::Error(400, "InvalidAction", StrCat("Sluice does not implement Glue ", action, " yet."));
}

JsonReply Dispatch(Catalog& c, const std::string& action, const Json& in) {
  std::string db = JsonString(in, "DatabaseName");
  std::string table = JsonString(in, "TableName");
  if (action == "CreateDatabase") {
    if (!in.contains("DatabaseInput") || !in["DatabaseInput"].is_object()) return Missing("DatabaseInput");
    absl::Status st = c.CreateDatabase(in["DatabaseInput"]);
    return st.ok() ? Ok() : FromStatus(st);
  }
  if (action == "GetDatabase") {
    auto d = c.GetDatabase(JsonString(in, "Name"));
    return d.ok() ? Ok({{"Database", *d}}) : FromStatus(d.status());
  }
  if (action == "GetDatabases") {
    auto all = c.GetDatabases();
    return all.ok() ? Ok(Page(std::move(*all), in, "DatabaseList")) : FromStatus(all.status());
  }
  if (action == "UpdateDatabase") {
    if (!in.contains("DatabaseInput") || !in["DatabaseInput"].is_object()) return Missing("DatabaseInput");
    absl::Status st = c.UpdateDatabase(JsonString(in, "Name"), in["DatabaseInput"]);
    return st.ok() ? Ok() : FromStatus(st);
  }
  if (action == "DeleteDatabase") {
    absl::Status st = c.DeleteDatabase(JsonString(in, "Name"));
    return st.ok() ? Ok() : FromStatus(st);
  }
  if (action == "CreateTable") {
    if (!in.contains("TableInput") || !in["TableInput"].is_object()) return Missing("TableInput");
    absl::Status st = c.CreateTable(db, in["TableInput"]);
    if (st.ok() && in.contains("PartitionIndexes")) { /* accepted; Sluice filters partitions without indexes */ }
    return st.ok() ? Ok() : FromStatus(st);
  }
  if (action == "GetTable") {
    auto t = c.GetTable(db, JsonString(in, "Name"));
    return t.ok() ? Ok({{"Table", *t}}) : FromStatus(t.status());
  }
  if (action == "GetTables") {
    auto all = c.GetTables(db, JsonString(in, "Expression"));
    return all.ok() ? Ok(Page(std::move(*all), in, "TableList")) : FromStatus(all.status());
  }
  if (action == "UpdateTable") {
    if (!in.contains("TableInput") || !in["TableInput"].is_object()) return Missing("TableInput");
    absl::Status st = c.UpdateTable(db, in["TableInput"]);
    return st.ok() ? Ok() : FromStatus(st);
  }
  if (action == "DeleteTable") {
    absl::Status st = c.DeleteTable(db, JsonString(in, "Name"));
    return st.ok() ? Ok() : FromStatus(st);
  }
  if (action == "BatchDeleteTable") {
    Json errors = Json::array();
    for (const auto& name : in.value("TablesToDelete", Json::array())) {
      if (!name.is_string()) continue;
      absl::Status st = c.DeleteTable(db, name.get<std::string>());
      if (!st.ok()) {
        JsonReply e = FromStatus(st);
        errors.push_back({{"TableName", name}, {"ErrorDetail", {{"ErrorCode", e.error->code}, {"ErrorMessage", e.error->message}}}});
      }
    }
    return Ok({{"Errors", errors}});
  }
  if (action == "CreatePartition") {
    if (!in.contains("PartitionInput") || !in["PartitionInput"].is_object()) return Missing("PartitionInput");
    absl::Status st = c.CreatePartition(db, table, in["PartitionInput"]);
    return st.ok() ? Ok() : FromStatus(st);
  }
  if (action == "BatchCreatePartition") {
    Json errors = Json::array();
    for (const auto& p : in.value("PartitionInputList", Json::array())) {
      absl::Status st = c.CreatePartition(db, table, p);
      if (!st.ok()) {
        JsonReply e = FromStatus(st);
        errors.push_back({{"PartitionValues", p.value("Values", Json::array())},
                          {"ErrorDetail", {{"ErrorCode", e.error->code}, {"ErrorMessage", e.error->message}}}});
      }
    }
    return Ok({{"Errors", errors}});
  }
  if (action == "GetPartition") {
    auto p = c.GetPartition(db, table, in.value("PartitionValues", Json::array()));
    return p.ok() ? Ok({{"Partition", *p}}) : FromStatus(p.status());
  }
  if (action == "GetPartitions") {
    auto all = c.GetPartitions(db, table, JsonString(in, "Expression"));
    return all.ok() ? Ok(Page(std::move(*all), in, "Partitions")) : FromStatus(all.status());
  }
  if (action == "BatchGetPartition") {
    Json found = Json::array(), missing = Json::array();
    for (const auto& entry : in.value("PartitionsToGet", Json::array())) {
      Json values = entry.value("Values", Json::array());
      auto p = c.GetPartition(db, table, values);
      if (p.ok()) found.push_back(*p);
      else if (absl::IsNotFound(p.status())) missing.push_back({{"Values", values}});
      else return FromStatus(p.status());
    }
    return Ok({{"Partitions", found}, {"UnprocessedKeys", missing}});
  }
  if (action == "UpdatePartition") {
    if (!in.contains("PartitionInput") || !in["PartitionInput"].is_object()) return Missing("PartitionInput");
    absl::Status st = c.UpdatePartition(db, table, in.value("PartitionValueList", Json::array()), in["PartitionInput"]);
    return st.ok() ? Ok() : FromStatus(st);
  }
  if (action == "DeletePartition") {
    absl::Status st = c.DeletePartition(db, table, in.value("PartitionValues", Json::array()));
    return st.ok() ? Ok() : FromStatus(st);
  }
  if (action == "BatchDeletePartition") {
    Json errors = Json::array();
    for (const auto& entry : in.value("PartitionsToDelete", Json::array())) {
      Json values = entry.value("Values", Json::array());
      absl::Status st = c.DeletePartition(db, table, values);
      if (!st.ok()) {
        JsonReply e = FromStatus(st);
        errors.push_back({{"PartitionValues", values}, {"ErrorDetail", {{"ErrorCode", e.error->code}, {"ErrorMessage", e.error->message}}}});
      }
    }
    return Ok({{"Errors", errors}});
  }
  return JsonReply::Error(400, "InvalidAction", StrCat("Sluice does not implement Glue ", action, " yet."));
}

}  // namespace

ServiceRoute MakeGlueService(Catalog& catalog, Crawlers& crawlers, Jobs& jobs, DataQuality& dq) {
  JsonServiceSpec spec;
  spec.signing_name = "glue";
  spec.target_prefix = "AWSGlue";
  spec.dispatch = [&catalog, &crawlers, &jobs, &dq](const std::string& action, const Json& in, const HttpRequest&) {
    if (action.find("Crawler") != std::string::npos) return CrawlerAction(crawlers, action, in);
    if (action.find("DataQuality") != std::string::npos) return DataQualityAction(dq, action, in);
    if (action.find("Job") != std::string::npos) return JobAction(jobs, action, in);
    return Dispatch(catalog, action, in);
  };
  return MakeJsonService(std::move(spec));
}

}  // namespace sluice
