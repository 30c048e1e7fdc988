#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "events/pattern.h"
#include "events/schedule.h"
#include "http/router.h"
#include "io/sqlite.h"
#include "nlohmann/json.hpp"

// EventBridge: event buses, rules (event patterns and schedules), targets, archives and
// replays. Rules of a bus are compiled into one PatternSet, so PutEvents parses an event
// once and matches it against every rule. Each matched target's delivery is written to the
// outbox (with the archive rows) before PutEvents answers, group-committed with concurrent
// requests; a delivery thread renders each target's input (Input, InputPath,
// InputTransformer), invokes the target through the invoker registered for the ARN's
// service, retries with exponential backoff within the RetryPolicy, dead-letters, and
// removes the row when done. A restart reloads the outbox: delivery is at least once.
//
// Definitions live in <dir>/events.db (SQLite; kinds bus, rule, archive, replay), archived
// events and the outbox in the same database. A scheduler thread fires "Scheduled Event"s
// for rules with a ScheduleExpression; the slot fired is recorded in the transaction that
// queues its deliveries, so a restart neither re-fires a slot nor replays missed ones.
// Thread-safe; Start() starts the threads, Stop() joins them.
namespace sluice {

using Json = nlohmann::json;

struct EventsOptions {
  std::string region = "us-east-1";
  std::string account = "000000000000";
  bool start_threads = true;  // false in tests that drive RunDueSchedules()/Drain() themselves
};

// Delivers one rendered input to a target (Target JSON as PutTargets gave it). Errors are
// retried per the target's RetryPolicy.
using TargetInvoker = std::function<absl::Status(const Json& target, const std::string& input)>;

class EventBridge {
 public:
  // Opens the store and loads the outbox (deliveries acknowledged before a crash). The
  // threads start with Start(), after the invokers are registered.
  static absl::StatusOr<std::unique_ptr<EventBridge>> Open(const std::string& dir, EventsOptions options);
  ~EventBridge();
  // Starts the delivery and schedule threads (when options.start_threads) and resumes
  // replays that were running. REQUIRES: every RegisterInvoker call done.
  void Start();
  void Stop();

  // Targets whose ARN names `service` ("states", "lambda", ...) are delivered with `invoker`.
  // Event-bus targets are built in. REQUIRES: before the server takes requests.
  void RegisterInvoker(const std::string& service, TargetInvoker invoker);

  // The AWSEvents.* actions; `action` as in X-Amz-Target. Errors carry the AWS code in
  // the Status payload (see EventsErrorCode()).
  absl::StatusOr<Json> Call(const std::string& action, const Json& input);

  // Publishes an event that a service emits (S3 notifications): `event` already has
  // source, detail-type, detail, resources; id, time, account, region, version are added.
  // Returns once the event's deliveries and archive rows are durable.
  absl::Status Publish(const std::string& bus, Json event);

  // Queues `input` for `target` (EventBridge Scheduler's targets) and returns once that is
  // durable; the delivery thread then delivers it at least once, with the target's
  // RetryPolicy and DeadLetterConfig: an event bus gets an event with
  // EventBridgeParameters' Source and DetailType and `input` as its detail; other services
  // go to their registered invoker.
  absl::Status Invoke(const Json& target, const std::string& input);
  // Whether targets of `service` ("events", "sqs", ...) can be delivered.
  bool CanDeliver(const std::string& service) const { return service == "events" || invokers_.contains(service); }

  // Fires the schedule slots due at `now` (the scheduler thread calls it every second).
  void RunDueSchedules(absl::Time now);
  // Runs deliveries due at `now` until none is left; for tests without threads.
  void Drain(absl::Time now);

 private:
  struct Rule;
  struct Bus;
  struct Delivery;
  struct Work;
  EventBridge(std::string dir, EventsOptions options);
  absl::Status Load();
  absl::Status Save(const std::string& kind, const std::string& name, const Json& doc);
  absl::Status Erase(const std::string& kind, const std::string& name);
  absl::StatusOr<Json> Dispatch(const std::string& action, const Json& input);

