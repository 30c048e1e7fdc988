#include "lambda/esm.h"

#include <set>

#include "base/ids.h"
#include "base/json.h"
#include "base/strings.h"
#include "base/time.h"
#include "lambda/service.h"

namespace sluice::lambda {
namespace {

absl::Status NotFound(const std::string& uuid) {
  return LambdaStatus(absl::StatusCode::kNotFound, "ResourceNotFoundException",
                      StrCat("The resource you requested does not exist. (Service: Lambda, Status Code: 404, UUID: ",
                             uuid, ")"));
}

absl::Status Invalid(const std::string& message) {
  return LambdaStatus(absl::StatusCode::kInvalidArgument, "InvalidParameterValueException", message);
}

// An SQS message (ReceiveMessage's JSON shape) as a record of Lambda's SQS event.
Json Record(const Json& m, const std::string& queue_arn, const std::string& region) {
  Json attrs = Json::object();
  if (m.contains("MessageAttributes")) {
    for (auto it = m["MessageAttributes"].begin(); it != m["MessageAttributes"].end(); ++it) {
      const Json& v = it.value();
      Json a = {{"stringListValues", Json::array()}, {"binaryListValues", Json::array()},
                {"dataType", v.value("DataType", "String")}};
      if (v.contains("StringValue")) a["stringValue"] = v["StringValue"];
      if (v.contains("BinaryValue")) a["binaryValue"] = v["BinaryValue"];
      attrs[it.key()] = a;
    }
  }
  Json r = {{"messageId", m.value("MessageId", "")},
            {"receiptHandle", m.value("ReceiptHandle", "")},
            {"body", m.value("Body", "")},
            {"attributes", m.value("Attributes", Json::object())},
            {"messageAttributes", attrs},
            {"md5OfBody", m.value("MD5OfBody", "")},
            {"eventSource", "aws:sqs"},
            {"eventSourceARN", queue_arn},
            {"awsRegion", region}};
  if (m.contains("MD5OfMessageAttributes")) r["md5OfMessageAttributes"] = m["MD5OfMessageAttributes"];
  return r;
}

}  // namespace

absl::Status EventSourceMappings::Load(SqliteDb& db) {
  RETURN_IF_ERROR(db.Exec("CREATE TABLE IF NOT EXISTS event_source_mappings(uuid TEXT PRIMARY KEY, doc TEXT NOT NULL);"));
  ASSIGN_OR_RETURN(SqliteStmt * q, db.Prepare("SELECT uuid, doc FROM event_source_mappings"));
  q->Reset();
  std::lock_guard lock(mu_);
  for (;;) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    auto m = std::make_unique<Mapping>();
    m->doc = ParseJson(q->Text(1), kMaxStoredJsonDepth);
    if (m->doc.is_discarded()) return absl::DataLossError("lambda.db: an event source mapping is not JSON");
    mappings_[q->Text(0)] = std::move(m);
  }
  return absl::OkStatus();
}

void EventSourceMappings::Start() {
  std::lock_guard lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  for (auto& [uuid, m] : mappings_) StartPoller(m.get());
}

void EventSourceMappings::StartPoller(Mapping* m) {
  if (!started_ || stopping_ || m->poller.joinable() || m->doc.value("State", "") != "Enabled") return;
  m->stop = false;
  m->poller = std::thread([this, m] { Poll(m); });
}

void EventSourceMappings::Stop() {
  std::vector<Mapping*> all;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [uuid, m] : mappings_) all.push_back(m.get());
    for (auto& m : retired_) all.push_back(m.get());
  }
  for (Mapping* m : all) m->stop = true;
  for (Mapping* m : all) {
    if (m->poller.joinable()) m->poller.join();
  }
}

std::string EventSourceMappings::QueueUrl(const std::string& arn) const {
  auto parts = Split(arn, ':');
  if (parts.size() != 6) return "";
  return StrCat("http://sqs.", parts[3], ".localhost/", parts[4], "/", parts[5]);
}

absl::Status EventSourceMappings::Persist(const Json& doc) {
  std::string uuid = doc.value("UUID", ""), text = doc.dump();
  return writer_.Write([uuid, text](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStmt * q, db.Prepare("INSERT OR REPLACE INTO event_source_mappings(uuid, doc) VALUES(?, ?)"));
    return q->Bind(1, uuid).Bind(2, text).Run();
  });
}

