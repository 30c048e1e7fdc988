#include "server/server.h"

#include <filesystem>

#include "base/strings.h"
#include "http/server.h"
#include "io/file.h"
#include "nlohmann/json.hpp"
#include "athena/athena.h"
#include "events/events.h"
#include "events/scheduler.h"
#include "glue/glue.h"
#include "lambda/lambda.h"
#include "s3/s3.h"
#include "pgwire/pgwire.h"
#include "redshift/data_api.h"
#include "redshift/warehouse.h"
#include "s3/store.h"
#include "sns/sns.h"
#include "sqs/sqs.h"
#include "server/config.h"
#include "server/integrations.h"
#include "server/version.h"
#include "spdlog/spdlog.h"

namespace sluice {
namespace {

class ServerImpl final : public Server {
 public:
  absl::Status Init(const ServerOptions& options) {
    ServerOptions o = options;
    RETURN_IF_ERROR(MakeDirs(o.data_dir));
    // Absolute, so that engines given lake paths (and the DuckDB sandbox) agree on them.
    std::error_code ec;
    auto absolute = std::filesystem::canonical(o.data_dir, ec);
    if (ec) return absl::InvalidArgumentError(StrCat("cannot resolve --data-dir ", o.data_dir, ": ", ec.message()));
    o.data_dir = absolute.string();
    ASSIGN_OR_RETURN(config_, LoadOrCreateConfig(o.data_dir));
    if (!o.region.empty()) config_.region = o.region;
    ASSIGN_OR_RETURN(s3_, ObjectStore::Open(o.data_dir + "/s3"));
    ASSIGN_OR_RETURN(catalog_, Catalog::Open(o.data_dir + "/glue/catalog.db"));
    DatabaseOptions engine;
    engine.memory_limit = config_.duckdb_memory_limit;
    engine.threads = config_.duckdb_threads;
    ASSIGN_OR_RETURN(duckdb_, Database::Open(engine));
    crawlers_ = std::make_unique<Crawlers>(*catalog_, *s3_, *duckdb_);
    EventsOptions events;
    events.region = config_.region;
    ASSIGN_OR_RETURN(events_, EventBridge::Open(o.data_dir + "/events", events));
    notifications_ = std::make_unique<Notifications>(*s3_, config_.region);
    notifications_->SetEventBridge([this](const std::string& bus, nlohmann::json event) {
      return events_->Publish(bus, std::move(event));
    });
    router_.AddService(MakeS3Service(*s3_, notifications_.get()));
    routes_.services["eventbridge"] = {MakeEventsService(*events_), "AWSEvents", "EventBridge"};
    router_.AddService(routes_.services["eventbridge"].route);
    ASSIGN_OR_RETURN(scheduler_, Scheduler::Open(o.data_dir + "/events", *events_, events));
    router_.AddService(MakeSchedulerService(*scheduler_));
    athena_ = std::make_unique<AthenaService>(*catalog_, *s3_, *duckdb_, o.data_dir + "/athena");
    // The warehouse attaches its database files before Athena's Init locks DuckDB's file access.
    WarehouseOptions warehouse;
    warehouse.dir = o.data_dir + "/redshift";
    ASSIGN_OR_RETURN(warehouse_, Warehouse::Open(warehouse, *duckdb_, *s3_, *catalog_, athena_->engine()));
    athena_->engine().AllowDirectory(warehouse.dir);  // CREATE DATABASE attaches files there later
    RETURN_IF_ERROR(athena_->Init());
    dq_ = std::make_unique<DataQuality>(*catalog_, athena_->engine(), *duckdb_);
    JobsOptions jobs;
    jobs.python = config_.glue_python;
    jobs.spark_submit = config_.glue_spark_submit;
    jobs.region = config_.region;
    jobs.access_key = config_.access_keys.begin()->first;
    jobs.secret_key = config_.access_keys.begin()->second;
    jobs_ = std::make_unique<Jobs>(*catalog_, *s3_, athena_->engine(), *duckdb_, *dq_, o.data_dir + "/glue", jobs);
    RETURN_IF_ERROR(jobs_->Init());
    routes_.services["glue"] = {MakeGlueService(*catalog_, *crawlers_, *jobs_, *dq_), "AWSGlue", "Glue"};
    router_.AddService(routes_.services["glue"].route);
    if (auto st = s3_->CreateBucket("sluice-athena-results", config_.region);
        !st.ok() && S3ErrorCode(st) != "BucketAlreadyOwnedByYou") {
      return st;
    }
    routes_.services["athena"] = {MakeAthenaService(*athena_), "AmazonAthena", "Athena"};
    router_.AddService(routes_.services["athena"].route);
    StatesOptions states;
    states.region = config_.region;
    ASSIGN_OR_RETURN(sfn_, StepFunctions::Open(o.data_dir + "/states", states));
    routes_.services["sfn"] = {MakeStatesService(*sfn_), "AWSStepFunctions", "Sfn"};
    router_.AddService(routes_.services["sfn"].route);
    RedshiftDataOptions data_api;
    data_api.region = config_.region;
    data_api.publish_event = [this](nlohmann::json e) { (void)events_->Publish("default", std::move(e)); };
    redshift_data_ = std::make_unique<RedshiftDataService>(*warehouse_, data_api);
    routes_.services["redshift-data"] = {MakeRedshiftDataService(*redshift_data_), "RedshiftData", "RedshiftData"};
    router_.AddService(routes_.services["redshift-data"].route);
    SqsOptions sqs;
    sqs.region = config_.region;
    ASSIGN_OR_RETURN(sqs_, Sqs::Open(o.data_dir + "/sqs", sqs));
    routes_.services["sqs"] = {MakeSqsService(*sqs_), "AmazonSQS", "Sqs"};
    router_.AddService(routes_.services["sqs"].route);
    SnsOptions sns;
    sns.region = config_.region;
    sns.sqs_sender = SnsToSqs(*sqs_);
    sns.lambda_invoker = [this](const std::string& arn, const std::string& payload) -> absl::Status {
      if (!lambda_) return absl::UnavailableError("Lambda is not running");
      return lambda_->Invoke(arn, payload, InvocationType::kEvent).status();
    };
    ASSIGN_OR_RETURN(sns_, Sns::Open(o.data_dir + "/sns", sns));
    router_.AddService(MakeSnsService(*sns_));
    LambdaOptions lambda;
    lambda.region = config_.region;
    lambda.python = config_.lambda_python;
    lambda.retry_delay_scale = config_.lambda_retry_delay_scale;
    lambda.access_key = config_.access_keys.begin()->first;
    lambda.secret_key = config_.access_keys.begin()->second;
    lambda.code_fetcher = LambdaCodeFromS3(*s3_);
    lambda.destination_sender = LambdaDestinations(*sqs_, *sns_, *events_);
    lambda.sqs_call = [this](const std::string& action, const nlohmann::json& input) {
      return sqs_->Call(action, input, "http://127.0.0.1");
    };
    ASSIGN_OR_RETURN(lambda_, Lambda::Open(o.data_dir + "/lambda", lambda));
    router_.AddService(MakeLambdaService(*lambda_));
    // SubscribeURL/UnsubscribeURL of http subscriptions: unsigned GETs, as on AWS.
    router_.AddInternal("GET", "/", [this](const HttpRequest& req) {
      std::string action = req.Query("Action") ? *req.Query("Action") : "";
      if (action == "ConfirmSubscription") return sns_->HandleUnsignedConfirm(req);
      if (action == "Unsubscribe") return sns_->HandleUnsignedUnsubscribe(req);
      return RenderError(AwsProtocol::kRestXml, AwsError{403, "AccessDenied", "Access Denied", {}}, req.request_id);
    });
    RegisterMessaging(*sqs_, *sns_, *events_, *sfn_, *notifications_);
    RegisterStatesIntegrations(*sfn_, routes_);
    RegisterEventsTargets(*events_, *sfn_);
    RegisterLambdaTargets(*lambda_, *events_, *sfn_, *notifications_);
    RegisterItemReader(*sfn_, *s3_);
    RegisterResultWriter(*sfn_, *s3_);
    RETURN_IF_ERROR(sfn_->Resume());
    events_->Start();  // deliveries resume once every target service is registered
    notifications_->Start();  // S3's notification outbox, likewise
    router_.AddInternal("GET", "/health", [this](const HttpRequest&) {
      nlohmann::json services = nlohmann::json::object();
      for (const auto& name : router_.ServiceNames()) services[name] = "running";
      HttpResponse r;
      r.SetHeader("Content-Type", "application/json");
      r.body = nlohmann::json{{"status", "ok"}, {"version", kSluiceVersion}, {"services", services}}.dump() + "\n";
      return r;
    });
    HttpServerOptions http;
    http.host = o.host;
    http.port = o.port;
    http.region = config_.region;
    http.write_timeout = std::chrono::seconds(config_.http_write_timeout_seconds);
    ASSIGN_OR_RETURN(http_, HttpServer::Start(http, router_, config_.access_keys));
    PgServerOptions pg;
    pg.host = o.host;
    pg.port = o.pg_port;
    pg.users = config_.warehouse_users;
    ASSIGN_OR_RETURN(pg_, PgServer::Start(pg, [this](const std::string& database, const std::string& user) {
      return warehouse_->Connect(database, user);
    }));
    std::string endpoint = StrCat("http://", o.host == "0.0.0.0" ? "127.0.0.1" : o.host, ":", http_->port());
    jobs_->SetEndpoint(endpoint);
    RETURN_IF_ERROR(jobs_->ResumeRetries());  // runs and crawls a crash interrupted
    RETURN_IF_ERROR(crawlers_->Init());
    RETURN_IF_ERROR(dq_->Init());
    sns_->SetEndpoint(endpoint);
    lambda_->SetEndpoint(endpoint);
    return absl::OkStatus();
  }

