#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "base/status.h"
#include "io/file.h"
#include "io/sqlite.h"

// The S3 engine: buckets and objects as plain files in a key-mirroring tree (the lake),
// indexed in SQLite. Durable write protocol: bytes go to a temporary file, are staged under
// a fresh name outside the lake and made durable, the index row naming the staged file
// commits (in groups), then the file is renamed into the key's path and the row follows;
// the previous version stays readable until the new row commits, every committed row
// names a file holding its bytes, and Open() finishes or undoes each step after a crash.
// Thread-safe. Errors carry their S3 error code (see S3ErrorCode()).
namespace sluice {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// Everything S3 keeps about an object besides its bytes.
struct ObjectMeta {
  std::string key;
  uint64_t size = 0;
  std::string etag;  // without quotes: hex MD5, or "<hex>-<parts>" for multipart
  absl::Time last_modified;
  std::string content_type = "binary/octet-stream";
  KeyValues headers;        // content-encoding, content-disposition, cache-control, ...
  KeyValues user_metadata;  // x-amz-meta-* without the prefix, names lower-case
  KeyValues tags;
  std::string checksum_algorithm;  // "CRC32", ... or empty
  std::string checksum;            // base64, for checksum_algorithm
  std::string checksum_type;       // FULL_OBJECT or COMPOSITE
  int parts_count = 0;
  std::vector<uint64_t> part_sizes;  // of a multipart object, for GET ?partNumber=
  std::string storage_class = "STANDARD";
  std::string path;  // relative to the bucket's folder

  std::string ToJson() const;  // all but key, size, etag, last_modified, path
  static ObjectMeta FromJson(const std::string& json);
};

struct BucketInfo {
  std::string name;
  std::string region;
  absl::Time created;
};

struct ListRequest {
  std::string prefix, delimiter;
  std::string after;  // exclusive start (start-after / marker / continuation)
  int max_keys = 1000;
};

struct ListResult {
  std::vector<ObjectMeta> objects;
  std::vector<std::string> common_prefixes;
  bool truncated = false;
  std::string last;  // the last key or common prefix returned: the next marker
};

struct PartInfo {
  int number = 0;
  uint64_t size = 0;
  std::string etag;
  std::string checksum;  // base64 of the upload's checksum algorithm, if any
  absl::Time modified;
};

struct UploadInfo {
  std::string upload_id, key;
  absl::Time initiated;
  ObjectMeta meta;  // what the completed object will carry
};

// A new object's bytes, being written. Obtain from ObjectStore::NewObjectFile().
class ObjectFile {
 public:
  absl::Status Append(std::string_view data) { return file_->Append(data); }
  uint64_t size() const { return file_->size(); }
  TempFile& temp() { return *file_; }

 private:
  friend class ObjectStore;
  explicit ObjectFile(std::unique_ptr<TempFile> f) : file_(std::move(f)) {}
  std::unique_ptr<TempFile> file_;
};

// Conditions on a write (S3 conditional writes).
struct WriteConditions {
  bool if_none_match_any = false;       // If-None-Match: *
  std::optional<std::string> if_match;  // If-Match: "<etag>"
};

// A committed change to an object, for notifications (S3 → EventBridge).
struct ObjectChange {
  enum class Kind { kCreated, kRemoved, kTagsAdded } kind = Kind::kCreated;
  std::string bucket, key, etag;
  uint64_t size = 0;
  std::string reason;  // PutObject, CopyObject, CompleteMultipartUpload, DeleteObject, ...
  std::string request_id, source_ip;
};
using ObjectListener = std::function<void(const ObjectChange&)>;
// Decides, on the calling thread before a change commits, whether the change goes to the
// notification outbox: returns the deliveries it owes (an opaque document kept with the
// row), or "" for none. Must be cheap: it runs on every object write.
using OutboxPlanner = std::function<std::string(const ObjectChange&)>;

// A row of the notification outbox: a committed change whose deliveries are still owed.
struct OutboxEntry {
  int64_t id = 0;
  ObjectChange change;
  absl::Time time;      // when the change committed
  std::string targets;  // as the OutboxPlanner returned, or as UpdateOutbox left it
};

// What the S3 API is doing on this thread, so the changes it causes carry their reason and
// request (other writers — Glue jobs, Athena — leave it empty: reason PutObject/DeleteObject).
struct ChangeContext {
  std::string reason, request_id, source_ip;
};
class ScopedChangeContext {
 public:
  explicit ScopedChangeContext(ChangeContext ctx);
  ~ScopedChangeContext();
  static const ChangeContext* Current();

 private:
  const ChangeContext* previous_;
  ChangeContext ctx_;
};

class ObjectStore {
 public:
  // `dir` is <data-dir>/s3; created when missing.
  static absl::StatusOr<std::unique_ptr<ObjectStore>> Open(const std::string& dir);
  ~ObjectStore();

  absl::Status CreateBucket(const std::string& name, const std::string& region);
  absl::Status DeleteBucket(const std::string& name);
  absl::StatusOr<BucketInfo> GetBucket(const std::string& name);
  absl::StatusOr<std::vector<BucketInfo>> ListBuckets();

