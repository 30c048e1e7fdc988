#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sqs/message.h"

// One queue's messages in memory: the index receives, deletes and visibility changes
// work on. Not thread-safe: SqsService guards every Queue with its one mutex. Times are
// epoch milliseconds, passed in (tests drive the clock).
namespace sluice::sqs {

struct RedrivePolicy {
  std::string dead_letter_arn;
  int64_t max_receive_count = 0;
};

class Queue {
 public:
  Queue(int64_t id, std::string name, bool fifo) : id_(id), name_(std::move(name)), fifo_(fifo) {}

  int64_t id() const { return id_; }
  const std::string& name() const { return name_; }
  bool fifo() const { return fifo_; }

  // Adds a message (pending or committed). REQUIRES: a new seq.
  Message& Add(Message m);
  // A pending message's commit is done: it becomes receivable.
  void Commit(int64_t seq);
  Message* Find(int64_t seq);
  // Removes a message; returns it (nullopt when unknown).
  std::optional<Message> Remove(int64_t seq);
  void SetVisibleAt(Message& m, int64_t visible_at_ms);
  size_t size() const { return messages_.size(); }
  const std::map<int64_t, Message>& messages() const { return messages_; }

  // Up to `max` messages a receive at `now` may take: visible ones, oldest first; on FIFO
  // queues in order within each message group and none of a group that has a message in
  // flight (or still being committed).
  std::vector<Message*> Available(int64_t now_ms, int max);
  // The earliest time a message that is not visible now becomes visible (0 if none).
  int64_t NextVisibleAt(int64_t now_ms) const;

  struct Counts {
    int64_t visible = 0, in_flight = 0, delayed = 0;
  };
  Counts Count(int64_t now_ms) const;
  // Messages in flight, counted only when the index could hold `limit` of them.
  bool InFlightAtLeast(int64_t now_ms, int64_t limit) const;

  // Seqs of messages sent before now - retention.
  std::vector<int64_t> Expired(int64_t now_ms, int64_t retention_ms) const;

  // FIFO deduplication: the message a deduplication key sent within 5 minutes of now.
  struct Dedup {
    int64_t expires_ms = 0;
    std::string message_id, sequence_number;
  };
  const Dedup* FindDedup(const std::string& key, int64_t now_ms);
  void RememberDedup(const std::string& key, Dedup d);
  void ClearDedup() { dedup_.clear(); }

  // Long polls waiting for this queue wait here (on SqsService's mutex).
  std::condition_variable cv;
  int waiters = 0;
  bool deleted = false;

 private:
  int64_t id_;
  std::string name_;
  bool fifo_;
  std::map<int64_t, Message> messages_;            // by seq
  std::set<std::pair<int64_t, int64_t>> index_;    // committed: (visible_at_ms, seq)
  std::map<std::string, Dedup> dedup_;
  std::multimap<int64_t, std::string> dedup_expiry_;
};

}  // namespace sluice::sqs
