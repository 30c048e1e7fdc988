#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "io/sqlite.h"
#include "lambda/lambda.h"
#include "nlohmann/json.hpp"

// Event source mappings: a poller per mapping reads its SQS queue (through the in-process
// SQS API the composition root provides), invokes the function synchronously with a batch of
// up to BatchSize messages (gathered for at most MaximumBatchingWindowInSeconds), and deletes
// what succeeded: the whole batch, or — with ReportBatchItemFailures — all but the
// batchItemFailures the function returned. Failed messages return after the queue's
// visibility timeout (the queue's redrive policy moves them to its dead-letter queue).
// Mappings live in lambda.db (table event_source_mappings). Thread-safe.
namespace sluice::lambda {

class LambdaService;

class EventSourceMappings {
 public:
  EventSourceMappings(LambdaService& service, SqliteGroupWriter& writer, const LambdaOptions& options)
      : service_(service), writer_(writer), options_(options) {}
  ~EventSourceMappings() { Stop(); }
  absl::Status Load(SqliteDb& db);
  // Starts the pollers of enabled mappings (once the endpoint is known).
  void Start();
  void Stop();

  absl::StatusOr<nlohmann::json> Create(const nlohmann::json& in);
  absl::StatusOr<nlohmann::json> Get(const std::string& uuid);
  absl::StatusOr<nlohmann::json> Update(const std::string& uuid, const nlohmann::json& in);
  absl::StatusOr<nlohmann::json> Delete(const std::string& uuid);
  absl::StatusOr<nlohmann::json> List(const std::string& function, const std::string& source);

 private:
  struct Mapping {
    nlohmann::json doc;  // EventSourceMappingConfiguration
    std::atomic<bool> stop{false};
    std::thread poller;
  };
  void Poll(Mapping* m);
  absl::Status Persist(const nlohmann::json& doc);
  void StartPoller(Mapping* m);  // REQUIRES: mu_ held
  std::string QueueUrl(const std::string& arn) const;

  LambdaService& service_;
  SqliteGroupWriter& writer_;
  const LambdaOptions& options_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Mapping>> mappings_;
  std::vector<std::unique_ptr<Mapping>> retired_;  // stopped pollers, joined at Stop
  bool started_ = false, stopping_ = false;
};

}  // namespace sluice::lambda
