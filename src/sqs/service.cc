#include "sqs/service.h"

#include <algorithm>
#include <set>

#include "base/json.h"
#include "base/ids.h"
#include "base/strings.h"
#include "io/checksum.h"
#include "io/file.h"
#include "sqs/errors.h"

namespace sluice::sqs {
namespace {

constexpr int64_t kDedupWindowMs = 5 * 60 * 1000;
constexpr int64_t kMaxBatchBytes = 262144;
constexpr int64_t kStandardInFlight = 120000;
constexpr int64_t kFifoInFlight = 20000;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// Queue attributes, their ranges (numbers) and who may set them.
struct AttrRule {
  int64_t min = 0, max = 0;  // for numbers; min > max: not a number
  bool fifo_only = false;
  bool settable = true;  // false: read-only, or only at creation
};
const std::map<std::string, AttrRule>& Rules() {
  static const std::map<std::string, AttrRule> kRules = {
      {"DelaySeconds", {0, 900}},
      {"MaximumMessageSize", {1024, 1048576}},
      {"MessageRetentionPeriod", {60, 1209600}},
      {"ReceiveMessageWaitTimeSeconds", {0, 20}},
      {"VisibilityTimeout", {0, 43200}},
      {"KmsDataKeyReusePeriodSeconds", {60, 86400}},
      {"Policy", {1, 0}},
      {"RedrivePolicy", {1, 0}},
      {"RedriveAllowPolicy", {1, 0}},
      {"KmsMasterKeyId", {1, 0}},
      {"SqsManagedSseEnabled", {1, 0}},
      {"FifoQueue", {1, 0, false, false}},
      {"ContentBasedDeduplication", {1, 0, true}},
      {"DeduplicationScope", {1, 0, true}},
      {"FifoThroughputLimit", {1, 0, true}},
  };
  return kRules;
}

const std::vector<std::string>& ReadOnlyAttributes() {
  static const std::vector<std::string> kNames = {
      "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed",
      "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn"};
  return kNames;
}

bool ValidQueueName(const std::string& name, bool fifo) {
  std::string_view base = name;
  if (fifo) {
    if (base.size() < 5 || base.substr(base.size() - 5) != ".fifo") return false;
    base.remove_suffix(5);
  }
  if (base.empty() || name.size() > 80) return false;
  for (char c : base) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  }
  return true;
}

bool ValidToken(const std::string& s, size_t max) {  // MessageGroupId, MessageDeduplicationId
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

bool ValidBatchId(const std::string& s) {
  if (s.empty() || s.size() > 80) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  }
  return true;
}

// An integer member: absent → nullopt; a JSON number or a numeric string.
absl::StatusOr<std::optional<int64_t>> IntArg(const Json& in, const char* name) {
  auto it = in.find(name);
  if (it == in.end() || it->is_null()) return std::optional<int64_t>();
  if (it->is_number_integer()) return std::optional<int64_t>(it->get<int64_t>());
  int64_t v;
  if (it->is_string() && ParseNumber(it->get<std::string>(), &v)) return std::optional<int64_t>(v);
  return InvalidParameter(StrCat("Value for parameter ", name, " is invalid. Reason: must be an integer."));
}

absl::Status Range(std::optional<int64_t> v, const char* name, int64_t lo, int64_t hi, const char* reason) {
  if (v && (*v < lo || *v > hi)) {
    return InvalidParameter(StrCat("Value ", *v, " for parameter ", name, " is invalid. Reason: ", reason));
  }
  return absl::OkStatus();
}

std::string Str(const Json& in, const char* name) {
  auto it = in.find(name);
  return it != in.end() && it->is_string() ? it->get<std::string>() : "";
}

std::map<std::string, std::string> StringMap(const Json& in, const char* name) {
  std::map<std::string, std::string> out;
  auto it = in.find(name);
  if (it == in.end() || !it->is_object()) return out;
  for (const auto& [k, v] : it->items()) {
    out[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}

std::vector<std::string> StringList(const Json& in, const char* name) {
  std::vector<std::string> out;
  auto it = in.find(name);
  if (it == in.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

std::string MessageJsonText(const Message& m) {  // attributes column
  return AttributesToJson(m.attributes).dump();
}

absl::Status InsertRow(SqliteDb& db, int64_t queue_id, const Message& m) {
  ASSIGN_OR_RETURN(SqliteStmt * st,
                   db.Prepare("INSERT INTO messages(seq, queue_id, id, body, attributes, trace, group_id, dedup_id, "
                              "sequence_number, sent_ms, receive_count, first_receive_ms, visible_at_ms, received, "
                              "source_arn) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  return st->Bind(1, m.seq)
      .Bind(2, queue_id)
      .Bind(3, m.id)
      .Bind(4, m.body)
      .Bind(5, m.attributes.empty() ? std::string() : MessageJsonText(m))
      .Bind(6, m.trace_header)
      .Bind(7, m.group_id)
      .Bind(8, m.dedup_id)
      .Bind(9, m.sequence_number)
      .Bind(10, m.sent_ms)
      .Bind(11, m.receive_count)
      .Bind(12, m.first_receive_ms)
      .Bind(13, m.visible_at_ms)
      .Bind(14, static_cast<int64_t>(m.received))
      .Bind(15, m.source_arn)
      .Run();
}

absl::Status UpdateRow(SqliteDb& db, const Message& m) {
  ASSIGN_OR_RETURN(SqliteStmt * st,
                   db.Prepare("UPDATE messages SET receive_count=?, first_receive_ms=?, visible_at_ms=?, received=? "
                              "WHERE seq=?"));
  return st->Bind(1, m.receive_count)
      .Bind(2, m.first_receive_ms)
      .Bind(3, m.visible_at_ms)
      .Bind(4, static_cast<int64_t>(m.received))
      .Bind(5, m.seq)
      .Run();
}

absl::Status DeleteRow(SqliteDb& db, int64_t seq) {
  ASSIGN_OR_RETURN(SqliteStmt * st, db.Prepare("DELETE FROM messages WHERE seq=?"));
  return st->Bind(1, seq).Run();
}

// A move to another queue keeps the message (id, body, sent time) under a new seq.
absl::Status MoveRow(SqliteDb& db, int64_t old_seq, int64_t queue_id, const Message& m) {
  RETURN_IF_ERROR(DeleteRow(db, old_seq));
  return InsertRow(db, queue_id, m);
}

}  // namespace

struct SqsService::Entry {
  std::unique_ptr<Queue> queue;
  std::map<std::string, std::string> attributes;  // the settable ones, as strings
  std::map<std::string, std::string> tags;
  int64_t created_s = 0, modified_s = 0;
  int64_t purged_ms = 0;
  // Parsed from attributes.
  int64_t delay_s = 0, max_size = 262144, retention_s = 345600, wait_s = 0, visibility_s = 30;
  bool content_dedup = false, dedup_by_group = false;
  std::optional<RedrivePolicy> redrive;
};

struct SqsService::MoveTask {
  std::string handle, source_arn, destination_arn, status = "RUNNING", failure;
  std::optional<int64_t> rate;
  int64_t moved = 0, to_move = 0, started_ms = 0;
  double budget = 0;
};

absl::StatusOr<std::unique_ptr<SqsService>> SqsService::Open(const std::string& dir, SqsOptions options) {
  RETURN_IF_ERROR(MakeDirs(dir));
  std::unique_ptr<SqsService> s(new SqsService(dir, std::move(options)));
  ASSIGN_OR_RETURN(s->writer_, SqliteGroupWriter::Open(dir + "/sqs.db"));
  RETURN_IF_ERROR(s->Load());
  if (s->options_.start_threads) s->timer_ = std::thread([p = s.get()] { p->TimerLoop(); });
  return s;
}

SqsService::SqsService(std::string dir, SqsOptions options) : dir_(std::move(dir)), options_(std::move(options)) {}

SqsService::~SqsService() { Stop(); }

void SqsService::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ && !timer_.joinable()) return;
    stopping_ = true;
    for (auto& [name, e] : queues_) e->queue->cv.notify_all();
    timer_cv_.notify_all();
  }
  if (timer_.joinable()) timer_.join();
}

absl::Status SqsService::Load() {
  ASSIGN_OR_RETURN(auto db, SqliteDb::Open(dir_ + "/sqs.db"));
  RETURN_IF_ERROR(db->Exec(
      "CREATE TABLE IF NOT EXISTS queues(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, attributes TEXT NOT NULL, "
      "tags TEXT NOT NULL, created INTEGER NOT NULL, modified INTEGER NOT NULL);"
      "CREATE TABLE IF NOT EXISTS messages(seq INTEGER PRIMARY KEY, queue_id INTEGER NOT NULL, id TEXT NOT NULL, "
      "body TEXT NOT NULL, attributes TEXT NOT NULL, trace TEXT NOT NULL, group_id TEXT NOT NULL, "
      "dedup_id TEXT NOT NULL, sequence_number TEXT NOT NULL, sent_ms INTEGER NOT NULL, "
      "receive_count INTEGER NOT NULL, first_receive_ms INTEGER NOT NULL, visible_at_ms INTEGER NOT NULL, "
      "received INTEGER NOT NULL, source_arn TEXT NOT NULL);"
      "CREATE INDEX IF NOT EXISTS messages_by_queue ON messages(queue_id, seq);"));
  std::map<int64_t, Entry*> by_id;
  ASSIGN_OR_RETURN(SqliteStmt * q, db->Prepare("SELECT id, name, attributes, tags, created, modified FROM queues"));
  q->Reset();
  while (true) {
    ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) break;
    auto e = std::make_unique<Entry>();
    std::string name = q->Text(1);
    bool fifo = name.size() > 5 && name.compare(name.size() - 5, 5, ".fifo") == 0;
    e->queue = std::make_unique<Queue>(q->Int(0), name, fifo);
    Json attrs = ParseJson(q->Text(2), kMaxStoredJsonDepth);
    Json tags = ParseJson(q->Text(3), kMaxStoredJsonDepth);
    if (attrs.is_object()) e->attributes = attrs.get<std::map<std::string, std::string>>();
    if (tags.is_object()) e->tags = tags.get<std::map<std::string, std::string>>();
    e->created_s = q->Int(4);
    e->modified_s = q->Int(5);
    next_queue_id_ = std::max(next_queue_id_, q->Int(0) + 1);
    by_id[q->Int(0)] = e.get();
    queues_[name] = std::move(e);
  }
  for (auto& [name, e] : queues_) ApplyConfig(*e);
  ASSIGN_OR_RETURN(SqliteStmt * m,
                   db->Prepare("SELECT seq, queue_id, id, body, attributes, trace, group_id, dedup_id, sequence_number, "
                               "sent_ms, receive_count, first_receive_ms, visible_at_ms, received, source_arn "
                               "FROM messages ORDER BY seq"));
  m->Reset();
  int64_t now = NowMs();
  while (true) {
    ASSIGN_OR_RETURN(bool row, m->Step());
    if (!row) break;
    next_seq_ = std::max(next_seq_, m->Int(0) + 1);
    auto it = by_id.find(m->Int(1));
    if (it == by_id.end()) continue;  // its queue was deleted
    Message msg;
    msg.seq = m->Int(0);
    msg.id = m->Text(2);
    msg.body = m->Text(3);
    if (std::string a = m->Text(4); !a.empty()) {
      auto attrs = AttributesFromJson(ParseJson(a));
      if (attrs.ok()) msg.attributes = std::move(*attrs);
    }
    msg.trace_header = m->Text(5);
    msg.group_id = m->Text(6);
    msg.dedup_id = m->Text(7);
    msg.sequence_number = m->Text(8);
    msg.sent_ms = m->Int(9);
    msg.receive_count = m->Int(10);
    msg.first_receive_ms = m->Int(11);
    msg.visible_at_ms = m->Int(12);
    msg.received = m->Int(13) != 0;
    msg.source_arn = m->Text(14);
    msg.md5_body = Md5Hex(msg.body);
    msg.md5_attributes = Md5OfAttributes(msg.attributes);
    msg.nonce = RandomHex(8);
    Entry& e = *it->second;
    if (e.queue->fifo() && !msg.dedup_id.empty() && msg.sent_ms + kDedupWindowMs > now) {
      std::string key = e.dedup_by_group ? msg.group_id + '\x1f' + msg.dedup_id : msg.dedup_id;
      e.queue->RememberDedup(key, {msg.sent_ms + kDedupWindowMs, msg.id, msg.sequence_number});
    }
    e.queue->Add(std::move(msg));
  }
  db->ResetAll();
  return absl::OkStatus();
}

// ----- helpers

std::string SqsService::Arn(const std::string& name) const {
  return StrCat("arn:aws:sqs:", options_.region, ":", options_.account, ":", name);
}

std::string SqsService::Url(const std::string& endpoint, const std::string& name) const {
  return StrCat(endpoint, "/", options_.account, "/", name);
}

SqsService::Entry* SqsService::FindByName(const std::string& name) {
  auto it = queues_.find(name);
  return it == queues_.end() ? nullptr : it->second.get();
}

SqsService::Entry* SqsService::FindByArn(const std::string& arn) {
  std::string prefix = StrCat("arn:aws:sqs:", options_.region, ":", options_.account, ":");
  if (arn.compare(0, prefix.size(), prefix) != 0) return nullptr;
  return FindByName(arn.substr(prefix.size()));
}

std::optional<std::string> SqsService::QueueArnFromUrl(const std::string& url) const {
  std::string_view u = url;
  size_t scheme = u.find("://");
  if (scheme != std::string_view::npos) {
    u.remove_prefix(scheme + 3);
    size_t slash = u.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    u.remove_prefix(slash + 1);
  }
  while (!u.empty() && u.front() == '/') u.remove_prefix(1);
  std::vector<std::string_view> parts = Split(u, '/', true);
  if (parts.empty() || parts.size() > 2) return std::nullopt;
  if (parts.size() == 2 && parts[0] != options_.account) return std::nullopt;
  return Arn(std::string(parts.back()));
}

SqsService::Entry* SqsService::FindByUrl(const Json& in) {
  std::string url = Str(in, "QueueUrl");
  auto arn = QueueArnFromUrl(url);
  return arn ? FindByArn(*arn) : nullptr;
}

bool SqsService::QueueExists(const std::string& queue_arn) const {
  std::lock_guard<std::mutex> l(mu_);
  return const_cast<SqsService*>(this)->FindByArn(queue_arn) != nullptr;
}

void SqsService::ApplyConfig(Entry& e) {
  auto num = [&](const char* name, int64_t fallback) {
    int64_t v;
    auto it = e.attributes.find(name);
    return it != e.attributes.end() && ParseNumber(it->second, &v) ? v : fallback;
  };
  e.delay_s = num("DelaySeconds", 0);
  e.max_size = num("MaximumMessageSize", 262144);
  e.retention_s = num("MessageRetentionPeriod", 345600);
  e.wait_s = num("ReceiveMessageWaitTimeSeconds", 0);
  e.visibility_s = num("VisibilityTimeout", 30);
  e.content_dedup = e.attributes["ContentBasedDeduplication"] == "true";
  e.dedup_by_group = e.attributes["DeduplicationScope"] == "messageGroup";
  if (!e.queue->fifo()) {
    e.attributes.erase("ContentBasedDeduplication");
    e.attributes.erase("DeduplicationScope");
  }
  e.redrive.reset();
  auto it = e.attributes.find("RedrivePolicy");
  if (it != e.attributes.end() && !it->second.empty()) {
    Json p = ParseJson(it->second);
    if (p.is_object()) {
      RedrivePolicy r;
      r.dead_letter_arn = Str(p, "deadLetterTargetArn");
      auto c = p.find("maxReceiveCount");
      if (c != p.end() && c->is_number_integer()) r.max_receive_count = c->get<int64_t>();
      if (c != p.end() && c->is_string()) ParseNumber(c->get<std::string>(), &r.max_receive_count);
      e.redrive = r;
    }
  }
}

absl::Status SqsService::ValidateAttributes(const std::map<std::string, std::string>& attrs, bool fifo,
                                            bool creating, const std::string& name) {
  for (const auto& [k, v] : attrs) {
    auto it = Rules().find(k);
    bool read_only = std::find(ReadOnlyAttributes().begin(), ReadOnlyAttributes().end(), k) !=
                     ReadOnlyAttributes().end();
    if (it == Rules().end() || read_only || (it->second.fifo_only && !fifo) ||
        (!creating && !it->second.settable)) {
      return Error("InvalidAttributeName", StrCat("Unknown Attribute ", k, "."));
    }
    auto invalid = [&](const std::string& reason = "") {
      return Error("InvalidAttributeValue", reason.empty() ? StrCat("Invalid value for the parameter ", k, ".")
                                                           : StrCat("Value ", v, " for parameter ", k,
                                                                    " is invalid. Reason: ", reason));
    };
    const AttrRule& rule = it->second;
    if (rule.min <= rule.max) {
      int64_t n;
      if (!ParseNumber(v, &n) || n < rule.min || n > rule.max) return invalid();
      continue;
    }
    if (k == "FifoQueue" || k == "ContentBasedDeduplication" || k == "SqsManagedSseEnabled") {
      if (v != "true" && v != "false") return invalid();
      if (k == "FifoQueue" && (v == "true") != fifo) return invalid();
    } else if (k == "DeduplicationScope") {
      if (v != "messageGroup" && v != "queue") return invalid();
    } else if (k == "FifoThroughputLimit") {
      if (v != "perQueue" && v != "perMessageGroupId") return invalid();
    } else if (k == "Policy") {
      if (!v.empty() && !ParseJson(v).is_object()) return invalid("Invalid JSON policy.");
    } else if (k == "RedrivePolicy") {
      if (v.empty()) continue;
      Json p = ParseJson(v);
      if (!p.is_object()) return invalid("Invalid value for the parameter RedrivePolicy.");
      std::string dlq = Str(p, "deadLetterTargetArn");
      int64_t max = 0;
      auto c = p.find("maxReceiveCount");
      bool count_ok = c != p.end() && ((c->is_number_integer() && (max = c->get<int64_t>(), true)) ||
                                       (c->is_string() && ParseNumber(c->get<std::string>(), &max)));
      if (dlq.empty()) return invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.");
      if (!count_ok) return invalid("Redrive policy does not contain mandatory attribute: maxReceiveCount.");
      if (max < 1 || max > 1000) return invalid("Invalid value for maxReceiveCount: " + std::to_string(max) +
                                                ", valid values are from 1 to 1000 both inclusive.");
      Entry* target = FindByArn(dlq);
      if (!target) return invalid("Dead-letter target does not exist.");
      if (target->queue->fifo() != fifo) {
        return invalid(fifo ? "Dead-letter queue must be same type of queue as the source.: FIFO"
                            : "Dead-letter queue must be same type of queue as the source.");
      }
      if (target->queue->name() == name) return invalid("Dead-letter target can not be the source queue.");
      // The target's RedriveAllowPolicy must let this queue use it.
      auto allow = target->attributes.find("RedriveAllowPolicy");
      if (allow != target->attributes.end()) {
        Json a = ParseJson(allow->second);
        std::string perm = a.is_object() ? Str(a, "redrivePermission") : "";
        bool ok = perm != "denyAll";
        if (perm == "byQueue") {
          ok = false;
          for (const auto& s : StringList(a, "sourceQueueArns")) ok |= s == Arn(name);
        }
        if (!ok) return invalid("Queue " + Arn(name) + " is not allowed to use the dead-letter queue.");
      }
    } else if (k == "RedriveAllowPolicy") {
      Json p = ParseJson(v);
      if (!p.is_object()) return invalid("Invalid value for the parameter RedriveAllowPolicy.");
      std::string perm = Str(p, "redrivePermission");
      if (perm != "allowAll" && perm != "denyAll" && perm != "byQueue") {
        return invalid("Redrive permission should be one of allowAll, denyAll, byQueue.");
      }
      auto sources = StringList(p, "sourceQueueArns");
      if (perm == "byQueue" && (sources.empty() || sources.size() > 10)) {
        return invalid("Amazon SQS supports 1 to 10 source queue ARNs for the byQueue redrive permission.");
      }
      if (perm != "byQueue" && p.contains("sourceQueueArns")) {
        return invalid("Amazon SQS accepts source queue ARNs only for the byQueue redrive permission.");
      }
    }
  }
  return absl::OkStatus();
}

SqliteGroupWriter::Change SqsService::QueueRow(const Entry& e) const {
  int64_t id = e.queue->id();
  std::string name = e.queue->name(), attrs = Json(e.attributes).dump(), tags = Json(e.tags).dump();
  int64_t created = e.created_s, modified = e.modified_s;
  return [=](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStmt * st,
                     db.Prepare("INSERT OR REPLACE INTO queues(id, name, attributes, tags, created, modified) "
                                "VALUES(?,?,?,?,?,?)"));
    return st->Bind(1, id).Bind(2, name).Bind(3, attrs).Bind(4, tags).Bind(5, created).Bind(6, modified).Run();
  };
}

// ----- dispatch

absl::StatusOr<Json> SqsService::Call(const std::string& action, const Json& in, const std::string& endpoint) {
  if (!in.is_object()) return InvalidParameter("The request is not a JSON object.");
  if (action == "SendMessage") return SendMessage(in);
  if (action == "ReceiveMessage") return ReceiveMessage(in);
  if (action == "DeleteMessage") return DeleteMessage(in);
  if (action == "SendMessageBatch") return SendMessageBatch(in);
  if (action == "DeleteMessageBatch") return DeleteMessageBatch(in);
  if (action == "ChangeMessageVisibility") return ChangeVisibility(in);
  if (action == "ChangeMessageVisibilityBatch") return ChangeVisibilityBatch(in);
  if (action == "CreateQueue") return CreateQueue(in, endpoint);
  if (action == "GetQueueUrl") return GetQueueUrl(in, endpoint);
  if (action == "ListQueues") return ListQueues(in, endpoint);
  if (action == "GetQueueAttributes") return GetQueueAttributes(in);
  if (action == "SetQueueAttributes") return SetQueueAttributes(in);
  if (action == "DeleteQueue") return DeleteQueue(in);
  if (action == "PurgeQueue") return PurgeQueue(in);
  if (action == "TagQueue" || action == "UntagQueue" || action == "ListQueueTags") return Tags(action, in);
  if (action == "ListDeadLetterSourceQueues") return ListDeadLetterSourceQueues(in, endpoint);
  if (action == "StartMessageMoveTask") return StartMessageMoveTask(in);
  if (action == "ListMessageMoveTasks") return ListMessageMoveTasks(in);
  if (action == "CancelMessageMoveTask") return CancelMessageMoveTask(in);
  if (action == "AddPermission" || action == "RemovePermission") {
    std::lock_guard<std::mutex> l(mu_);
    if (!FindByUrl(in)) return NoQueue();
    return Json::object();  // accepted; permissions are not enforced
  }
  return Error("InvalidAction", StrCat("The action ", action, " is not valid for this web service."));
}

// ----- queues

absl::StatusOr<Json> SqsService::CreateQueue(const Json& in, const std::string& endpoint) {
  std::string name = Str(in, "QueueName");
  if (name.empty()) return MissingParameter("QueueName");
  auto attrs = StringMap(in, "Attributes");
  auto tags = StringMap(in, "tags");
  bool fifo = attrs.contains("FifoQueue") && attrs["FifoQueue"] == "true";
  bool fifo_name = name.size() > 5 && name.compare(name.size() - 5, 5, ".fifo") == 0;
  if (fifo && !ValidQueueName(name, true)) {
    return InvalidParameter(
        "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with "
        ".fifo suffix and be 1 to 80 in length.");
  }
  if (!fifo && (fifo_name || !ValidQueueName(name, false))) {
    return InvalidParameter(
        fifo_name ? "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length. "
                    "A FIFO queue name must end with .fifo and FifoQueue must be true."
                  : "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length");
  }
  if (tags.size() > 50) return InvalidParameter("Too many tags added for queue " + name + ".");
  std::unique_lock<std::mutex> l(mu_);
  RETURN_IF_ERROR(ValidateAttributes(attrs, fifo, true, name));
  if (Entry* e = FindByName(name)) {
    for (const auto& [k, v] : attrs) {
      auto it = e->attributes.find(k);
      std::string current = it != e->attributes.end() ? it->second : "";
      if (current.empty() && k == "FifoQueue") current = e->queue->fifo() ? "true" : "false";
      if (current != v) {
        return Error("QueueNameExists",
                     StrCat("A queue already exists with the same name and a different value for attribute ", k));
      }
    }
    return Json{{"QueueUrl", Url(endpoint, name)}};
  }
  auto e = std::make_unique<Entry>();
  e->queue = std::make_unique<Queue>(next_queue_id_++, name, fifo);
  e->attributes = {{"DelaySeconds", "0"},           {"MaximumMessageSize", "262144"},
                   {"MessageRetentionPeriod", "345600"}, {"ReceiveMessageWaitTimeSeconds", "0"},
                   {"VisibilityTimeout", "30"},     {"SqsManagedSseEnabled", "true"}};
  if (fifo) {
    e->attributes["FifoQueue"] = "true";
    e->attributes["ContentBasedDeduplication"] = "false";
    e->attributes["DeduplicationScope"] = "queue";
    e->attributes["FifoThroughputLimit"] = "perQueue";
  }
  for (const auto& [k, v] : attrs) e->attributes[k] = v;
  if (attrs.contains("KmsMasterKeyId") && !attrs.contains("SqsManagedSseEnabled")) {
    e->attributes["SqsManagedSseEnabled"] = "false";
  }
  if (e->attributes["RedrivePolicy"].empty()) e->attributes.erase("RedrivePolicy");
  e->tags = tags;
  e->created_s = e->modified_s = absl::ToUnixSeconds(absl::Now());
  ApplyConfig(*e);
  auto row = QueueRow(*e);
  queues_[name] = std::move(e);
  l.unlock();
  // The queue is usable at once; its row commits before the reply.
  RETURN_IF_ERROR(writer_->Write(std::move(row)));
  return Json{{"QueueUrl", Url(endpoint, name)}};
}

absl::StatusOr<Json> SqsService::GetQueueUrl(const Json& in, const std::string& endpoint) {
  std::string name = Str(in, "QueueName");
  if (name.empty()) return MissingParameter("QueueName");
  std::string owner = Str(in, "QueueOwnerAWSAccountId");
  std::lock_guard<std::mutex> l(mu_);
  if ((!owner.empty() && owner != options_.account) || !FindByName(name)) return NoQueue();
  return Json{{"QueueUrl", Url(endpoint, name)}};
}

absl::StatusOr<Json> SqsService::ListQueues(const Json& in, const std::string& endpoint) {
  std::string prefix = Str(in, "QueueNamePrefix");
  ASSIGN_OR_RETURN(auto max, IntArg(in, "MaxResults"));
  RETURN_IF_ERROR(Range(max, "MaxResults", 1, 1000, "MaxResults must be an integer between 1 and 1000."));
  std::string token = Str(in, "NextToken");
  std::string after;
  if (!token.empty()) {
    auto t = Base64Decode(token);
    if (!t) return InvalidParameter("Invalid NextToken value.");
    after = *t;
  }
  std::lock_guard<std::mutex> l(mu_);
  Json urls = Json::array();
  Json out = Json::object();
  for (auto it = after.empty() ? queues_.begin() : queues_.upper_bound(after); it != queues_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) continue;
    if (static_cast<int64_t>(urls.size()) >= max.value_or(1000)) {
      if (max) out["NextToken"] = Base64Encode(urls.empty() ? it->first : after);
      break;
    }
    urls.push_back(Url(endpoint, it->first));
    after = it->first;
  }
  if (out.contains("NextToken")) out["NextToken"] = Base64Encode(after);
  if (!urls.empty()) out["QueueUrls"] = std::move(urls);
  return out;
}

