#include "server/integrations.h"

#include <unistd.h>

#include <thread>

#include "base/ids.h"
#include "base/json.h"
#include "base/strings.h"
#include "io/checksum.h"
#include "states/language.h"

namespace sluice {
namespace {

using Json = nlohmann::json;

// Waits for a job-like resource to finish: polls `describe` until `done` says so.
absl::StatusOr<Json> Poll(const std::function<absl::StatusOr<Json>()>& describe,
                          const std::function<std::string(const Json&)>& state, const std::vector<std::string>& ok,
                          const std::vector<std::string>& failed, absl::Time deadline,
                          const std::function<bool()>& stopped, const std::function<void()>& cancel) {
  for (int delay = 50;; delay = std::min(delay * 2, 1000)) {
    ASSIGN_OR_RETURN(Json d, describe());
    std::string s = state(d);
    if (std::find(ok.begin(), ok.end(), s) != ok.end()) return d;
    if (std::find(failed.begin(), failed.end(), s) != failed.end()) {
      return states::StatesError("States.TaskFailed", d.dump());
    }
    if (stopped()) {
      cancel();  // the task is abandoned: stop what it started, as Step Functions does
      if (absl::Now() >= deadline) return states::StatesError("States.Timeout", "The task timed out");
      return absl::CancelledError("The execution was stopped");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
  }
}

}  // namespace

absl::StatusOr<Json> JsonRoutes::Call(const std::string& service, const std::string& action, const Json& input) const {
  auto it = services.find(service);
  if (it == services.end()) {
    return states::StatesError("States.TaskFailed", StrCat("Sluice has no ", service, " service for aws-sdk tasks yet"));
  }
  HttpRequest req;
  req.method = "POST";
  req.path = "/";
  req.request_id = "sfn-internal";
  req.headers = {{"x-amz-target", StrCat(it->second.target_prefix, ".", action)},
                 {"content-type", "application/x-amz-json-1.1"}};
  SigV4Auth auth;
  auto op = it->second.route.handler(req, auth);
  std::string body = input.dump();
  op->OnBody(body);
  HttpResponse r = op->Finish();
  Json out = StripWhitespace(r.body).empty() ? Json::object() : ParseJson(r.body);
  if (r.status != 200) {
    std::string code = out.is_object() ? out.value("__type", "ServiceException") : "ServiceException";
    if (auto hash = code.rfind('#'); hash != std::string::npos) code = code.substr(hash + 1);
    std::string message = out.is_object() ? out.value("message", out.value("Message", r.body)) : r.body;
    return states::StatesError(StrCat(it->second.error_prefix, ".", code), message);
  }
  return out;
}

void RegisterStatesIntegrations(StepFunctions& sfn, const JsonRoutes& routes) {
  for (const auto& [name, entry] : routes.services) {
    std::string service = name;
    sfn.RegisterSdk(service, [&routes, service](const std::string& action, const Json& input) {
      return routes.Call(service, action, input);
    });
  }
  sfn.RegisterIntegration("glue", [&routes](const std::string& action, const std::string& mode, const Json& params,
                                            absl::Time deadline, const std::function<bool()>& stopped,
                                            TaskAttachment& attachment) -> absl::StatusOr<Json> {
    if (action != "startJobRun") {
      return states::StatesError("States.Runtime", StrCat("Unsupported Glue integration ", action));
    }
    // After a restart, wait for the run this task started rather than starting another.
    std::string job = params.value("JobName", ""), run = attachment.state.value("JobRunId", "");
    if (run.empty()) {
      ASSIGN_OR_RETURN(Json started, routes.Call("glue", "StartJobRun", params));
      run = started.value("JobRunId", "");
      attachment.state["JobRunId"] = run;
      attachment.persist();
    }
    if (mode.empty()) return Json{{"JobRunId", run}};
    ASSIGN_OR_RETURN(Json done,
                     Poll([&] { return routes.Call("glue", "GetJobRun", {{"JobName", job}, {"RunId", run}}); },
                          [](const Json& d) { return d["JobRun"].value("JobRunState", ""); }, {"SUCCEEDED"},
                          {"FAILED", "STOPPED", "TIMEOUT", "ERROR"}, deadline, stopped,
                          [&] { (void)routes.Call("glue", "BatchStopJobRun", {{"JobName", job}, {"JobRunIds", {run}}}); }));
    return done["JobRun"];
  });
  sfn.RegisterIntegration("athena", [&routes](const std::string& action, const std::string& mode, const Json& params,
                                              absl::Time deadline, const std::function<bool()>& stopped,
                                              TaskAttachment& attachment) -> absl::StatusOr<Json> {
    std::string op = action;
    if (!op.empty()) op[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(op[0])));
    if (action != "startQueryExecution") return routes.Call("athena", op, params);
    std::string id = attachment.state.value("QueryExecutionId", "");
    if (id.empty()) {
      ASSIGN_OR_RETURN(Json out, routes.Call("athena", op, params));
      id = out.value("QueryExecutionId", "");
      attachment.state["QueryExecutionId"] = id;
      attachment.persist();
    }
    if (mode.empty()) return Json{{"QueryExecutionId", id}};
    return Poll([&] { return routes.Call("athena", "GetQueryExecution", {{"QueryExecutionId", id}}); },
                [](const Json& d) { return d["QueryExecution"]["Status"].value("State", ""); }, {"SUCCEEDED"},
                {"FAILED", "CANCELLED"}, deadline, stopped,
                [&] { (void)routes.Call("athena", "StopQueryExecution", {{"QueryExecutionId", id}}); });
  });
  sfn.RegisterIntegration("events", [&routes](const std::string& action, const std::string&, const Json& params,
                                              absl::Time, const std::function<bool()>&,
                                              TaskAttachment&) -> absl::StatusOr<Json> {
    if (action != "putEvents") return states::StatesError("States.Runtime", StrCat("Unsupported EventBridge integration ", action));
    Json entries = params.value("Entries", Json::array());
    for (auto& e : entries) {
      // The integration accepts Detail as an object and sends it as JSON text.
      if (e.contains("Detail") && !e["Detail"].is_string()) e["Detail"] = e["Detail"].dump();
    }
    ASSIGN_OR_RETURN(Json out, routes.Call("eventbridge", "PutEvents", {{"Entries", entries}}));
    if (out.value("FailedEntryCount", 0) > 0) return states::StatesError("EventBridge.FailedEntry", out.dump());
    return out;
  });
}

void RegisterItemReader(StepFunctions& sfn, ObjectStore& store) {
  sfn.RegisterItemReader([&store](const Json& reader) -> absl::StatusOr<Json> {
    std::string resource = reader.value("Resource", "");
    const Json& p = reader.value("Parameters", Json::object());
    const Json& config = reader.value("ReaderConfig", Json::object());
    size_t max = config.value("MaxItems", size_t{0});
    std::string bucket = p.value("Bucket", "");
    Json items = Json::array();
    auto fail = [](const std::string& why) { return states::StatesError("States.ItemReaderFailed", why); };
    if (resource.ends_with("s3:listObjectsV2")) {
      ListRequest req;
      req.prefix = p.value("Prefix", "");
      for (;;) {
        auto page = store.List(bucket, req);
        if (!page.ok()) return fail(std::string(page.status().message()));
        for (const auto& o : page->objects) {
          items.push_back({{"Key", o.key}, {"Size", o.size}, {"ETag", "\"" + o.etag + "\""},
                           {"LastModified", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", o.last_modified, absl::UTCTimeZone())},
                           {"StorageClass", o.storage_class}});
          if (max && items.size() >= max) return items;
        }
        if (!page->truncated) return items;
        req.after = page->last;
      }
    }
    if (!resource.ends_with("s3:getObject")) return fail(StrCat("Unsupported ItemReader resource ", resource));
    auto object = store.OpenObject(bucket, p.value("Key", ""));
    if (!object.ok()) return fail(std::string(object.status().message()));
    std::string text;
    std::string buf(1 << 16, '\0');
    for (;;) {
      ssize_t n = ::read(object->second.get(), buf.data(), buf.size());
      if (n <= 0) break;
      text.append(buf.data(), static_cast<size_t>(n));
    }
    std::string type = config.value("InputType", "JSON");
    if (type == "JSON") {
      items = ParseJson(text);
      if (!items.is_array()) return fail("The ItemReader object is not a JSON array");
    } else if (type == "JSONL") {
      for (auto line : Split(text, '\n')) {
        if (StripWhitespace(line).empty()) continue;
        Json item = ParseJson(line);
        if (item.is_discarded()) return fail("A line of the ItemReader object is not JSON");
        items.push_back(std::move(item));
      }
    } else if (type == "CSV") {
      std::vector<std::string> headers;
      for (const auto& h : config.value("CSVHeaders", Json::array())) headers.push_back(h.get<std::string>());
      bool first_row = config.value("CSVHeaderLocation", "FIRST_ROW") == "FIRST_ROW";
      for (auto line : Split(text, '\n')) {
        std::string row(StripWhitespace(line));
        if (row.empty()) continue;
        std::vector<std::string> cells;
        for (auto c : Split(row, ',')) cells.emplace_back(c);
        if (first_row && headers.empty()) {
          headers = cells;
          continue;
        }
        Json item = Json::object();
        for (size_t i = 0; i < headers.size(); ++i) item[headers[i]] = i < cells.size() ? cells[i] : "";
        items.push_back(std::move(item));
      }
    } else {
      return fail(StrCat("Unsupported ItemReader InputType ", type));
    }
    if (max && items.size() > max) items.erase(items.begin() + static_cast<long>(max), items.end());
    return items;
  });
}

void RegisterResultWriter(StepFunctions& sfn, ObjectStore& store) {
  sfn.RegisterResultWriter([&store](const Json& writer, const std::string& run_id, const Json& succeeded,
                                    const Json& failed) -> absl::StatusOr<Json> {
    const Json& p = writer.value("Parameters", Json::object());
    std::string bucket = p.value("Bucket", ""), prefix = p.value("Prefix", "");
    if (!prefix.empty() && prefix.back() != '/') prefix.push_back('/');
    prefix += run_id + "/";
    auto put = [&](const std::string& key, const std::string& body) -> absl::Status {
      ASSIGN_OR_RETURN(auto f, store.NewObjectFile());
      RETURN_IF_ERROR(f->Append(body));
      ObjectMeta meta;
      meta.key = key;
      meta.etag = HexEncode(Md5(body));
      meta.content_type = "application/json";
      auto st = store.PutObject(bucket, meta, std::move(f)).status();
      if (!st.ok()) return states::StatesError("States.ResultWriterFailed", std::string(st.message()));
      return absl::OkStatus();
    };
    Json files = Json::array();
    RETURN_IF_ERROR(put(prefix + "SUCCEEDED_0.json", succeeded.dump()));
    files.push_back({{"Key", prefix + "SUCCEEDED_0.json"}, {"Size", succeeded.dump().size()}});
    if (!failed.empty()) {
      RETURN_IF_ERROR(put(prefix + "FAILED_0.json", failed.dump()));
      files.push_back({{"Key", prefix + "FAILED_0.json"}, {"Size", failed.dump().size()}});
    }
    Json manifest = {{"DestinationBucket", bucket}, {"MapRunArn", run_id},
                     {"ResultFiles", {{"SUCCEEDED", files[0].is_null() ? Json::array() : Json::array({files[0]})},
                                      {"FAILED", failed.empty() ? Json::array() : Json::array({files[1]})},
                                      {"PENDING", Json::array()}}}};
    RETURN_IF_ERROR(put(prefix + "manifest.json", manifest.dump()));
    return Json{{"Bucket", bucket}, {"Key", prefix + "manifest.json"}};
  });
}

void RegisterEventsTargets(EventBridge& events, StepFunctions& sfn) {
  events.RegisterInvoker("states", [&sfn](const Json& target, const std::string& input) -> absl::Status {
    auto out = sfn.Call("StartExecution", {{"stateMachineArn", target.value("Arn", "")}, {"input", input}});
    return out.status();
  });
}

namespace {

// A Step Functions / EventBridge message body: strings as they are, anything else as JSON.
std::string BodyText(const Json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// MessageAttributes in the JSON shape ({"n": {"DataType": "String", "StringValue": "v"}}),
// as SQS's and SNS's in-process requests take them (both have these three fields).
template <typename Value>
std::map<std::string, Value> MessageAttributes(const Json& in) {
  std::map<std::string, Value> out;
  if (!in.is_object()) return out;
  for (const auto& [name, v] : in.items()) {
    if (!v.is_object()) continue;
    out[name] = {v.value("DataType", "String"), v.value("StringValue", ""), v.value("BinaryValue", "")};
  }
  return out;
}

absl::Status AsStatesError(const absl::Status& st, const std::string& prefix, const std::string& code) {
  return states::StatesError(StrCat(prefix, ".", code), std::string(st.message()));
}

}  // namespace

SqsSender SnsToSqs(Sqs& sqs) {
  return [&sqs](const std::string& queue_arn, const SqsDelivery& d) -> absl::Status {
    SqsSendRequest r;
    r.body = d.body;
    for (const auto& [name, a] : d.message_attributes) r.attributes[name] = {a.data_type, a.string_value, a.binary_value};
    r.group_id = d.message_group_id;
    r.dedup_id = d.message_deduplication_id;
    absl::Status st = sqs.Send(queue_arn, std::move(r)).status();
    if (st.ok() || absl::IsUnavailable(st) || absl::IsInternal(st)) return st;
    // SNS retries only server-side failures; a missing queue or a message the queue
    // refuses goes straight to the subscription's dead-letter queue.
    std::string code = SqsErrorCode(st);
    std::string message = StrCat(code, ": ", st.message());
    return code == "QueueDoesNotExist" ? absl::NotFoundError(message) : absl::InvalidArgumentError(message);
  };
}

void RegisterMessaging(Sqs& sqs, Sns& sns, EventBridge& events, StepFunctions& sfn, Notifications& notifications) {
  // EventBridge rule targets (and dead-letter queues).
  events.RegisterInvoker("sqs", [&sqs](const Json& target, const std::string& input) -> absl::Status {
    SqsSendRequest r;
    r.body = input;
    r.group_id = target.value("SqsParameters", Json::object()).value("MessageGroupId", "");
    r.attributes = MessageAttributes<SqsAttributeValue>(target.value("MessageAttributes", Json::object()));
    std::string arn = target.value("Arn", "");
    if (arn.ends_with(".fifo")) r.dedup_id = HexEncode(Sha256(input));
    return sqs.Send(arn, std::move(r)).status();
  });
  events.RegisterInvoker("sns", [&sns](const Json& target, const std::string& input) -> absl::Status {
    SnsPublishRequest r;
    r.message = input;
    std::string arn = target.value("Arn", "");
    if (arn.ends_with(".fifo")) {
      r.message_group_id = target.value("SqsParameters", Json::object()).value("MessageGroupId", "default");
      r.message_deduplication_id = HexEncode(Sha256(input));
    }
    return sns.Publish(arn, std::move(r)).status();
  });
    // Step Functions: arn:aws:states:::sqs:sendMessage[.waitForTaskToken] (aws-sdk:sqs:* goes
  // through the JSON route, see RegisterStatesIntegrations).
  sfn.RegisterIntegration("sqs", [&sqs](const std::string& action, const std::string&, const Json& params, absl::Time,
                                        const std::function<bool()>&, TaskAttachment&) -> absl::StatusOr<Json> {
    if (action != "sendMessage") return states::StatesError("States.Runtime", StrCat("Unsupported SQS integration ", action));
    Json in = params;
    if (in.contains("MessageBody")) in["MessageBody"] = BodyText(in["MessageBody"]);
    auto out = sqs.Call("SendMessage", in, "http://localhost:4566");
    if (!out.ok()) return AsStatesError(out.status(), "SQS", SqsErrorCode(out.status()));
    return out;
  });
  // arn:aws:states:::sns:publish[.waitForTaskToken], aws-sdk:sns:publish.
  auto publish = [&sns](const Json& params) -> absl::StatusOr<Json> {
    SnsPublishRequest r;
    r.message = params.contains("Message") ? BodyText(params["Message"]) : "";
    r.subject = params.value("Subject", "");
    r.message_structure = params.value("MessageStructure", "");
    r.message_attributes = MessageAttributes<SnsMessageAttribute>(params.value("MessageAttributes", Json::object()));
    r.message_group_id = params.value("MessageGroupId", "");
    r.message_deduplication_id = params.value("MessageDeduplicationId", "");
    std::string arn = params.value("TopicArn", params.value("TargetArn", ""));
    auto out = sns.Publish(arn, std::move(r));
    if (!out.ok()) return AsStatesError(out.status(), "SNS", SnsErrorCode(out.status()));
    Json j = {{"MessageId", out->message_id}};
    if (!out->sequence_number.empty()) j["SequenceNumber"] = out->sequence_number;
    return j;
  };
  sfn.RegisterIntegration("sns", [publish](const std::string& action, const std::string&, const Json& params, absl::Time,
                                           const std::function<bool()>&, TaskAttachment&) -> absl::StatusOr<Json> {
    if (action != "publish") return states::StatesError("States.Runtime", StrCat("Unsupported SNS integration ", action));
    return publish(params);
  });
  sfn.RegisterSdk("sns", [publish](const std::string& action, const Json& input) -> absl::StatusOr<Json> {
    if (action != "Publish") {
      return states::StatesError("States.TaskFailed",
                                 StrCat("Sluice runs aws-sdk:sns:publish only; use the SNS API for ", action));
    }
    return publish(input);
  });
  // S3 bucket notifications to queues and topics.
  notifications.SetQueues({[&sqs](const std::string& arn, const std::string& message) {
                             SqsSendRequest r;
                             r.body = message;
                             return sqs.Send(arn, std::move(r)).status();
                           },
                           [&sqs](const std::string& arn) { return sqs.QueueExists(arn); }});
  notifications.SetTopics({[&sns](const std::string& arn, const std::string& message) {
                             SnsPublishRequest r;
                             r.message = message;
                             r.subject = "Amazon S3 Notification";
                             return sns.Publish(arn, std::move(r)).status();
                           },
                           [&sns](const std::string& arn) { return sns.TopicExists(arn); }});
}

}  // namespace sluice

namespace sluice {

LambdaCodeFetcher LambdaCodeFromS3(ObjectStore& store) {
  return [&store](const std::string& bucket, const std::string& key, const std::string&) -> absl::StatusOr<std::string> {
    ASSIGN_OR_RETURN(auto object, store.OpenObject(bucket, key));
    std::string data;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(object.second.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return absl::InternalError(StrCat("reading s3://", bucket, "/", key, ": ", strerror(errno)));
      if (n == 0) break;
      data.append(buf, static_cast<size_t>(n));
      if (data.size() > (64u << 20)) break;  // beyond any deployment package: refused by the caller
    }
    return data;
  };
}

LambdaDestinationSender LambdaDestinations(Sqs& sqs, Sns& sns, EventBridge& events) {
  return [&sqs, &sns, &events](const std::string& arn, const std::string& body) -> absl::Status {
    if (arn.starts_with("arn:aws:sqs:")) {
      SqsSendRequest r;
      r.body = body;
      return sqs.Send(arn, std::move(r)).status();
    }
    if (arn.starts_with("arn:aws:sns:")) {
      SnsPublishRequest r;
      r.message = body;
      return sns.Publish(arn, std::move(r)).status();
    }
    if (arn.starts_with("arn:aws:events:")) {
      Json record = ParseJson(body);
      bool ok = record.is_object() && record["requestContext"].value("condition", "") == "Success";
      std::string bus = arn.substr(arn.find(":event-bus/") == std::string::npos ? arn.size() : arn.find(":event-bus/") + 11);
      return events.Publish(bus.empty() ? "default" : bus,
                     {{"source", "lambda"},
                      {"detail-type", ok ? "Lambda Function Invocation Result - Success"
                                         : "Lambda Function Invocation Result - Failure"},
                      {"resources", Json::array({record.is_object() ? record["requestContext"].value("functionArn", "") : ""})},
                      {"detail", record}});
    }
    return absl::InvalidArgumentError(StrCat("unsupported destination ", arn));
  };
}

namespace {

// Runs a function for a Step Functions task: errors are the function's errorType (cause: the
// error payload), as AWS reports them.
absl::StatusOr<LambdaInvokeResult> InvokeForStates(Lambda& lambda, const Json& params) {
  Json payload = params.contains("Payload") ? params["Payload"] : Json::object();
  std::string type = params.value("InvocationType", "RequestResponse");
  auto r = lambda.Invoke(params.value("FunctionName", ""), payload.is_string() ? payload.get<std::string>() : payload.dump(),
                         type == "Event" ? InvocationType::kEvent
                         : type == "DryRun" ? InvocationType::kDryRun : InvocationType::kRequestResponse);
  if (!r.ok()) return states::StatesError(StrCat("Lambda.", LambdaErrorCode(r.status())), std::string(r.status().message()));
  if (!r->function_error.empty()) {
    Json err = ParseJson(r->payload);
    std::string name = err.is_object() ? err.value("errorType", "Lambda.Unknown") : "Lambda.Unknown";
    return states::StatesError(name, r->payload);
  }
  return r;
}

Json PayloadJson(const std::string& payload) {
  if (payload.empty()) return Json();
  Json j = ParseJson(payload);
  return j.is_discarded() ? Json(payload) : j;
}

}  // namespace

void RegisterLambdaTargets(Lambda& lambda, EventBridge& events, StepFunctions& sfn, Notifications& notifications) {
  events.RegisterInvoker("lambda", [&lambda](const Json& target, const std::string& input) -> absl::Status {
    return lambda.Invoke(target.value("Arn", ""), input, InvocationType::kEvent).status();
  });
  // S3 LambdaFunctionConfigurations: S3's event message, invoked asynchronously.
  notifications.SetFunctions(
      {[&lambda](const std::string& arn, const std::string& message) {
         return lambda.Invoke(arn, message, InvocationType::kEvent).status();
       },
       [&lambda](const std::string& arn) { return lambda.FunctionArn(arn).ok(); }});
  // arn:aws:states:::lambda:invoke[.waitForTaskToken] and plain function ARNs.
  sfn.RegisterIntegration("lambda", [&lambda](const std::string& action, const std::string&, const Json& params,
                                              absl::Time, const std::function<bool()>&,
                                              TaskAttachment&) -> absl::StatusOr<Json> {
    if (action != "invoke" && action != "function") {
      return states::StatesError("States.Runtime", StrCat("Unsupported Lambda integration ", action));
    }
    ASSIGN_OR_RETURN(LambdaInvokeResult r, InvokeForStates(lambda, params));
    if (action == "function") return PayloadJson(r.payload);
    return Json{{"ExecutedVersion", r.executed_version}, {"Payload", PayloadJson(r.payload)}, {"StatusCode", r.status},
                {"SdkHttpMetadata", {{"HttpStatusCode", r.status}}}, {"SdkResponseMetadata", {{"RequestId", NewUuid()}}}};
  });
  // arn:aws:states:::aws-sdk:lambda:invoke: the API's response shape (Payload as text).
  sfn.RegisterSdk("lambda", [&lambda](const std::string& action, const Json& in) -> absl::StatusOr<Json> {
    if (action != "Invoke") {
      return states::StatesError("States.TaskFailed", StrCat("Sluice's aws-sdk:lambda supports Invoke only, not ", action));
    }
    ASSIGN_OR_RETURN(LambdaInvokeResult r, InvokeForStates(lambda, in));
    return Json{{"StatusCode", r.status}, {"ExecutedVersion", r.executed_version}, {"Payload", r.payload}};
  });
}

}  // namespace sluice