absl::StatusOr<Json> EventSourceMappings::Create(const Json& in) {
  std::string source = in.value("EventSourceArn", "");
  if (!source.starts_with("arn:aws:sqs:")) {
    return LambdaStatus(absl::StatusCode::kUnimplemented, "NotImplemented",
                        StrCat("Sluice's event source mappings read SQS queues only, not ", source));
  }
  if (!options_.sqs_call) return Invalid("SQS is not available in this Sluice");
  auto queue = options_.sqs_call("GetQueueAttributes", {{"QueueUrl", QueueUrl(source)}, {"AttributeNames", {"All"}}});
  if (!queue.ok()) return Invalid(StrCat("The provided event source ", source, " does not exist"));
  bool fifo = source.ends_with(".fifo");
  ASSIGN_OR_RETURN(std::string function_arn, service_.FunctionArn(in.value("FunctionName", "")));
  int batch = in.value("BatchSize", 10);
  int window = in.value("MaximumBatchingWindowInSeconds", 0);
  if (batch < 1 || batch > (fifo ? 10 : 10000)) {
    return Invalid(StrCat("BatchSize must be between 1 and ", fifo ? 10 : 10000, " for SQS event sources"));
  }
  if (batch > 10 && window < 1) {
    return Invalid("Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10");
  }
  if (window < 0 || window > 300) return Invalid("MaximumBatchingWindowInSeconds must be between 0 and 300");
  Json types = in.value("FunctionResponseTypes", Json::array());
  for (const auto& t : types) {
    if (t != "ReportBatchItemFailures") return Invalid(StrCat("Unsupported FunctionResponseType ", t.dump()));
  }
  std::lock_guard lock(mu_);
  for (const auto& [uuid, m] : mappings_) {
    if (m->doc.value("EventSourceArn", "") == source && m->doc.value("FunctionArn", "") == function_arn) {
      return LambdaStatus(absl::StatusCode::kAlreadyExists, "ResourceConflictException",
                          StrCat("An event source mapping with SQS arn (\" ", source, " \") and function (\" ",
                                 in.value("FunctionName", ""), " \") already exists. Please update or delete the "
                                 "existing mapping with UUID ", uuid));
    }
  }
  Json doc = {{"UUID", NewUuid()},
              {"BatchSize", batch},
              {"MaximumBatchingWindowInSeconds", window},
              {"EventSourceArn", source},
              {"FunctionArn", function_arn},
              {"LastModified", EpochSeconds(absl::Now())},
              {"State", in.value("Enabled", true) ? "Enabled" : "Disabled"},
              {"StateTransitionReason", "USER_INITIATED"},
              {"FunctionResponseTypes", types}};
  if (in.contains("ScalingConfig")) doc["ScalingConfig"] = in["ScalingConfig"];
  RETURN_IF_ERROR(Persist(doc));
  auto m = std::make_unique<Mapping>();
  m->doc = doc;
  Mapping* raw = m.get();
  mappings_[doc["UUID"]] = std::move(m);
  StartPoller(raw);
  return doc;
}

absl::StatusOr<Json> EventSourceMappings::Get(const std::string& uuid) {
  std::lock_guard lock(mu_);
  auto it = mappings_.find(uuid);
  if (it == mappings_.end()) return NotFound(uuid);
  return it->second->doc;
}

absl::StatusOr<Json> EventSourceMappings::List(const std::string& function, const std::string& source) {
  std::string function_arn;
  if (!function.empty()) {
    ASSIGN_OR_RETURN(function_arn, service_.FunctionArn(function));
  }
  std::lock_guard lock(mu_);
  Json out = {{"EventSourceMappings", Json::array()}};
  for (const auto& [uuid, m] : mappings_) {
    if (!function_arn.empty() && m->doc.value("FunctionArn", "") != function_arn) continue;
    if (!source.empty() && m->doc.value("EventSourceArn", "") != source) continue;
    out["EventSourceMappings"].push_back(m->doc);
  }
  return out;
}

absl::StatusOr<Json> EventSourceMappings::Update(const std::string& uuid, const Json& in) {
  std::unique_ptr<Mapping> old;
  Json doc;
  {
    std::lock_guard lock(mu_);
    auto it = mappings_.find(uuid);
    if (it == mappings_.end()) return NotFound(uuid);
    doc = it->second->doc;
  }
  if (in.contains("FunctionName")) {
    ASSIGN_OR_RETURN(doc["FunctionArn"], service_.FunctionArn(in["FunctionName"].get<std::string>()));
  }
  for (const char* k : {"BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes", "ScalingConfig"}) {
    if (in.contains(k)) doc[k] = in[k];
  }
  if (doc.value("BatchSize", 10) > 10 && doc.value("MaximumBatchingWindowInSeconds", 0) < 1) {
    return Invalid("Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10");
  }
  if (in.contains("Enabled")) doc["State"] = in["Enabled"].get<bool>() ? "Enabled" : "Disabled";
  doc["LastModified"] = EpochSeconds(absl::Now());
  RETURN_IF_ERROR(Persist(doc));
  std::lock_guard lock(mu_);
  auto it = mappings_.find(uuid);
  if (it == mappings_.end()) return NotFound(uuid);
  // The poller restarts with the new settings: the old one finishes its batch.
  it->second->stop = true;
  retired_.push_back(std::move(it->second));
  auto m = std::make_unique<Mapping>();
  m->doc = doc;
  Mapping* raw = m.get();
  it->second = std::move(m);
  StartPoller(raw);
  return doc;
}