absl::StatusOr<Json> SqsService::GetQueueAttributes(const Json& in) {
  std::vector<std::string> names = StringList(in, "AttributeNames");
  std::lock_guard<std::mutex> l(mu_);
  Entry* e = FindByUrl(in);
  if (!e) return NoQueue();
  std::set<std::string> want;
  bool all = false;
  for (const auto& n : names) {
    if (n == "All") {
      all = true;
    } else if (Rules().contains(n) || std::find(ReadOnlyAttributes().begin(), ReadOnlyAttributes().end(), n) !=
                                          ReadOnlyAttributes().end()) {
      want.insert(n);
    } else {
      return Error("InvalidAttributeName", StrCat("Unknown Attribute ", n, "."));
    }
  }
  Json attrs = Json::object();
  auto put = [&](const std::string& k, const std::string& v) {
    if (all || want.contains(k)) attrs[k] = v;
  };
  for (const auto& [k, v] : e->attributes) put(k, v);
  Queue::Counts c = e->queue->Count(NowMs());
  put("ApproximateNumberOfMessages", std::to_string(c.visible));
  put("ApproximateNumberOfMessagesNotVisible", std::to_string(c.in_flight));
  put("ApproximateNumberOfMessagesDelayed", std::to_string(c.delayed));
  put("CreatedTimestamp", std::to_string(e->created_s));
  put("LastModifiedTimestamp", std::to_string(e->modified_s));
  put("QueueArn", Arn(e->queue->name()));
  Json out = Json::object();
  if (!attrs.empty()) out["Attributes"] = std::move(attrs);
  return out;
}