  absl::StatusOr<Json> CreateEventBus(const Json& in);
  absl::StatusOr<Json> DescribeEventBus(const Json& in);
  absl::StatusOr<Json> ListEventBuses(const Json& in);
  absl::StatusOr<Json> DeleteEventBus(const Json& in);
  absl::StatusOr<Json> PutRule(const Json& in);
  absl::StatusOr<Json> DescribeRule(const Json& in);
  absl::StatusOr<Json> ListRules(const Json& in);
  absl::StatusOr<Json> SetRuleState(const Json& in, bool enabled);
  absl::StatusOr<Json> DeleteRule(const Json& in);
  absl::StatusOr<Json> PutTargets(const Json& in);
  absl::StatusOr<Json> RemoveTargets(const Json& in);
  absl::StatusOr<Json> ListTargetsByRule(const Json& in);
  absl::StatusOr<Json> ListRuleNamesByTarget(const Json& in);
  absl::StatusOr<Json> PutEvents(const Json& in);
  absl::StatusOr<Json> TestEventPattern(const Json& in);
  absl::StatusOr<Json> Tags(const std::string& action, const Json& in);
  absl::StatusOr<Json> ArchiveAction(const std::string& action, const Json& in);
  absl::StatusOr<Json> ReplayAction(const std::string& action, const Json& in);

  // REQUIRES: mu_ held (shared). Matches `event` on `bus` and adds its deliveries and
  // archive rows to `work`; `only` restricts to rules by ARN (replays).
  void Route(Bus& bus, const std::string& event_text, const Json& event, const std::vector<std::string>* only,
             Work& work);
  // Makes `work` durable in one group-committed transaction (with `extra`, a change of the
  // caller's to commit atomically with it), then hands its deliveries to the delivery thread.
  absl::Status Commit(Work& work, const std::function<absl::Status(SqliteDb&)>& extra = nullptr);
  absl::StatusOr<Bus*> FindBus(const std::string& name_or_arn);  // REQUIRES: mu_ held
  absl::StatusOr<std::shared_ptr<Rule>> FindRule(const Json& in);  // REQUIRES: mu_ held
  Json RuleDoc(const Rule& rule) const;
  std::string BusArn(const std::string& bus) const;
  std::string RuleArn(const std::string& bus, const std::string& rule) const;
  void Enqueue(std::unique_ptr<Delivery> d);
  void DeliveryLoop();
  void ScheduleLoop();
  // Attempts `d` once; on failure schedules its retry (d.due moves on) or dead-letters it.
  // Returns whether `d` is to be retried. Adds what delivering produced to `work`.
  bool Deliver(Delivery& d, absl::Time now, Work& work);
  absl::Status Attempt(Delivery& d, Work& work);
  void DeliverBatch(std::vector<std::unique_ptr<Delivery>>& batch, absl::Time now);
  void Replay(std::string name);
  void ReplayChunks(const std::string& name);

  std::string dir_;
  EventsOptions options_;
  std::unique_ptr<SqliteGroupWriter> writer_;
  std::unique_ptr<SqliteReaderPool> readers_;

  std::shared_mutex mu_;  // buses, rules, archives, replays
  std::map<std::string, std::unique_ptr<Bus>> buses_;
  std::map<std::string, Json> archives_;  // by name
  std::map<std::string, Json> replays_;   // by name
  std::map<std::string, std::shared_ptr<events::PatternSet>> archive_patterns_;
  uint64_t next_rule_id_ = 1;
  std::map<std::string, TargetInvoker> invokers_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  struct Later {
    bool operator()(const std::unique_ptr<Delivery>& a, const std::unique_ptr<Delivery>& b) const;
  };
  std::priority_queue<std::unique_ptr<Delivery>, std::vector<std::unique_ptr<Delivery>>, Later> queue_;
  bool stopping_ = false;
  std::atomic<bool> stop_flag_{false};
  bool started_ = false;
  std::atomic<int64_t> next_row_{1};  // outbox row ids
  std::atomic<int64_t> next_seq_{0};  // archived.seq
  std::mutex done_mu_;
  std::vector<int64_t> pending_done_;  // outbox rows delivered, deleted with the next commit
  std::vector<std::thread> threads_;
  std::mutex schedule_mu_;  // one RunDueSchedules at a time
};

// The AWS error code a Status from EventBridge::Call carries ("ResourceNotFoundException").
std::string EventsErrorCode(const absl::Status& status);

// The AWSEvents.* JSON route over `events`, which must outlive it.
ServiceRoute MakeEventsService(EventBridge& events);

}  // namespace sluice