  absl::StatusOr<std::unique_ptr<ObjectFile>> NewObjectFile();
  // Makes `file` the object `meta.key` of `bucket` (fsync, rename, index commit).
  // meta.size and meta.last_modified are set here.
  absl::StatusOr<ObjectMeta> PutObject(const std::string& bucket, ObjectMeta meta,
                                       std::unique_ptr<ObjectFile> file, const WriteConditions& cond = {});
  absl::StatusOr<ObjectMeta> HeadObject(const std::string& bucket, const std::string& key);
  // The object's metadata and an open descriptor of its bytes.
  absl::StatusOr<std::pair<ObjectMeta, UniqueFd>> OpenObject(const std::string& bucket, const std::string& key);
  // Deleting a missing key succeeds (as in S3). `existed` tells whether it was there.
  absl::Status DeleteObject(const std::string& bucket, const std::string& key, bool* existed = nullptr);
  absl::Status SetTags(const std::string& bucket, const std::string& key, KeyValues tags);
  absl::StatusOr<ListResult> List(const std::string& bucket, const ListRequest& req);
  // The absolute path of the folder holding `bucket`'s objects (the lake).
  std::string BucketDir(const std::string& bucket) const;
  // A bucket's configuration documents by name ("notification"); "" when unset.
  absl::StatusOr<std::string> GetBucketConfig(const std::string& bucket, const std::string& name);
  absl::Status SetBucketConfig(const std::string& bucket, const std::string& name, const std::string& value);
  // Called after every committed object change, on the writer's thread.
  // REQUIRES: set before the store is shared.
  void SetListener(ObjectListener listener) { listener_ = std::move(listener); }
  // Notification outbox: a change the planner gives deliveries for is recorded in the same
  // transaction as the object's row, so a committed change always has its row.
  // REQUIRES: set before the store is shared.
  void SetOutboxPlanner(OutboxPlanner planner) { planner_ = std::move(planner); }
  // Outbox rows with id > `after`, oldest first, at most `limit`.
  absl::StatusOr<std::vector<OutboxEntry>> ReadOutbox(int64_t after, int limit);
  // Removes delivered rows (one commit).
  absl::Status DeleteOutbox(const std::vector<int64_t>& ids);
  // Records that only `targets` are still owed for row `id`.
  absl::Status UpdateOutbox(int64_t id, const std::string& targets);

  // Multipart uploads.
  absl::StatusOr<std::string> CreateUpload(const std::string& bucket, ObjectMeta meta);
  absl::StatusOr<UploadInfo> GetUpload(const std::string& bucket, const std::string& key,
                                       const std::string& upload_id);
  absl::Status PutPart(const std::string& upload_id, PartInfo part, std::unique_ptr<ObjectFile> file);
  absl::StatusOr<std::vector<PartInfo>> ListParts(const std::string& upload_id);
  absl::StatusOr<std::vector<UploadInfo>> ListUploads(const std::string& bucket, const std::string& prefix);
  // Joins the chosen parts into the object; `parts` as the client listed them.
  absl::StatusOr<ObjectMeta> CompleteUpload(const std::string& bucket, const UploadInfo& upload,
                                            const std::vector<std::pair<int, std::string>>& parts);
  absl::Status AbortUpload(const std::string& bucket, const std::string& key, const std::string& upload_id);
  // The result of an upload completed within the last day (ETag, checksum), for a retried
  // complete; nullopt when there is none.
  absl::StatusOr<std::optional<ObjectMeta>> CompletedUpload(const std::string& bucket, const std::string& key,
                                                            const std::string& upload_id);

 private:
  explicit ObjectStore(std::string dir) : dir_(std::move(dir)), readers_(dir_ + "/index.db") {}
  absl::Status Init();
  absl::Status Recover();
  absl::Status RequireBucket(const std::string& bucket);
  // Renames the file `source` into the tree for `key` (over `existing_path` when that is
  // a path in the tree); returns the relative path used.
  absl::StatusOr<std::string> Place(const std::string& bucket, const std::string& key,
                                    const std::string& existing_path, const std::string& source);
  // Stages `file`, commits the row naming it (with `also` in the same transaction), then
  // publishes it into the lake. REQUIRES: meta.key and meta.etag set.
  absl::StatusOr<ObjectMeta> CommitObject(const std::string& bucket, ObjectMeta meta,
                                          std::unique_ptr<ObjectFile> file, const WriteConditions& cond,
                                          const SqliteGroupWriter::Change& also, const char* reason);
  // Moves the committed, staged file `staged` of `key` to the key's path in the lake and
  // points the row at it; the staged name is removed last. Returns the path.
  absl::StatusOr<std::string> Publish(const std::string& bucket, const std::string& key,
                                      const std::string& staged, const std::string& previous);
  // The absolute path of a row's file.
  std::string AbsPath(const std::string& bucket, const std::string& rel) const;
  void RemoveUploadFiles(const std::string& upload_id);
  std::mutex& KeyLock(const std::string& bucket, const std::string& key);
  absl::StatusOr<std::optional<ObjectMeta>> ReadMeta(SqliteDb& db, const std::string& bucket, const std::string& key);

  std::string dir_;
  SqliteReaderPool readers_;
  std::unique_ptr<SqliteGroupWriter> writer_;
  std::mutex key_locks_[64];
  ObjectListener listener_;
  OutboxPlanner planner_;
  // The change `meta` makes, with the calling thread's ChangeContext.
  static ObjectChange MakeChange(ObjectChange::Kind kind, const std::string& bucket, const ObjectMeta& meta,
                                 const char* default_reason, const ChangeContext* ctx);
  // The planner's deliveries for `change` ("" for none).
  std::string Plan(const ObjectChange& change) const { return planner_ ? planner_(change) : std::string(); }
  // Inside a write transaction: the outbox row for `change` when `targets` is not empty.
  static absl::Status Enqueue(SqliteDb& db, const ObjectChange& change, const std::string& targets);
  void Notify(const ObjectChange& change) {
    if (listener_) listener_(change);
  }
};

// The S3 error code a store Status carries ("NoSuchKey"), or "" when none.
std::string S3ErrorCode(const absl::Status& status);
absl::Status S3Error(absl::StatusCode code, std::string_view s3_code, std::string_view message);

}  // namespace sluice