absl::StatusOr<Json> SqsService::SetQueueAttributes(const Json& in) {
  auto attrs = StringMap(in, "Attributes");
  std::unique_lock<std::mutex> l(mu_);
  Entry* e = FindByUrl(in);
  if (!e) return NoQueue();
  RETURN_IF_ERROR(ValidateAttributes(attrs, e->queue->fifo(), false, e->queue->name()));
  for (const auto& [k, v] : attrs) {
    if (v.empty() && (k == "RedrivePolicy" || k == "RedriveAllowPolicy" || k == "Policy" || k == "KmsMasterKeyId")) {
      e->attributes.erase(k);
    } else {
      e->attributes[k] = v;
    }
  }
  e->modified_s = absl::ToUnixSeconds(absl::Now());
  ApplyConfig(*e);
  e->queue->cv.notify_all();
  auto row = QueueRow(*e);
  l.unlock();
  RETURN_IF_ERROR(writer_->Write(std::move(row)));
  return Json::object();
}

absl::StatusOr<Json> SqsService::DeleteQueue(const Json& in) {
  std::unique_lock<std::mutex> l(mu_);
  auto arn = QueueArnFromUrl(Str(in, "QueueUrl"));
  Entry* e = arn ? FindByArn(*arn) : nullptr;
  if (!e) return NoQueue();
  int64_t id = e->queue->id();
  std::string name = e->queue->name();
  // Long polls still waiting hold the Queue: they see `deleted` and return empty.
  auto node = queues_.extract(name);
  node.mapped()->queue->deleted = true;
  node.mapped()->queue->cv.notify_all();
  l.unlock();
  absl::Status st = writer_->Write([id](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStmt * q, db.Prepare("DELETE FROM queues WHERE id=?"));
    RETURN_IF_ERROR(q->Bind(1, id).Run());
    ASSIGN_OR_RETURN(SqliteStmt * m, db.Prepare("DELETE FROM messages WHERE queue_id=?"));
    return m->Bind(1, id).Run();
  });
  // Long polls may still wait on the queue's condition variable: it is freed once none does.
  l.lock();
  graveyard_.push_back(std::move(node.mapped()));
  std::erase_if(graveyard_, [](const std::unique_ptr<Entry>& g) { return g->queue->waiters == 0; });
  l.unlock();
  RETURN_IF_ERROR(st);
  return Json::object();
}