absl::StatusOr<Json> EventSourceMappings::Delete(const std::string& uuid) {
  Json doc;
  {
    std::lock_guard lock(mu_);
    auto it = mappings_.find(uuid);
    if (it == mappings_.end()) return NotFound(uuid);
    doc = it->second->doc;
  }
  RETURN_IF_ERROR(writer_.Write([uuid](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStmt * q, db.Prepare("DELETE FROM event_source_mappings WHERE uuid=?"));
    return q->Bind(1, uuid).Run();
  }));
  std::lock_guard lock(mu_);
  auto it = mappings_.find(uuid);
  if (it != mappings_.end()) {
    it->second->stop = true;
    retired_.push_back(std::move(it->second));
    mappings_.erase(it);
  }
  doc["State"] = "Deleting";
  return doc;
}

void EventSourceMappings::Poll(Mapping* m) {
  const Json doc = m->doc;  // immutable for this poller's life (updates start a new poller)
  std::string source = doc.value("EventSourceArn", ""), function = doc.value("FunctionArn", "");
  std::string url = QueueUrl(source);
  size_t batch = doc.value("BatchSize", 10);
  absl::Duration window = absl::Seconds(doc.value("MaximumBatchingWindowInSeconds", 0));
  bool partial = false;
  for (const auto& t : doc.value("FunctionResponseTypes", Json::array())) partial = partial || t == "ReportBatchItemFailures";
  auto parts = Split(source, ':');
  std::string region = parts.size() > 3 ? std::string(parts[3]) : options_.region;
  while (!m->stop) {
    Json messages = Json::array();
    absl::Time until = absl::Now() + window;
    do {
      size_t want = std::min<size_t>(10, batch - messages.size());
      auto r = options_.sqs_call("ReceiveMessage", {{"QueueUrl", url},
                                                    {"MaxNumberOfMessages", want},
                                                    {"WaitTimeSeconds", 1},
                                                    {"AttributeNames", {"All"}},
                                                    {"MessageAttributeNames", {"All"}}});
      if (!r.ok()) break;  // the queue is gone or SQS is stopping: try again
      for (const auto& msg : r->value("Messages", Json::array())) messages.push_back(msg);
    } while (!m->stop && messages.size() < batch && absl::Now() < until);
    if (messages.empty()) continue;
    Json event = {{"Records", Json::array()}};
    for (const auto& msg : messages) event["Records"].push_back(Record(msg, source, region));
    auto result = service_.Invoke(function, event.dump(), InvocationType::kRequestResponse, false);
    if (!result.ok() || !result->function_error.empty()) continue;  // back after the visibility timeout
    std::set<std::string> failed;
    if (partial) {
      Json out = ParseJson(result->payload);
      if (out.is_object() && out.contains("batchItemFailures")) {
        bool malformed = !out["batchItemFailures"].is_array();
        if (!malformed) {
          for (const auto& f : out["batchItemFailures"]) {
            std::string id = f.is_object() ? f.value("itemIdentifier", "") : "";
            if (id.empty()) malformed = true;
            failed.insert(id);
          }
        }
        if (malformed) continue;  // AWS treats an unreadable response as the whole batch failing
      }
    }
    Json entries = Json::array();
    for (const auto& msg : messages) {
      std::string id = msg.value("MessageId", "");
      if (failed.contains(id)) continue;
      entries.push_back({{"Id", StrCat("m", entries.size())}, {"ReceiptHandle", msg.value("ReceiptHandle", "")}});
      if (entries.size() == 10) {
        (void)options_.sqs_call("DeleteMessageBatch", {{"QueueUrl", url}, {"Entries", entries}});
        entries = Json::array();
      }
    }
    if (!entries.empty()) (void)options_.sqs_call("DeleteMessageBatch", {{"QueueUrl", url}, {"Entries", entries}});
  }
}

}  // namespace sluice::lambda
