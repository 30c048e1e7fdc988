#include "sqs/queue.h"

#include <unordered_set>

namespace sluice::sqs {

Message& Queue::Add(Message m) {
  int64_t seq = m.seq;
  auto [it, inserted] = messages_.emplace(seq, std::move(m));
  if (!it->second.pending) index_.emplace(it->second.visible_at_ms, seq);
  return it->second;
}

void Queue::Commit(int64_t seq) {
  auto it = messages_.find(seq);
  if (it == messages_.end() || !it->second.pending) return;
  it->second.pending = false;
  index_.emplace(it->second.visible_at_ms, seq);
}

Message* Queue::Find(int64_t seq) {
  auto it = messages_.find(seq);
  return it == messages_.end() ? nullptr : &it->second;
}

std::optional<Message> Queue::Remove(int64_t seq) {
  auto it = messages_.find(seq);
  if (it == messages_.end()) return std::nullopt;
  if (!it->second.pending) index_.erase({it->second.visible_at_ms, seq});
  Message m = std::move(it->second);
  messages_.erase(it);
  return m;
}

void Queue::SetVisibleAt(Message& m, int64_t visible_at_ms) {
  if (!m.pending) {
    index_.erase({m.visible_at_ms, m.seq});
    index_.emplace(visible_at_ms, m.seq);
  }
  m.visible_at_ms = visible_at_ms;
}

std::vector<Message*> Queue::Available(int64_t now_ms, int max) {
  std::vector<Message*> out;
  if (max <= 0) return out;
  if (!fifo_) {
    // Visible messages sort first in the index; among them, the longest visible first.
    for (auto it = index_.begin(); it != index_.end() && it->first <= now_ms && static_cast<int>(out.size()) < max;
         ++it) {
      out.push_back(&messages_.at(it->second));
    }
    return out;
  }
  std::unordered_set<std::string> blocked;
  for (auto& [seq, m] : messages_) {
    if (static_cast<int>(out.size()) >= max) break;
    if (blocked.contains(m.group_id)) continue;
    if (m.pending || m.visible_at_ms > now_ms) {
      blocked.insert(m.group_id);  // later messages of the group wait for this one
      continue;
    }
    out.push_back(&m);
  }
  return out;
}

int64_t Queue::NextVisibleAt(int64_t now_ms) const {
  auto it = index_.upper_bound({now_ms, INT64_MAX});
  return it == index_.end() ? 0 : it->first;
}

Queue::Counts Queue::Count(int64_t now_ms) const {
  Counts c;
  for (const auto& [seq, m] : messages_) {
    if (m.pending) continue;
    if (m.visible_at_ms <= now_ms) {
      ++c.visible;
    } else if (m.received) {
      ++c.in_flight;
    } else {
      ++c.delayed;
    }
  }
  return c;
}

bool Queue::InFlightAtLeast(int64_t now_ms, int64_t limit) const {
  if (static_cast<int64_t>(index_.size()) < limit) return false;
  int64_t n = 0;
  for (auto it = index_.upper_bound({now_ms, INT64_MAX}); it != index_.end(); ++it) {
    if (messages_.at(it->second).received && ++n >= limit) return true;
  }
  return false;
}

std::vector<int64_t> Queue::Expired(int64_t now_ms, int64_t retention_ms) const {
  std::vector<int64_t> out;
  for (const auto& [seq, m] : messages_) {
    if (m.pending || m.sent_ms + retention_ms > now_ms) continue;
    out.push_back(seq);
  }
  return out;
}

const Queue::Dedup* Queue::FindDedup(const std::string& key, int64_t now_ms) {
  while (!dedup_expiry_.empty() && dedup_expiry_.begin()->first <= now_ms) {
    auto it = dedup_.find(dedup_expiry_.begin()->second);
    if (it != dedup_.end() && it->second.expires_ms <= now_ms) dedup_.erase(it);
    dedup_expiry_.erase(dedup_expiry_.begin());
  }
  auto it = dedup_.find(key);
  return it == dedup_.end() ? nullptr : &it->second;
}

void Queue::RememberDedup(const std::string& key, Dedup d) {
  dedup_expiry_.emplace(d.expires_ms, key);
  dedup_[key] = std::move(d);
}

}  // namespace sluice::sqs