absl::StatusOr<Json> SqsService::PurgeQueue(const Json& in) {
  std::unique_lock<std::mutex> l(mu_);
  Entry* e = FindByUrl(in);
  if (!e) return NoQueue();
  int64_t now = NowMs();
  if (e->purged_ms && now - e->purged_ms < 60000) {
    return Error("PurgeQueueInProgress",
                 StrCat("Only one PurgeQueue operation on ", e->queue->name(), " is allowed every 60 seconds."));
  }
  e->purged_ms = now;
  std::vector<int64_t> seqs;
  for (const auto& [seq, m] : e->queue->messages()) {
    if (!m.pending) seqs.push_back(seq);
  }
  for (int64_t s : seqs) e->queue->Remove(s);
  e->queue->ClearDedup();
  int64_t id = e->queue->id();
  l.unlock();
  RETURN_IF_ERROR(writer_->Write([id, seqs](SqliteDb& db) -> absl::Status {
    for (int64_t s : seqs) RETURN_IF_ERROR(DeleteRow(db, s));
    (void)id;
    return absl::OkStatus();
  }));
  return Json::object();
}

absl::StatusOr<Json> SqsService::Tags(const std::string& action, const Json& in) {
  std::unique_lock<std::mutex> l(mu_);
  Entry* e = FindByUrl(in);
  if (!e) return NoQueue();
  if (action == "ListQueueTags") {
    Json out = Json::object();
    if (!e->tags.empty()) out["Tags"] = e->tags;
    return out;
  }
  if (action == "TagQueue") {
    auto tags = StringMap(in, "Tags");
    if (tags.empty()) return MissingParameter("Tags");
    for (const auto& [k, v] : tags) {
      if (k.empty() || k.size() > 128 || v.size() > 256) {
        return InvalidParameter("Tag keys must be 1 to 128 characters and values at most 256 characters.");
      }
    }
    auto merged = e->tags;
    for (const auto& [k, v] : tags) merged[k] = v;
    if (merged.size() > 50) return InvalidParameter("Too many tags added for queue " + e->queue->name() + ".");
    e->tags = std::move(merged);
  } else {
    auto keys = StringList(in, "TagKeys");
    if (keys.empty()) return MissingParameter("TagKeys");
    for (const auto& k : keys) e->tags.erase(k);
  }
  auto row = QueueRow(*e);
  l.unlock();
  RETURN_IF_ERROR(writer_->Write(std::move(row)));
  return Json::object();
}

absl::StatusOr<Json> SqsService::ListDeadLetterSourceQueues(const Json& in, const std::string& endpoint) {
  ASSIGN_OR_RETURN(auto max, IntArg(in, "MaxResults"));
  RETURN_IF_ERROR(Range(max, "MaxResults", 1, 1000, "MaxResults must be an integer between 1 and 1000."));
  std::string after;
  if (std::string t = Str(in, "NextToken"); !t.empty()) {
    auto d = Base64Decode(t);
    if (!d) return InvalidParameter("Invalid NextToken value.");
    after = *d;
  }
  std::lock_guard<std::mutex> l(mu_);
  Entry* e = FindByUrl(in);
  if (!e) return NoQueue();
  std::string arn = Arn(e->queue->name());
  Json urls = Json::array();
  Json out = Json::object();
  for (auto it = after.empty() ? queues_.begin() : queues_.upper_bound(after); it != queues_.end(); ++it) {
    if (!it->second->redrive || it->second->redrive->dead_letter_arn != arn) continue;
    if (static_cast<int64_t>(urls.size()) >= max.value_or(1000)) {
      if (max) out["NextToken"] = Base64Encode(after);
      break;
    }
    urls.push_back(Url(endpoint, it->first));
    after = it->first;
  }
  out["queueUrls"] = std::move(urls);
  return out;
}

