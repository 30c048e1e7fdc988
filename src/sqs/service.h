#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "io/sqlite.h"
#include "nlohmann/json.hpp"
#include "sqs/message.h"
#include "sqs/queue.h"
#include "sqs/sqs.h"

// The SQS service behind Sqs (sqs.h): queues, their messages and the move tasks.
//
// Threading: one mutex (mu_) guards every queue's index and the queue map; it is never
// held across a commit. A change is applied in memory (sends as pending, invisible
// entries), committed through the SqliteGroupWriter (concurrent requests share a
// commit), and acknowledged after the commit. Long polls wait on their queue's condition
// variable until a send commits, a message becomes visible, or the wait ends.
// On disk: <dir>/sqs.db, tables queues and messages (see README.md).
namespace sluice::sqs {

using Json = nlohmann::json;

class SqsService {
 public:
  static absl::StatusOr<std::unique_ptr<SqsService>> Open(const std::string& dir, SqsOptions options);
  ~SqsService();
  void Stop();

  absl::StatusOr<Json> Call(const std::string& action, const Json& in, const std::string& endpoint);
  absl::StatusOr<SqsSentMessage> Send(const std::string& queue_arn, SqsSendRequest request);
  std::optional<std::string> QueueArnFromUrl(const std::string& url) const;
  bool QueueExists(const std::string& queue_arn) const;
  void RunTimers(absl::Time now);

 private:
  struct Entry;  // a queue: its index, attributes, tags
  struct MoveTask;
  SqsService(std::string dir, SqsOptions options);
  absl::Status Load();

  absl::StatusOr<Json> CreateQueue(const Json& in, const std::string& endpoint);
  absl::StatusOr<Json> GetQueueUrl(const Json& in, const std::string& endpoint);
  absl::StatusOr<Json> ListQueues(const Json& in, const std::string& endpoint);
  absl::StatusOr<Json> GetQueueAttributes(const Json& in);
  absl::StatusOr<Json> SetQueueAttributes(const Json& in);
  absl::StatusOr<Json> DeleteQueue(const Json& in);
  absl::StatusOr<Json> PurgeQueue(const Json& in);
  absl::StatusOr<Json> SendMessage(const Json& in);
  absl::StatusOr<Json> SendMessageBatch(const Json& in);
  absl::StatusOr<Json> ReceiveMessage(const Json& in);
  absl::StatusOr<Json> DeleteMessage(const Json& in);
  absl::StatusOr<Json> DeleteMessageBatch(const Json& in);
  absl::StatusOr<Json> ChangeVisibility(const Json& in);
  absl::StatusOr<Json> ChangeVisibilityBatch(const Json& in);
  absl::StatusOr<Json> Tags(const std::string& action, const Json& in);
  absl::StatusOr<Json> ListDeadLetterSourceQueues(const Json& in, const std::string& endpoint);
  absl::StatusOr<Json> StartMessageMoveTask(const Json& in);
  absl::StatusOr<Json> ListMessageMoveTasks(const Json& in);
  absl::StatusOr<Json> CancelMessageMoveTask(const Json& in);

  // One message of a send, validated; the queue fills in the rest.
  struct Outgoing {
    SqsSendRequest request;
    Attributes system;  // AWSTraceHeader
  };
  absl::StatusOr<Outgoing> ParseSend(const Json& in) const;
  // Sends validated messages to one queue; one result per message (a group commit).
  std::vector<absl::StatusOr<SqsSentMessage>> SendAll(const std::string& queue_name, std::vector<Outgoing> msgs);
  absl::Status CheckSend(const Entry& e, const Outgoing& o) const;  // REQUIRES: mu_ held

  // Deletes/changes visibility by receipt handle; REQUIRES: mu_ held. Records the SQL.
  struct Handle {
    int64_t queue_id = 0, seq = 0;
    std::string nonce;
  };
  static std::optional<Handle> ParseHandle(const std::string& receipt);
  static std::string MakeHandle(int64_t queue_id, const Message& m);

  Entry* FindByUrl(const Json& in);                  // REQUIRES: mu_ held
  Entry* FindByName(const std::string& name);        // REQUIRES: mu_ held
  Entry* FindByArn(const std::string& arn);          // REQUIRES: mu_ held
  std::string Arn(const std::string& name) const;
  std::string Url(const std::string& endpoint, const std::string& name) const;
  SqliteGroupWriter::Change QueueRow(const Entry& e) const;  // REQUIRES: mu_ held
  absl::Status ValidateAttributes(const std::map<std::string, std::string>& attrs, bool fifo, bool creating,
                                  const std::string& name);  // REQUIRES: mu_ held
  void ApplyConfig(Entry& e);                             // parses the attributes into fields
  Json MessageJson(const Entry& e, const Message& m, const std::string& handle, const Json& in) const;
  void RunMoveTasks(int64_t now_ms);
  void TimerLoop();

  std::string dir_;
  SqsOptions options_;
  std::unique_ptr<SqliteGroupWriter> writer_;

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Entry>> queues_;  // by name
  std::vector<std::unique_ptr<Entry>> graveyard_;          // deleted, long polls may still wait on them
  std::map<std::string, std::unique_ptr<MoveTask>> tasks_;  // by handle
  int64_t next_seq_ = 1;
  int64_t next_queue_id_ = 1;
  bool stopping_ = false;
  std::atomic<int> long_polls_{0};
  std::condition_variable timer_cv_;
  std::thread timer_;
  int64_t last_expiry_ms_ = 0;
};

}  // namespace sluice::sqs
