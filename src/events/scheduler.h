#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "events/events.h"
#include "events/schedule.h"
#include "http/router.h"
#include "io/sqlite.h"

// EventBridge Scheduler: schedule groups and schedules (at(), rate(), cron() with
// ScheduleExpressionTimezone, StartDate/EndDate, FlexibleTimeWindow, State,
// ActionAfterCompletion) whose targets are delivered through EventBridge::Invoke.
// Definitions persist in <dir>/scheduler.db with the last slot each schedule fired, so a
// restart neither fires a slot twice nor catches up missed slots one by one. A flexible
// window fires at its start. Thread-safe; RunDue(now) is what the ticking thread calls.
namespace sluice {

class Scheduler {
 public:
  static absl::StatusOr<std::unique_ptr<Scheduler>> Open(const std::string& dir, EventBridge& events,
                                                         EventsOptions options);
  ~Scheduler();
  void Stop();

  // One REST-JSON operation: method, path (/schedules/..., /schedule-groups/..., /tags/...),
  // decoded query, body. Errors carry their AWS code (EventsErrorCode).
  absl::StatusOr<Json> Call(const std::string& method, const std::string& path, const HttpRequest& req,
                            const Json& body);
  // Fires every schedule slot due at `now`; a schedule that cannot be evaluated is skipped
  // with an error in the log.
  void RunDue(absl::Time now);

 private:
  Scheduler(EventBridge& events, EventsOptions options);
  absl::Status Load();
  absl::Status Save(const std::string& kind, const std::string& name, const Json& doc);
  absl::Status Erase(const std::string& kind, const std::string& name);
  absl::StatusOr<Json> Dispatch(const std::string& method, const std::string& path, const HttpRequest& req,
                                const Json& body);
  absl::StatusOr<Json> Put(const std::string& name, const Json& body, bool create);
  std::string ScheduleArn(const std::string& group, const std::string& name) const;
  std::string GroupArn(const std::string& group) const;
  void Loop();

  EventBridge& events_;
  EventsOptions options_;
  std::unique_ptr<SqliteGroupWriter> writer_;
  std::unique_ptr<SqliteReaderPool> readers_;
  std::mutex mu_;
  std::map<std::string, Json> groups_;     // by name
  std::map<std::string, Json> schedules_;  // by "group/name"
  std::mutex run_mu_;                      // one RunDue at a time
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

ServiceRoute MakeSchedulerService(Scheduler& scheduler);

}  // namespace sluice