// ----- sending

namespace {

absl::Status ValidateOutgoingMessage(const SqsSendRequest& r) {
  if (r.body.empty()) return MissingParameter("MessageBody");
  if (!ValidMessageText(r.body)) {
    return Error("InvalidMessageContents",
                 "Invalid binary character was found in the message body, the set of allowed characters is #x9 | "
                 "#xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF");
  }
  RETURN_IF_ERROR(ValidateAttributes(r.attributes));
  if (r.delay_seconds) {
    RETURN_IF_ERROR(Range(int64_t{*r.delay_seconds}, "DelaySeconds", 0, 900,
                          "DelaySeconds must be >= 0 and <= 900."));
  }
  return absl::OkStatus();
}

absl::Status CheckBatch(const Json& in, const char* list, const char* entry, std::vector<std::string>* ids) {
  auto it = in.find(list);
  size_t n = it != in.end() && it->is_array() ? it->size() : 0;
  if (n == 0) return Error("EmptyBatchRequest", StrCat("There should be at least one ", entry, " in the request."));
  if (n > 10) {
    return Error("TooManyEntriesInBatchRequest",
                 StrCat("Maximum number of entries per request are 10. You have sent ", n, "."));
  }
  std::set<std::string> seen;
  for (const auto& e : *it) {
    std::string id = e.is_object() ? Str(e, "Id") : "";
    if (!ValidBatchId(id)) {
      return Error("InvalidBatchEntryId",
                   "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at "
                   "most 80 letters long.");
    }
    if (!seen.insert(id).second) return Error("BatchEntryIdsNotDistinct", StrCat("Id ", id, " repeated."));
    ids->push_back(id);
  }
  return absl::OkStatus();
}

Json Failure(const std::string& id, const absl::Status& st) {
  std::string code = SqsErrorCode(st);
  ErrorInfo info = InfoOf(code);
  return Json{{"Id", id}, {"SenderFault", info.sender}, {"Code", info.query_code}, {"Message", std::string(st.message())}};
}

}  // namespace

absl::StatusOr<SqsService::Outgoing> SqsService::ParseSend(const Json& in) const {
  Outgoing o;
  o.request.body = Str(in, "MessageBody");
  ASSIGN_OR_RETURN(auto delay, IntArg(in, "DelaySeconds"));
  if (delay) {
    RETURN_IF_ERROR(Range(delay, "DelaySeconds", 0, 900, "DelaySeconds must be >= 0 and <= 900."));
    o.request.delay_seconds = static_cast<int>(*delay);
  }
  if (auto it = in.find("MessageAttributes"); it != in.end()) {
    ASSIGN_OR_RETURN(o.request.attributes, AttributesFromJson(*it));
  }
  if (auto it = in.find("MessageSystemAttributes"); it != in.end()) {
    ASSIGN_OR_RETURN(o.system, AttributesFromJson(*it));
    for (const auto& [name, v] : o.system) {
      if (name != "AWSTraceHeader") {
        return InvalidParameter(StrCat("Message system attribute name '", name, "' is invalid."));
      }
      if (v.data_type != "String" || v.string_value.empty()) {
        return InvalidParameter("Message system attribute 'AWSTraceHeader' must be a non-empty String.");
      }
      o.request.trace_header = v.string_value;
    }
  }
  o.request.group_id = Str(in, "MessageGroupId");
  o.request.dedup_id = Str(in, "MessageDeduplicationId");
  if (in.contains("MessageGroupId") && !ValidToken(o.request.group_id, 128)) {
    return InvalidParameter("Value " + o.request.group_id + " for parameter MessageGroupId is invalid. Reason: "
                            "MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.");
  }
  if (in.contains("MessageDeduplicationId") && !ValidToken(o.request.dedup_id, 128)) {
    return InvalidParameter("Value " + o.request.dedup_id + " for parameter MessageDeduplicationId is invalid. "
                            "Reason: MessageDeduplicationId can only include alphanumeric and punctuation characters. "
                            "1 to 128 in length.");
  }
  RETURN_IF_ERROR(ValidateOutgoingMessage(o.request));
  return o;
}

absl::Status SqsService::CheckSend(const Entry& e, const Outgoing& o) const {
  const SqsSendRequest& r = o.request;
  size_t size = r.body.size() + AttributesSize(r.attributes);
  if (static_cast<int64_t>(size) > e.max_size) {
    return InvalidParameter(
        StrCat("One or more parameters are invalid. Reason: Message must be shorter than ", e.max_size, " bytes."));
  }
  if (e.queue->fifo()) {
    if (r.group_id.empty()) return MissingParameter("MessageGroupId");
    if (r.delay_seconds) {
      return InvalidParameter(StrCat("Value ", *r.delay_seconds,
                                     " for parameter DelaySeconds is invalid. Reason: The request include parameter "
                                     "that is not valid for this queue type."));
    }
    if (r.dedup_id.empty() && !e.content_dedup) {
      return InvalidParameter(
          "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided "
          "explicitly");
    }
  } else if (!r.dedup_id.empty()) {
    return InvalidParameter(StrCat("Value ", r.dedup_id,
                                   " for parameter MessageDeduplicationId is invalid. Reason: The request include "
                                   "parameter that is not valid for this queue type."));
  }
  return absl::OkStatus();
}

std::vector<absl::StatusOr<SqsSentMessage>> SqsService::SendAll(const std::string& queue_name,
                                                                std::vector<Outgoing> msgs) {
  std::vector<absl::StatusOr<SqsSentMessage>> results(msgs.size(), absl::UnknownError("unset"));
  std::vector<std::pair<size_t, Message>> rows;  // index in msgs, the message as committed
  std::unique_lock<std::mutex> l(mu_);
  Entry* e = FindByName(queue_name);
  if (!e) {
    for (auto& r : results) r = NoQueue();
    return results;
  }
  Queue& q = *e->queue;
  int64_t now = NowMs();
  for (size_t i = 0; i < msgs.size(); ++i) {
    Outgoing& o = msgs[i];
    if (absl::Status st = CheckSend(*e, o); !st.ok()) {
      results[i] = st;
      continue;
    }
    Message m;
    m.id = NewUuid();
    m.md5_body = Md5Hex(o.request.body);
    m.md5_attributes = Md5OfAttributes(o.request.attributes);
    if (!o.request.trace_header.empty()) {
      m.md5_system = Md5OfAttributes({{"AWSTraceHeader", {"String", o.request.trace_header, ""}}});
    }
    SqsSentMessage sent{m.id, m.md5_body, m.md5_attributes, ""};
    if (q.fifo()) {
      std::string dedup = o.request.dedup_id.empty() ? HexEncode(Sha256(o.request.body)) : o.request.dedup_id;
      std::string key = e->dedup_by_group ? o.request.group_id + '\x1f' + dedup : dedup;
      if (const Queue::Dedup* d = q.FindDedup(key, now)) {
        sent.message_id = d->message_id;
        sent.sequence_number = d->sequence_number;
        results[i] = sent;  // accepted, not enqueued again
        continue;
      }
      m.dedup_id = dedup;
    }
    m.seq = next_seq_++;
    if (q.fifo()) {
      m.sequence_number = StrCat(std::string(20 - std::min<size_t>(20, std::to_string(m.seq).size()), '0'), m.seq);
      sent.sequence_number = m.sequence_number;
      q.RememberDedup(e->dedup_by_group ? o.request.group_id + '\x1f' + m.dedup_id : m.dedup_id,
                      {now + kDedupWindowMs, m.id, m.sequence_number});
    }
    m.body = std::move(o.request.body);
    m.attributes = std::move(o.request.attributes);
    m.trace_header = std::move(o.request.trace_header);
    m.group_id = std::move(o.request.group_id);
    m.sent_ms = now;
    m.visible_at_ms = now + 1000 * int64_t{o.request.delay_seconds.value_or(static_cast<int>(e->delay_s))};
    m.pending = true;
    results[i] = std::move(sent);
    rows.emplace_back(i, q.Add(std::move(m)));
  }
  if (rows.empty()) return results;
  ++q.waiters;  // keeps the queue alive should it be deleted during the commit
  int64_t queue_id = q.id();
  l.unlock();
  absl::Status st = writer_->Write([&rows, queue_id](SqliteDb& db) -> absl::Status {
    for (const auto& [i, m] : rows) RETURN_IF_ERROR(InsertRow(db, queue_id, m));
    return absl::OkStatus();
  });
  l.lock();
  --q.waiters;
  for (const auto& [i, m] : rows) {
    if (st.ok()) {
      q.Commit(m.seq);
    } else {
      q.Remove(m.seq);
      results[i] = st;
    }
  }
  q.cv.notify_all();
  return results;
}

