// The Athena API (awsJson1_1, X-Amz-Target AmazonAthena.<Action>).
#include <map>
#include <mutex>

#include "athena/athena.h"
#include "base/strings.h"
#include "base/time.h"
#include "http/json_api.h"

namespace sluice {
namespace {



JsonReply Invalid(std::string message) {
  JsonReply r = JsonReply::Error(400, "InvalidRequestException", std::move(message));
  return r;
}

Json ExecutionJson(const QueryExecution& q) {
  Json status = {{"State", q.state}, {"SubmissionDateTime", EpochSeconds(q.submitted)}};
  if (!q.state_change_reason.empty()) status["StateChangeReason"] = q.state_change_reason;
  if (q.state == "SUCCEEDED" || q.state == "FAILED" || q.state == "CANCELLED") {
    status["CompletionDateTime"] = EpochSeconds(q.completed);
  }
  if (q.state == "FAILED") {
    int category = 2, type = 1000;
    ParseNumber(q.error_category, &category);
    ParseNumber(q.error_type, &type);
    status["AthenaError"] = {{"ErrorCategory", category}, {"ErrorType", type}, {"Retryable", false},
                             {"ErrorMessage", q.state_change_reason}};
  }
  Json j = {{"QueryExecutionId", q.id},
            {"Query", q.query},
            {"StatementType", q.statement_type},
            {"QueryExecutionContext", {{"Database", q.database}, {"Catalog", "awsdatacatalog"}}},
            {"Status", status},
            {"Statistics",
             {{"EngineExecutionTimeInMillis", q.engine_ms},
              {"DataScannedInBytes", q.scanned},
              {"TotalExecutionTimeInMillis", q.total_ms},
              {"QueryQueueTimeInMillis", q.queue_ms},
              {"ServicePreProcessingTimeInMillis", 0},
              {"QueryPlanningTimeInMillis", 0},
              {"ServiceProcessingTimeInMillis", std::max<int64_t>(0, q.total_ms - q.engine_ms - q.queue_ms)}}},
            {"WorkGroup", q.workgroup},
            {"EngineVersion", {{"SelectedEngineVersion", "AUTO"}, {"EffectiveEngineVersion", "Athena engine version 3"}}}};
  if (!q.parameters.empty()) j["ExecutionParameters"] = q.parameters;
  if (!q.output_location.empty()) {
    std::string loc = q.output_location;
    if (loc.back() != '/') loc.push_back('/');
    j["ResultConfiguration"] = {{"OutputLocation", loc + q.id + ".csv"}};
  }
  return j;
}

struct WorkGroups {
  std::mutex mu;
  std::map<std::string, Json> groups;
  std::map<std::string, Json> named_queries;
  WorkGroups() {
    groups["primary"] = {{"Name", "primary"}, {"State", "ENABLED"},
                         {"Configuration", {{"ResultConfiguration", Json::object()},
                                            {"EnforceWorkGroupConfiguration", false},
                                            {"PublishCloudWatchMetricsEnabled", false},
                                            {"EngineVersion", {{"SelectedEngineVersion", "AUTO"},
                                                               {"EffectiveEngineVersion", "Athena engine version 3"}}}}},
                         {"Description", ""}, {"CreationTime", EpochSeconds(absl::Now())}};
  }
};

JsonReply Dispatch(AthenaService& athena, WorkGroups& wg, const std::string& action, const Json& in) {
  if (action == "StartQueryExecution") {
    std::string query = JsonString(in, "QueryString");
    if (query.empty()) return Invalid("QueryString is required");
    const Json& ctx = in.value("QueryExecutionContext", Json::object());
    std::string catalog = JsonString(ctx, "Catalog");
    if (!catalog.empty() && AsciiLower(catalog) != "awsdatacatalog") {
      return Invalid(StrCat("Catalog '", catalog, "' does not exist; Sluice has the AwsDataCatalog"));
    }
    std::string group = JsonString(in, "WorkGroup");
    if (group.empty()) group = "primary";
    std::string output = JsonString(in.value("ResultConfiguration", Json::object()), "OutputLocation");
    {
      std::lock_guard lock(wg.mu);
      auto it = wg.groups.find(group);
      if (it == wg.groups.end()) return Invalid(StrCat("WorkGroup ", group, " is not found."));
      std::string group_output = it->second["Configuration"].value("ResultConfiguration", Json::object()).value("OutputLocation", "");
      if (output.empty() || it->second["Configuration"].value("EnforceWorkGroupConfiguration", false)) {
        if (!group_output.empty()) output = group_output;
      }
    }
    if (output.empty()) {
      return Invalid("No output location provided. An output location is required either through the Workgroup "
                     "result configuration setting or as an API input.");
    }
    if (!output.starts_with("s3://")) return Invalid(StrCat("OutputLocation '", output, "' must be an s3:// URI"));
    std::vector<std::string> params;
    for (const auto& p : in.value("ExecutionParameters", Json::array())) {
      if (!p.is_string()) return Invalid("ExecutionParameters must be strings");
      params.push_back(p.get<std::string>());
    }
    auto id = athena.Start(query, JsonString(ctx, "Database"), output, group, std::move(params));
    if (!id.ok()) return Invalid(std::string(id.status().message()));
    return JsonReply{{{"QueryExecutionId", *id}}, std::nullopt};
  }
  if (action == "GetQueryExecution") {
    auto q = athena.Get(JsonString(in, "QueryExecutionId"));
    if (!q) return Invalid(StrCat("QueryExecution ", JsonString(in, "QueryExecutionId"), " was not found"));
    return JsonReply{{{"QueryExecution", ExecutionJson(*q)}}, std::nullopt};
  }
  if (action == "BatchGetQueryExecution") {
    Json found = Json::array(), missing = Json::array();
    for (const auto& id : in.value("QueryExecutionIds", Json::array())) {
      if (!id.is_string()) continue;
      auto q = athena.Get(id.get<std::string>());
      if (q) found.push_back(ExecutionJson(*q));
      else missing.push_back({{"QueryExecutionId", id}, {"ErrorCode", "INVALID_INPUT"}, {"ErrorMessage", "QueryExecution not found"}});
    }
    return JsonReply{{{"QueryExecutions", found}, {"UnprocessedQueryExecutionIds", missing}}, std::nullopt};
  }
  if (action == "GetQueryResults") {
    size_t max = 1000;
    if (in.contains("MaxResults")) {
      if (!in["MaxResults"].is_number_integer() || in["MaxResults"].get<int64_t>() < 1 || in["MaxResults"].get<int64_t>() > 1000) {
        return Invalid("MaxResults must be between 1 and 1000");
      }
      max = in["MaxResults"].get<size_t>();
    }
    size_t offset = 0;
    std::string token = JsonString(in, "NextToken");
    if (!token.empty() && !ParseNumber(token, &offset)) return Invalid("The NextToken is not valid");
    QueryExecution info;
    // Offsets count the header row of DML results as row 0.
    auto first = athena.Results(JsonString(in, "QueryExecutionId"), 0, 0, &info);
    if (!first.ok()) {
      if (absl::IsNotFound(first.status())) return Invalid(std::string(first.status().message()));
      return Invalid(std::string(first.status().message()));
    }
    bool header = info.statement_type == "DML" && info.has_result_set;
    size_t total = first->second + (header ? 1 : 0);
    size_t data_offset = offset == 0 ? 0 : offset - (header ? 1 : 0);
    size_t data_max = (offset == 0 && header) ? max - 1 : max;
    auto page = athena.Results(info.id, data_offset, data_max, &info);
    if (!page.ok()) return Invalid(std::string(page.status().message()));
    const QueryResult& r = page->first;
    Json rows = Json::array();
    if (offset == 0 && header) {
      Json data = Json::array();
      for (const auto& c : r.columns) data.push_back({{"VarCharValue", c}});
      rows.push_back({{"Data", data}});
    }
    for (const auto& row : r.rows) {
      Json data = Json::array();
      for (const auto& v : row) data.push_back(v ? Json{{"VarCharValue", *v}} : Json::object());
      rows.push_back({{"Data", data}});
    }
    Json columns = Json::array();
    for (size_t i = 0; i < r.columns.size(); ++i) {
      std::string type = athena::AthenaType(r.types[i]);
      int precision = type == "varchar" ? 2147483647 : type == "bigint" ? 19 : type == "integer" ? 10 : type == "double" ? 17 : 0;
      int scale = 0;
      if (type == "decimal") {
        // DECIMAL(p,s)
        std::string t = r.types[i];
        auto open = t.find('('), comma = t.find(',');
        if (open != std::string::npos && comma != std::string::npos) {
          ParseNumber(std::string_view(t).substr(open + 1, comma - open - 1), &precision);
          ParseNumber(std::string_view(t).substr(comma + 1, t.find(')') - comma - 1), &scale);
        }
      }
      columns.push_back({{"CatalogName", "hive"}, {"SchemaName", ""}, {"TableName", ""}, {"Name", r.columns[i]},
                         {"Label", r.columns[i]}, {"Type", type}, {"Precision", precision}, {"Scale", scale},
                         {"Nullable", "UNKNOWN"}, {"CaseSensitive", type == "varchar"}});
    }
    Json body = {{"UpdateCount", info.update_count}, {"ResultSet", {{"Rows", rows}, {"ResultSetMetadata", {{"ColumnInfo", columns}}}}}};
    size_t next = offset + rows.size();
    if (next < total) body["NextToken"] = std::to_string(next);
    return JsonReply{body, std::nullopt};
  }
  if (action == "ListQueryExecutions") {
    std::string group = JsonString(in, "WorkGroup");
    auto ids = athena.List(group.empty() ? "primary" : group);
    size_t offset = 0, max = 50;
    ParseNumber(JsonString(in, "NextToken"), &offset);
    if (in.contains("MaxResults") && in["MaxResults"].is_number_integer()) max = in["MaxResults"].get<size_t>();
    Json out = Json::array();
    for (size_t i = offset; i < ids.size() && i < offset + max; ++i) out.push_back(ids[i]);
    Json body = {{"QueryExecutionIds", out}};
    if (offset + max < ids.size()) body["NextToken"] = std::to_string(offset + max);
    return JsonReply{body, std::nullopt};
  }
  if (action == "StopQueryExecution") {
    absl::Status st = athena.Cancel(JsonString(in, "QueryExecutionId"));
    if (!st.ok()) return Invalid(std::string(st.message()));
    return JsonReply{};
  }
  if (action == "GetWorkGroup") {
    std::lock_guard lock(wg.mu);
    auto it = wg.groups.find(JsonString(in, "WorkGroup"));
    if (it == wg.groups.end()) return Invalid(StrCat("WorkGroup ", JsonString(in, "WorkGroup"), " is not found."));
    return JsonReply{{{"WorkGroup", it->second}}, std::nullopt};
  }
  if (action == "ListWorkGroups") {
    std::lock_guard lock(wg.mu);
    Json list = Json::array();
    for (const auto& [name, g] : wg.groups) {
      list.push_back({{"Name", name}, {"State", g["State"]}, {"Description", g.value("Description", "")},
                      {"CreationTime", g["CreationTime"]}, {"EngineVersion", g["Configuration"]["EngineVersion"]}});
    }
    return JsonReply{{{"WorkGroups", list}}, std::nullopt};
  }
  if (action == "CreateWorkGroup") {
    std::string name = JsonString(in, "Name");
    if (name.empty() || name.size() > 128) return Invalid("WorkGroup name must be 1 to 128 characters long");
    std::lock_guard lock(wg.mu);
    if (wg.groups.contains(name)) return Invalid(StrCat("WorkGroup is already created: ", name));
    Json config = in.value("Configuration", Json::object());
    config["EngineVersion"] = {{"SelectedEngineVersion", "AUTO"}, {"EffectiveEngineVersion", "Athena engine version 3"}};
    wg.groups[name] = {{"Name", name}, {"State", "ENABLED"}, {"Configuration", config},
                       {"Description", JsonString(in, "Description")}, {"CreationTime", EpochSeconds(absl::Now())}};
    return JsonReply{};
  }
  if (action == "CreateNamedQuery") {
    std::string name = JsonString(in, "Name"), query = JsonString(in, "QueryString"), db = JsonString(in, "Database");
    if (name.empty() || query.empty() || db.empty()) return Invalid("Name, Database and QueryString are required");
    std::lock_guard lock(wg.mu);
    std::string id = StrCat("nq-", wg.named_queries.size() + 1, "-", absl::ToUnixMicros(absl::Now()));
    std::string group = JsonString(in, "WorkGroup");
    wg.named_queries[id] = {{"Name", name}, {"Description", JsonString(in, "Description")}, {"Database", db},
                            {"QueryString", query}, {"NamedQueryId", id}, {"WorkGroup", group.empty() ? "primary" : group}};
    return JsonReply{{{"NamedQueryId", id}}, std::nullopt};
  }
  if (action == "GetNamedQuery") {
    std::lock_guard lock(wg.mu);
    auto it = wg.named_queries.find(JsonString(in, "NamedQueryId"));
    if (it == wg.named_queries.end()) return Invalid("NamedQuery not found");
    return JsonReply{{{"NamedQuery", it->second}}, std::nullopt};
  }
  if (action == "ListNamedQueries") {
    std::lock_guard lock(wg.mu);
    Json ids = Json::array();
    for (const auto& [id, q] : wg.named_queries) ids.push_back(id);
    return JsonReply{{{"NamedQueryIds", ids}}, std::nullopt};
  }
  if (action == "DeleteNamedQuery") {
    std::lock_guard lock(wg.mu);
    wg.named_queries.erase(JsonString(in, "NamedQueryId"));
    return JsonReply{};
  }
  return JsonReply::Error(400, "InvalidRequestException", StrCat("Sluice does not implement Athena ", action, " yet."));
}

}  // namespace

ServiceRoute MakeAthenaService(AthenaService& athena) {
  auto groups = std::make_shared<WorkGroups>();  // shared by every request's closure
  JsonServiceSpec spec;
  spec.signing_name = "athena";
  spec.target_prefix = "AmazonAthena";
  spec.dispatch = [&athena, groups](const std::string& action, const Json& in, const HttpRequest&) {
    return Dispatch(athena, *groups, action, in);
  };
  return MakeJsonService(std::move(spec));
}

}  // namespace sluice