  uint16_t port() const override { return http_->port(); }
  uint16_t pg_port() const override { return pg_ ? pg_->port() : 0; }

  void Stop() override {
    if (sqs_) sqs_->Stop();  // ends waiting long polls, so the HTTP drain is quick
    if (http_) http_->Stop();
    http_.reset();
    if (notifications_) notifications_->Stop();  // it sends to SQS, SNS, Lambda and EventBridge
    if (pg_) pg_->Stop();
    pg_.reset();
    // Event deliveries and schedules may start executions: stop them first.
    if (scheduler_) scheduler_->Stop();
    if (events_) events_->Stop();
    if (sfn_) sfn_->Stop();
    if (lambda_) lambda_->Stop();  // after its callers (events, Step Functions), before SNS/SQS
    if (jobs_) jobs_->Stop();
    if (redshift_data_) redshift_data_->Stop();
    redshift_data_.reset();
    if (warehouse_) warehouse_->Stop();
    warehouse_.reset();
    if (sns_) sns_->Stop();
    if (sqs_) sqs_->Stop();
    sfn_.reset();
    lambda_.reset();
    sns_.reset();
    sqs_.reset();
    jobs_.reset();
    if (dq_) dq_->Stop();
    dq_.reset();
    if (athena_) athena_->Stop();
    athena_.reset();
    if (crawlers_) crawlers_->Stop();
    if (scheduler_) scheduler_->Stop();
    if (events_) events_->Stop();
    crawlers_.reset();
    duckdb_.reset();
    notifications_.reset();
    scheduler_.reset();
    events_.reset();
    catalog_.reset();
    s3_.reset();
  }

  ~ServerImpl() override { Stop(); }

 private:
  Config config_;
  std::unique_ptr<ObjectStore> s3_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<Database> duckdb_;  // the one DuckDB instance every SQL engine shares
  std::unique_ptr<AthenaService> athena_;
  std::unique_ptr<EventBridge> events_;
  std::unique_ptr<Notifications> notifications_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<StepFunctions> sfn_;
  std::unique_ptr<Sqs> sqs_;
  std::unique_ptr<Warehouse> warehouse_;
  std::unique_ptr<RedshiftDataService> redshift_data_;
  std::unique_ptr<PgServer> pg_;
  std::unique_ptr<Sns> sns_;
  std::unique_ptr<Lambda> lambda_;
  JsonRoutes routes_;  // the JSON services, also called in-process by Step Functions tasks
  std::unique_ptr<DataQuality> dq_;
  std::unique_ptr<Jobs> jobs_;
  std::unique_ptr<Crawlers> crawlers_;
  Router router_;
  std::unique_ptr<HttpServer> http_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  auto server = std::make_unique<ServerImpl>();
  RETURN_IF_ERROR(server->Init(options));
  return server;
}

}  // namespace sluice