absl::StatusOr<Json> SqsService::SendMessage(const Json& in) {
  ASSIGN_OR_RETURN(Outgoing o, ParseSend(in));
  std::string name;
  {
    std::lock_guard<std::mutex> l(mu_);
    Entry* e = FindByUrl(in);
    if (!e) return NoQueue();
    name = e->queue->name();
  }
  bool traced = !o.request.trace_header.empty();
  std::string trace = o.request.trace_header;
  std::vector<Outgoing> one;
  one.push_back(std::move(o));
  auto results = SendAll(name, std::move(one));
  ASSIGN_OR_RETURN(SqsSentMessage sent, std::move(results[0]));
  Json out = {{"MessageId", sent.message_id}, {"MD5OfMessageBody", sent.md5_of_body}};
  if (!sent.md5_of_attributes.empty()) out["MD5OfMessageAttributes"] = sent.md5_of_attributes;
  if (traced) out["MD5OfMessageSystemAttributes"] = Md5OfAttributes({{"AWSTraceHeader", {"String", trace, ""}}});
  if (!sent.sequence_number.empty()) out["SequenceNumber"] = sent.sequence_number;
  return out;
}

absl::StatusOr<Json> SqsService::SendMessageBatch(const Json& in) {
  std::vector<std::string> ids;
  std::string name;
  {
    std::lock_guard<std::mutex> l(mu_);
    Entry* e = FindByUrl(in);
    if (!e) return NoQueue();
    name = e->queue->name();
  }
  RETURN_IF_ERROR(CheckBatch(in, "Entries", "SendMessageBatchRequestEntry", &ids));
  const Json& entries = in["Entries"];
  size_t total = 0;
  for (const auto& entry : entries) {
    total += Str(entry, "MessageBody").size();
    if (auto it = entry.find("MessageAttributes"); it != entry.end()) {
      auto a = AttributesFromJson(*it);
      if (a.ok()) total += AttributesSize(*a);
    }
  }
  if (total > kMaxBatchBytes) {
    return Error("BatchRequestTooLong",
                 StrCat("Batch requests cannot be longer than ", kMaxBatchBytes, " bytes. You have sent ", total,
                        " bytes."));
  }
  Json successful = Json::array(), failed = Json::array();
  std::vector<Outgoing> msgs;
  std::vector<size_t> index;  // msgs[k] is entry index[k]
  for (size_t i = 0; i < entries.size(); ++i) {
    auto o = ParseSend(entries[i]);
    if (!o.ok()) {
      failed.push_back(Failure(ids[i], o.status()));
      continue;
    }
    msgs.push_back(std::move(*o));
    index.push_back(i);
  }
  std::vector<std::string> traces;
  for (const auto& m : msgs) traces.push_back(m.request.trace_header);
  auto results = SendAll(name, std::move(msgs));
  for (size_t k = 0; k < results.size(); ++k) {
    const std::string& id = ids[index[k]];
    if (!results[k].ok()) {
      if (SqsErrorCode(results[k].status()) == "QueueDoesNotExist") return results[k].status();
      failed.push_back(Failure(id, results[k].status()));
      continue;
    }
    const SqsSentMessage& s = *results[k];
    Json r = {{"Id", id}, {"MessageId", s.message_id}, {"MD5OfMessageBody", s.md5_of_body}};
    if (!s.md5_of_attributes.empty()) r["MD5OfMessageAttributes"] = s.md5_of_attributes;
    if (!traces[k].empty()) {
      r["MD5OfMessageSystemAttributes"] = Md5OfAttributes({{"AWSTraceHeader", {"String", traces[k], ""}}});
    }
    if (!s.sequence_number.empty()) r["SequenceNumber"] = s.sequence_number;
    successful.push_back(std::move(r));
  }
  return Json{{"Successful", std::move(successful)}, {"Failed", std::move(failed)}};
}

absl::StatusOr<SqsSentMessage> SqsService::Send(const std::string& queue_arn, SqsSendRequest request) {
  std::string name;
  {
    std::lock_guard<std::mutex> l(mu_);
    Entry* e = FindByArn(queue_arn);
    if (!e) return NoQueue();
    name = e->queue->name();
  }
  RETURN_IF_ERROR(ValidateOutgoingMessage(request));
  std::vector<Outgoing> one(1);
  one[0].request = std::move(request);
  auto results = SendAll(name, std::move(one));
  return std::move(results[0]);
}

// ----- receiving

std::string SqsService::MakeHandle(int64_t queue_id, const Message& m) {
  return Base64Encode(StrCat(queue_id, ":", m.seq, ":", m.nonce, ":", m.id));
}

std::optional<SqsService::Handle> SqsService::ParseHandle(const std::string& receipt) {
  auto raw = Base64Decode(receipt);
  if (!raw) return std::nullopt;
  std::vector<std::string_view> parts = Split(*raw, ':');
  Handle h;
  if (parts.size() != 4 || !ParseNumber(parts[0], &h.queue_id) || !ParseNumber(parts[1], &h.seq)) {
    return std::nullopt;
  }
  h.nonce = std::string(parts[2]);
  return h;
}

Json SqsService::MessageJson(const Entry& e, const Message& m, const std::string& handle, const Json& in) const {
  Json out = {{"MessageId", m.id}, {"ReceiptHandle", handle}, {"MD5OfBody", m.md5_body}, {"Body", m.body}};
  std::set<std::string> names;
  for (const char* list : {"AttributeNames", "MessageSystemAttributeNames"}) {
    for (const auto& n : StringList(in, list)) names.insert(n);
  }
  bool all = names.contains("All");
  Json attrs = Json::object();
  auto put = [&](const char* k, const std::string& v) {
    if ((all || names.contains(k)) && !v.empty()) attrs[k] = v;
  };
  put("SenderId", options_.account);
  put("SentTimestamp", std::to_string(m.sent_ms));
  put("ApproximateReceiveCount", std::to_string(m.receive_count));
  put("ApproximateFirstReceiveTimestamp", std::to_string(m.first_receive_ms));
  put("AWSTraceHeader", m.trace_header);
  put("DeadLetterQueueSourceArn", m.source_arn);
  put("MessageGroupId", m.group_id);
  if (e.queue->fifo()) {
    put("MessageDeduplicationId", m.dedup_id);
    put("SequenceNumber", m.sequence_number);
  }
  if (!attrs.empty()) out["Attributes"] = std::move(attrs);
  std::vector<std::string> wanted = StringList(in, "MessageAttributeNames");
  Attributes selected;
  for (const auto& [name, v] : m.attributes) {
    for (const auto& w : wanted) {
      bool match = w == "All" || w == ".*" || w == name ||
                   (w.size() > 2 && w.compare(w.size() - 2, 2, ".*") == 0 &&
                    name.compare(0, w.size() - 1, w, 0, w.size() - 1) == 0);
      if (match) {
        selected[name] = v;
        break;
      }
    }
  }
  if (!selected.empty()) {
    out["MD5OfMessageAttributes"] = Md5OfAttributes(selected);
    out["MessageAttributes"] = AttributesToJson(selected);
  }
  return out;
}

absl::StatusOr<Json> SqsService::ReceiveMessage(const Json& in) {
  ASSIGN_OR_RETURN(auto max, IntArg(in, "MaxNumberOfMessages"));
  ASSIGN_OR_RETURN(auto visibility, IntArg(in, "VisibilityTimeout"));
  ASSIGN_OR_RETURN(auto wait, IntArg(in, "WaitTimeSeconds"));
  RETURN_IF_ERROR(Range(max, "MaxNumberOfMessages", 1, 10, "Must be between 1 and 10, if provided."));
  RETURN_IF_ERROR(Range(visibility, "VisibilityTimeout", 0, 43200, "Must be between 0 and 43200, if provided."));
  RETURN_IF_ERROR(Range(wait, "WaitTimeSeconds", 0, 20, "Must be >= 0 and <= 20, if provided."));
  std::unique_lock<std::mutex> l(mu_);
  Entry* e = FindByUrl(in);
  if (!e) return NoQueue();
  Queue& q = *e->queue;
  int64_t start = NowMs();
  int64_t deadline = start + 1000 * wait.value_or(e->wait_s);
  bool long_poll = deadline > start;
  if (long_poll && long_polls_.fetch_add(1) >= options_.max_long_polls) {
    deadline = std::min(deadline, start + 1000);  // the worker pool is not for waiting
  }
  ++q.waiters;
  struct Moved {
    int64_t old_seq;
    int64_t queue_id;
    Message m;
    Queue* to;
  };
  std::vector<Message> taken;
  std::vector<Moved> moved;
  absl::Status status;
  while (!q.deleted) {
    int64_t now = NowMs();
    int limit = static_cast<int>(max.value_or(1));
    int64_t vis = visibility.value_or(e->visibility_s);
    for (int round = 0; round < 8 && static_cast<int>(taken.size()) < limit; ++round) {
      std::vector<Message*> cands = q.Available(now, limit - static_cast<int>(taken.size()));
      if (cands.empty()) break;
      if (q.InFlightAtLeast(now, q.fifo() ? kFifoInFlight : kStandardInFlight)) {
        if (!q.fifo()) status = Error("OverLimit", "Too many messages in flight for this queue.");
        break;
      }
      bool any_moved = false;
      for (Message* m : cands) {
        Entry* dlq = e->redrive ? FindByArn(e->redrive->dead_letter_arn) : nullptr;
        if (dlq && m->receive_count >= e->redrive->max_receive_count) {
          std::optional<Message> mm = q.Remove(m->seq);
          int64_t old_seq = mm->seq;
          mm->seq = next_seq_++;
          mm->received = false;
          mm->visible_at_ms = now;
          mm->source_arn = Arn(q.name());
          mm->pending = true;
          dlq->queue->Add(*mm);
          moved.push_back({old_seq, dlq->queue->id(), std::move(*mm), dlq->queue.get()});
          ++dlq->queue->waiters;
          any_moved = true;
          continue;
        }
        m->receive_count++;
        if (m->first_receive_ms == 0) m->first_receive_ms = now;
        m->received = true;
        m->nonce = RandomHex(8);
        q.SetVisibleAt(*m, now + 1000 * vis);
        taken.push_back(*m);
      }
      if (!any_moved) break;
    }
    if (!taken.empty() || !status.ok() || now >= deadline || stopping_) break;
    int64_t until = deadline;
    int64_t next = q.NextVisibleAt(now);
    if (next > 0 && next < until) until = next;
    q.cv.wait_until(l, std::chrono::system_clock::time_point(std::chrono::milliseconds(until)));
  }
  --q.waiters;
  if (long_poll) long_polls_.fetch_sub(1);
  Json messages = Json::array();
  for (const Message& m : taken) messages.push_back(MessageJson(*e, m, MakeHandle(q.id(), m), in));
  if (taken.empty() && moved.empty()) {
    RETURN_IF_ERROR(status);
    return Json::object();
  }
  l.unlock();
  absl::Status st = writer_->Write([&](SqliteDb& db) -> absl::Status {
    for (const Message& m : taken) RETURN_IF_ERROR(UpdateRow(db, m));
    for (const Moved& mv : moved) RETURN_IF_ERROR(MoveRow(db, mv.old_seq, mv.queue_id, mv.m));
    return absl::OkStatus();
  });
  l.lock();
  for (Moved& mv : moved) {
    if (st.ok()) {
      mv.to->Commit(mv.m.seq);
    } else {
      mv.to->Remove(mv.m.seq);  // gone until restart (the row is still in the source queue)
    }
    --mv.to->waiters;
    mv.to->cv.notify_all();
  }
  l.unlock();
  RETURN_IF_ERROR(st);
  RETURN_IF_ERROR(status);
  Json out = Json::object();
  if (!messages.empty()) out["Messages"] = std::move(messages);
  return out;
}

// ----- deleting and visibility

absl::StatusOr<Json> SqsService::DeleteMessage(const Json& in) {
  std::string receipt = Str(in, "ReceiptHandle");
  if (receipt.empty()) return MissingParameter("ReceiptHandle");
  auto h = ParseHandle(receipt);
  std::unique_lock<std::mutex> l(mu_);
  Entry* e = FindByUrl(in);
  if (!e) return NoQueue();
  if (!h || h->queue_id != e->queue->id()) {
    return Error("ReceiptHandleIsInvalid", StrCat("The input receipt handle \"", receipt, "\" is not a valid receipt handle."));
  }
  Message* m = e->queue->Find(h->seq);
  if (!m || m->pending) return Json::object();
  e->queue->Remove(h->seq);
  if (e->queue->fifo()) e->queue->cv.notify_all();  // its group may be unblocked
  int64_t seq = h->seq;
  l.unlock();
  RETURN_IF_ERROR(writer_->Write([seq](SqliteDb& db) { return DeleteRow(db, seq); }));
  return Json::object();
}

absl::StatusOr<Json> SqsService::DeleteMessageBatch(const Json& in) {
  std::vector<std::string> ids;
  std::unique_lock<std::mutex> l(mu_);
  Entry* e = FindByUrl(in);
  if (!e) return NoQueue();
  RETURN_IF_ERROR(CheckBatch(in, "Entries", "DeleteMessageBatchRequestEntry", &ids));
  Json successful = Json::array(), failed = Json::array();
  std::vector<int64_t> seqs;
  const Json& entries = in["Entries"];
  for (size_t i = 0; i < entries.size(); ++i) {
    std::string receipt = Str(entries[i], "ReceiptHandle");
    auto h = ParseHandle(receipt);
    if (!h || h->queue_id != e->queue->id()) {
      failed.push_back(Failure(ids[i], Error("ReceiptHandleIsInvalid", StrCat("The input receipt handle \"", receipt,
                                                                              "\" is not a valid receipt handle."))));
      continue;
    }
    Message* m = e->queue->Find(h->seq);
    if (m && !m->pending) {
      e->queue->Remove(h->seq);
      seqs.push_back(h->seq);
    }
    successful.push_back(Json{{"Id", ids[i]}});
  }
  if (e->queue->fifo()) e->queue->cv.notify_all();
  l.unlock();
  if (!seqs.empty()) {
    RETURN_IF_ERROR(writer_->Write([&seqs](SqliteDb& db) -> absl::Status {
      for (int64_t s : seqs) RETURN_IF_ERROR(DeleteRow(db, s));
      return absl::OkStatus();
    }));
  }
  return Json{{"Successful", std::move(successful)}, {"Failed", std::move(failed)}};
}

namespace {

// REQUIRES: the queue's lock. Sets a received message's visibility; the row to commit.
absl::StatusOr<Message> ChangeOne(Queue& q, const std::optional<int64_t>& timeout, const std::string& receipt,
                                  const std::optional<std::pair<int64_t, int64_t>>& handle, int64_t now) {
  if (!timeout) return MissingParameter("VisibilityTimeout");
  RETURN_IF_ERROR(Range(timeout, "VisibilityTimeout", 0, 43200, "Must be between 0 and 43200, if provided."));
  if (!handle || handle->first != q.id()) {
    return Error("ReceiptHandleIsInvalid", StrCat("The input receipt handle \"", receipt, "\" is not a valid receipt handle."));
  }
  Message* m = q.Find(handle->second);
  if (!m || m->pending || !m->received || m->visible_at_ms <= now) {
    return Error("MessageNotInflight", "Message does not exist or is not available for visibility timeout change.");
  }
  q.SetVisibleAt(*m, now + 1000 * *timeout);
  if (*timeout == 0) q.cv.notify_all();
  return *m;
}

}  // namespace

absl::StatusOr<Json> SqsService::ChangeVisibility(const Json& in) {
  std::string receipt = Str(in, "ReceiptHandle");
  if (receipt.empty()) return MissingParameter("ReceiptHandle");
  ASSIGN_OR_RETURN(auto timeout, IntArg(in, "VisibilityTimeout"));
  auto h = ParseHandle(receipt);
  std::unique_lock<std::mutex> l(mu_);
  Entry* e = FindByUrl(in);
  if (!e) return NoQueue();
  std::optional<std::pair<int64_t, int64_t>> hp;
  if (h) hp = std::make_pair(h->queue_id, h->seq);
  ASSIGN_OR_RETURN(Message m, ChangeOne(*e->queue, timeout, receipt, hp, NowMs()));
  l.unlock();
  RETURN_IF_ERROR(writer_->Write([m = std::move(m)](SqliteDb& db) { return UpdateRow(db, m); }));
  return Json::object();
}

absl::StatusOr<Json> SqsService::ChangeVisibilityBatch(const Json& in) {
  std::vector<std::string> ids;
  std::unique_lock<std::mutex> l(mu_);
  Entry* e = FindByUrl(in);
  if (!e) return NoQueue();
  RETURN_IF_ERROR(CheckBatch(in, "Entries", "ChangeMessageVisibilityBatchRequestEntry", &ids));
  Json successful = Json::array(), failed = Json::array();
  std::vector<Message> rows;
  const Json& entries = in["Entries"];
  int64_t now = NowMs();
  for (size_t i = 0; i < entries.size(); ++i) {
    std::string receipt = Str(entries[i], "ReceiptHandle");
    auto timeout = IntArg(entries[i], "VisibilityTimeout");
    if (!timeout.ok()) {
      failed.push_back(Failure(ids[i], timeout.status()));
      continue;
    }
    auto h = ParseHandle(receipt);
    std::optional<std::pair<int64_t, int64_t>> hp;
    if (h) hp = std::make_pair(h->queue_id, h->seq);
    auto m = ChangeOne(*e->queue, *timeout, receipt, hp, now);
    if (!m.ok()) {
      failed.push_back(Failure(ids[i], m.status()));
      continue;
    }
    rows.push_back(std::move(*m));
    successful.push_back(Json{{"Id", ids[i]}});
  }
  l.unlock();
  if (!rows.empty()) {
    RETURN_IF_ERROR(writer_->Write([&rows](SqliteDb& db) -> absl::Status {
      for (const Message& m : rows) RETURN_IF_ERROR(UpdateRow(db, m));
      return absl::OkStatus();
    }));
  }
  return Json{{"Successful", std::move(successful)}, {"Failed", std::move(failed)}};
}

// ----- message move tasks

absl::StatusOr<Json> SqsService::StartMessageMoveTask(const Json& in) {
  std::string source = Str(in, "SourceArn"), destination = Str(in, "DestinationArn");
  if (source.empty()) return MissingParameter("SourceArn");
  ASSIGN_OR_RETURN(auto rate, IntArg(in, "MaxNumberOfMessagesPerSecond"));
  RETURN_IF_ERROR(Range(rate, "MaxNumberOfMessagesPerSecond", 1, 500, "Must be between 1 and 500, if provided."));
  std::lock_guard<std::mutex> l(mu_);
  Entry* src = FindByArn(source);
  if (!src) {
    return Error("ResourceNotFoundException", "The resource that you specified for the SourceArn parameter doesn't exist.");
  }
  bool is_dlq = false;
  for (const auto& [name, e] : queues_) is_dlq |= e->redrive && e->redrive->dead_letter_arn == source;
  if (!is_dlq) return InvalidParameter("Source queue must be configured as a Dead Letter Queue.");
  if (!destination.empty() && !FindByArn(destination)) {
    return Error("ResourceNotFoundException",
                 "The resource that you specified for the DestinationArn parameter doesn't exist.");
  }
  for (const auto& [h, t] : tasks_) {
    if (t->source_arn == source && t->status == "RUNNING") {
      return Error("UnsupportedOperation",
                   "There is already a task running. Only one active task is allowed for a source queue arn at a "
                   "given time.");
    }
  }
  auto t = std::make_unique<MoveTask>();
  t->handle = Base64Encode(Json{{"taskId", NewUuid()}, {"sourceArn", source}}.dump());
  t->source_arn = source;
  t->destination_arn = destination;
  t->rate = rate;
  t->started_ms = NowMs();
  t->to_move = src->queue->Count(t->started_ms).visible;
  std::string handle = t->handle;
  tasks_[handle] = std::move(t);
  timer_cv_.notify_all();
  return Json{{"TaskHandle", handle}};
}

absl::StatusOr<Json> SqsService::ListMessageMoveTasks(const Json& in) {
  std::string source = Str(in, "SourceArn");
  if (source.empty()) return MissingParameter("SourceArn");
  ASSIGN_OR_RETURN(auto max, IntArg(in, "MaxResults"));
  RETURN_IF_ERROR(Range(max, "MaxResults", 1, 10, "Must be between 1 and 10, if provided."));
  std::lock_guard<std::mutex> l(mu_);
  if (!FindByArn(source)) {
    return Error("ResourceNotFoundException", "The resource that you specified for the SourceArn parameter doesn't exist.");
  }
  std::vector<const MoveTask*> found;
  for (const auto& [h, t] : tasks_) {
    if (t->source_arn == source) found.push_back(t.get());
  }
  std::sort(found.begin(), found.end(), [](const MoveTask* a, const MoveTask* b) { return a->started_ms > b->started_ms; });
  Json results = Json::array();
  for (const MoveTask* t : found) {
    if (static_cast<int64_t>(results.size()) >= max.value_or(1)) break;
    Json r = {{"Status", t->status},
              {"SourceArn", t->source_arn},
              {"ApproximateNumberOfMessagesMoved", t->moved},
              {"ApproximateNumberOfMessagesToMove", t->to_move},
              {"StartedTimestamp", t->started_ms}};
    if (t->status == "RUNNING") r["TaskHandle"] = t->handle;
    if (!t->destination_arn.empty()) r["DestinationArn"] = t->destination_arn;
    if (t->rate) r["MaxNumberOfMessagesPerSecond"] = *t->rate;
    if (!t->failure.empty()) r["FailureReason"] = t->failure;
    results.push_back(std::move(r));
  }
  return Json{{"Results", std::move(results)}};
}

absl::StatusOr<Json> SqsService::CancelMessageMoveTask(const Json& in) {
  std::string handle = Str(in, "TaskHandle");
  if (handle.empty()) return MissingParameter("TaskHandle");
  std::lock_guard<std::mutex> l(mu_);
  auto it = tasks_.find(handle);
  if (it == tasks_.end()) return Error("ResourceNotFoundException", "Task does not exist.");
  if (it->second->status != "RUNNING") {
    return Error("UnsupportedOperation", "Only active tasks can be cancelled.");
  }
  it->second->status = "CANCELLED";
  return Json{{"ApproximateNumberOfMessagesMoved", it->second->moved}};
}

void SqsService::RunMoveTasks(int64_t now) {
  struct Move {
    int64_t old_seq;
    Message m;
    Queue* to;
    MoveTask* task;
  };
  std::vector<Move> moves;
  // A task counts a message (and completes) once its move is committed.
  std::map<MoveTask*, bool> completing;
  std::unique_lock<std::mutex> l(mu_);
  for (auto& [h, t] : tasks_) {
    if (t->status != "RUNNING") continue;
    Entry* src = FindByArn(t->source_arn);
    if (!src) {
      t->status = "FAILED";
      t->failure = "AWS.SimpleQueueService.NonExistentQueue";
      continue;
    }
    // 10 ticks a second; without a rate, SQS's own pace (here 500 a tick).
    t->budget += t->rate ? static_cast<double>(*t->rate) / 10 : 500;
    int allowed = static_cast<int>(t->budget);
    if (allowed <= 0) continue;
    std::vector<Message*> cands = src->queue->Available(now, std::min<int64_t>(allowed, t->to_move - t->moved));
    if (cands.empty()) {
      t->status = "COMPLETED";
      continue;
    }
    int64_t moving = 0;
    for (Message* m : cands) {
      std::string dest = t->destination_arn.empty() ? m->source_arn : t->destination_arn;
      Entry* to = dest.empty() ? nullptr : FindByArn(dest);
      if (!to) {
        t->status = "FAILED";
        t->failure = "The message has no source queue to return to, or the destination queue does not exist.";
        break;
      }
      std::optional<Message> mm = src->queue->Remove(m->seq);
      int64_t old_seq = mm->seq;
      mm->seq = next_seq_++;
      mm->receive_count = 0;
      mm->first_receive_ms = 0;
      mm->received = false;
      mm->visible_at_ms = now;
      mm->source_arn.clear();
      mm->pending = true;
      to->queue->Add(*mm);
      ++to->queue->waiters;
      moves.push_back({old_seq, std::move(*mm), to->queue.get(), t.get()});
      ++moving;
      t->budget -= 1;
    }
    completing[t.get()] = t->moved + moving >= t->to_move;
  }
  if (moves.empty()) return;
  l.unlock();
  absl::Status st = writer_->Write([&moves](SqliteDb& db) -> absl::Status {
    for (const Move& mv : moves) RETURN_IF_ERROR(MoveRow(db, mv.old_seq, mv.to->id(), mv.m));
    return absl::OkStatus();
  });
  l.lock();
  for (Move& mv : moves) {
    if (st.ok()) {
      mv.to->Commit(mv.m.seq);
    } else {
      mv.to->Remove(mv.m.seq);
    }
    --mv.to->waiters;
    mv.to->cv.notify_all();
    if (st.ok()) mv.task->moved++;
  }
  for (auto& [t, done] : completing) {
    if (!st.ok() && t->status == "RUNNING") {
      t->status = "FAILED";
      t->failure = std::string(st.message());
    } else if (done && t->status == "RUNNING") {
      t->status = "COMPLETED";
    }
  }
}

void SqsService::RunTimers(absl::Time at) {
  int64_t now = absl::ToUnixMillis(at);
  std::vector<int64_t> expired;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (now - last_expiry_ms_ >= 5000) {
      last_expiry_ms_ = now;
      for (auto& [name, e] : queues_) {
        for (int64_t seq : e->queue->Expired(now, 1000 * e->retention_s)) {
          e->queue->Remove(seq);
          expired.push_back(seq);
        }
      }
    }
  }
  if (!expired.empty()) {
    (void)writer_->Write([&expired](SqliteDb& db) -> absl::Status {
      for (int64_t s : expired) RETURN_IF_ERROR(DeleteRow(db, s));
      return absl::OkStatus();
    });
  }
  RunMoveTasks(now);
}

void SqsService::TimerLoop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stopping_) {
    bool busy = false;
    for (const auto& [h, t] : tasks_) busy |= t->status == "RUNNING";
    timer_cv_.wait_for(l, busy ? std::chrono::milliseconds(100) : std::chrono::milliseconds(1000));
    if (stopping_) break;
    l.unlock();
    RunTimers(absl::Now());
    l.lock();
  }
}

}  // namespace sluice::sqs
