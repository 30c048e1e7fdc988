#include "s3/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <functional>
#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/cord.h"
#include "base/json.h"
#include "base/strings.h"
#include "io/checksum.h"
#include "nlohmann/json.hpp"
#include "s3/key_path.h"

namespace sluice {
namespace {

constexpr char kCodePayload[] = "sluice.s3.code";
constexpr uint64_t kSyncInPlaceBytes = 1 << 20;
// A row's path is relative to its bucket's folder. Key paths never have a ".." component,
// so a path starting with this names a staged file (<store>/staged/<name>) unambiguously,
// and BucketDir(bucket) + "/" + path still opens it.
constexpr char kStagedPrefix[] = "../../staged/";

bool IsStagedPath(std::string_view path) { return path.starts_with("../"); }

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

nlohmann::json KvToJson(const KeyValues& kv) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& [k, v] : kv) a.push_back({k, v});
  return a;
}

KeyValues KvFromJson(const nlohmann::json& a) {
  KeyValues out;
  if (!a.is_array()) return out;
  for (const auto& p : a) out.emplace_back(p[0].get<std::string>(), p[1].get<std::string>());
  return out;
}

absl::Status NoSuchBucket() {
  return S3Error(absl::StatusCode::kNotFound, "NoSuchBucket", "The specified bucket does not exist");
}

absl::Status NoSuchUpload() {
  return S3Error(absl::StatusCode::kNotFound, "NoSuchUpload",
                 "The specified multipart upload does not exist. The upload ID may be invalid, or the "
                 "upload may have been aborted or completed.");
}

std::string NewUploadId() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  std::string raw(24, '\0');
  for (auto& c : raw) c = static_cast<char>(rng());
  std::string id = Base64Encode(raw);
  for (char& c : id) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return id;
}

std::string UpperBound(std::string s) {  // smallest string greater than every s + suffix
  while (!s.empty() && static_cast<unsigned char>(s.back()) == 0xff) s.pop_back();
  if (!s.empty()) s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
  return s;
}

// Part files are named after their number and ETag, so a part uploaded again with other
// bytes never replaces the file its committed row names.
std::string PartFileName(int number, const std::string& etag) { return StrCat(number, "-", etag); }

std::string ParentDir(const std::string& path) { return path.substr(0, path.rfind('/')); }

bool IsDir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::string S3ErrorCode(const absl::Status& status) {
  auto p = status.GetPayload(kCodePayload);
  return p ? std::string(*p) : std::string();
}

absl::Status S3Error(absl::StatusCode code, std::string_view s3_code, std::string_view message) {
  absl::Status st(code, std::string(message));
  st.SetPayload(kCodePayload, absl::Cord(std::string(s3_code)));
  return st;
}

std::string ObjectMeta::ToJson() const {
  nlohmann::json j = {{"ct", content_type}, {"h", KvToJson(headers)}, {"m", KvToJson(user_metadata)},
                      {"t", KvToJson(tags)}, {"sc", storage_class}};
  if (!checksum_algorithm.empty()) {
    j["ca"] = checksum_algorithm;
    j["cv"] = checksum;
    j["cty"] = checksum_type;
  }
  if (parts_count) j["pc"] = parts_count;
  if (!part_sizes.empty()) j["ps"] = part_sizes;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ObjectMeta ObjectMeta::FromJson(const std::string& json) {
  ObjectMeta m;
  auto j = ParseJson(json);
  if (j.is_discarded() || !j.is_object()) return m;
  m.content_type = j.value("ct", m.content_type);
  m.headers = KvFromJson(j.value("h", nlohmann::json::array()));
  m.user_metadata = KvFromJson(j.value("m", nlohmann::json::array()));
  m.tags = KvFromJson(j.value("t", nlohmann::json::array()));
  m.storage_class = j.value("sc", m.storage_class);
  m.checksum_algorithm = j.value("ca", "");
  m.checksum = j.value("cv", "");
  m.checksum_type = j.value("cty", "");
  m.parts_count = j.value("pc", 0);
  if (j.contains("ps") && j["ps"].is_array()) m.part_sizes = j["ps"].get<std::vector<uint64_t>>();
  return m;
}

absl::StatusOr<std::unique_ptr<ObjectStore>> ObjectStore::Open(const std::string& dir) {
  RETURN_IF_ERROR(MakeDirs(dir + "/objects"));
  RETURN_IF_ERROR(MakeDirs(dir + "/tmp"));
  RETURN_IF_ERROR(MakeDirs(dir + "/uploads"));
  RETURN_IF_ERROR(MakeDirs(dir + "/staged"));
  std::unique_ptr<ObjectStore> store(new ObjectStore(dir));
  RETURN_IF_ERROR(store->Init());
  RETURN_IF_ERROR(store->Recover());
  return store;
}

ObjectStore::~ObjectStore() = default;

absl::Status ObjectStore::Init() {
  ASSIGN_OR_RETURN(writer_, SqliteGroupWriter::Open(dir_ + "/index.db"));
  return writer_->Write([](SqliteDb& db) {
    return db.Exec(
        "CREATE TABLE IF NOT EXISTS buckets(name TEXT PRIMARY KEY, region TEXT NOT NULL,"
        " created_us INTEGER NOT NULL, config TEXT NOT NULL DEFAULT '{}');"
        "CREATE TABLE IF NOT EXISTS objects(bucket TEXT NOT NULL, key TEXT NOT NULL, path TEXT NOT NULL,"
        " size INTEGER NOT NULL, etag TEXT NOT NULL, modified_us INTEGER NOT NULL, meta TEXT NOT NULL,"
        " PRIMARY KEY(bucket, key)) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS uploads(upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL,"
        " key TEXT NOT NULL, initiated_us INTEGER NOT NULL, meta TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS completed_uploads(upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL,"
        " key TEXT NOT NULL, etag TEXT NOT NULL, meta TEXT NOT NULL, completed_us INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS parts(upload_id TEXT NOT NULL, part_number INTEGER NOT NULL,"
        " size INTEGER NOT NULL, etag TEXT NOT NULL, modified_us INTEGER NOT NULL, checksum TEXT NOT NULL,"
        " PRIMARY KEY(upload_id, part_number)) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS notify_outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, bucket TEXT NOT NULL,"
        " key TEXT NOT NULL, kind INTEGER NOT NULL, etag TEXT NOT NULL, size INTEGER NOT NULL, reason TEXT NOT NULL,"
        " request_id TEXT NOT NULL, source_ip TEXT NOT NULL, time_us INTEGER NOT NULL, targets TEXT NOT NULL);");
  });
}

// After a crash: temporary files are partial writes that were never acknowledged. Every
// other file is kept exactly when a row names it: a staged file without a row was never
// committed, a lake file without a row is an old version, a deleted object, or the second
// name of a staged file whose publication was cut short. Rows still naming a staged file
// are then published into the lake. Upload folders and part files without rows go too.
absl::Status ObjectStore::Recover() {
  auto clear = [](const std::string& dir, const std::function<bool(const std::string&)>& keep) {
    if (DIR* d = ::opendir(dir.c_str())) {
      std::vector<std::string> names;
      while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != ".." && !keep(name)) names.push_back(name);
      }
      ::closedir(d);
      for (const auto& n : names) ::unlink((dir + "/" + n).c_str());
    }
  };
  clear(dir_ + "/tmp", [](const std::string&) { return false; });
  absl::flat_hash_set<std::string> indexed, staged;
  struct Pending {
    std::string bucket, key, path;
  };
  std::vector<Pending> pending;
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> parts;  // upload -> "<n>-<etag>"
  RETURN_IF_ERROR(readers_.With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT bucket, key, path FROM objects"));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      std::string path = s->Text(2);
      if (IsStagedPath(path)) {
        staged.insert(path.substr(sizeof(kStagedPrefix) - 1));
        pending.push_back({s->Text(0), s->Text(1), path});
      } else {
        indexed.insert(s->Text(0) + "/" + path);
      }
    }
    ASSIGN_OR_RETURN(auto* u, db.Prepare("SELECT upload_id FROM uploads"));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, u->Step());
      if (!row) break;
      parts[u->Text(0)];
    }
    ASSIGN_OR_RETURN(auto* p, db.Prepare("SELECT upload_id, part_number, etag FROM parts"));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, p->Step());
      if (!row) break;
      parts[p->Text(0)].insert(PartFileName(static_cast<int>(p->Int(1)), p->Text(2)));
    }
    return absl::OkStatus();
  }));
  clear(dir_ + "/staged", [&](const std::string& name) { return staged.contains(name); });
  std::function<void(const std::string&, const std::string&)> walk = [&](const std::string& abs,
                                                                         const std::string& rel) {
    DIR* d = ::opendir(abs.c_str());
    if (!d) return;
    std::vector<std::pair<std::string, bool>> entries;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      entries.emplace_back(name, IsDir(abs + "/" + name));
    }
    ::closedir(d);
    for (const auto& [name, dir] : entries) {
      std::string child_rel = rel.empty() ? name : rel + "/" + name;
      if (dir) {
        walk(abs + "/" + name, child_rel);
        if (!rel.empty()) ::rmdir((abs + "/" + name).c_str());
      } else if (!indexed.contains(child_rel)) {
        ::unlink((abs + "/" + name).c_str());
      }
    }
  };
  walk(dir_ + "/objects", "");
  if (DIR* d = ::opendir((dir_ + "/uploads").c_str())) {
    std::vector<std::string> ids;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") ids.push_back(name);
    }
    ::closedir(d);
    for (const auto& id : ids) {
      std::string dir = dir_ + "/uploads/" + id;
      auto it = parts.find(id);
      // Part files from before parts were named "<n>-<etag>" are kept while their row is.
      clear(dir, [&](const std::string& name) {
        return it != parts.end() && (it->second.contains(name) || name.find('-') == std::string::npos);
      });
      if (it == parts.end()) ::rmdir(dir.c_str());
    }
  }
  for (const auto& p : pending) {
    if (::access(AbsPath(p.bucket, p.path).c_str(), F_OK) != 0) {
      std::fprintf(stderr, "s3: the staged file of %s/%s is missing\n", p.bucket.c_str(), p.key.c_str());
      continue;
    }
    auto published = Publish(p.bucket, p.key, p.path, "");
    if (!published.ok()) {
      std::fprintf(stderr, "s3: publishing %s/%s into the lake failed: %s\n", p.bucket.c_str(), p.key.c_str(),
                   std::string(published.status().message()).c_str());
    }
  }
  return absl::OkStatus();
}

std::string ObjectStore::BucketDir(const std::string& bucket) const { return dir_ + "/objects/" + bucket; }

std::mutex& ObjectStore::KeyLock(const std::string& bucket, const std::string& key) {
  return key_locks_[std::hash<std::string>()(bucket + '\0' + key) % 64];
}

absl::Status ObjectStore::CreateBucket(const std::string& name, const std::string& region) {
  RETURN_IF_ERROR(MakeDirs(BucketDir(name)));
  return writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT region FROM buckets WHERE name=?"));
    s->Bind(1, name);
    ASSIGN_OR_RETURN(bool exists, s->Step());
    if (exists) {
      return S3Error(absl::StatusCode::kAlreadyExists, "BucketAlreadyOwnedByYou",
                     "Your previous request to create the named bucket succeeded and you already own it.");
    }
    ASSIGN_OR_RETURN(auto* ins, db.Prepare("INSERT INTO buckets(name, region, created_us) VALUES(?,?,?)"));
    ins->Bind(1, name).Bind(2, region).Bind(3, Micros(absl::Now()));
    return ins->Run();
  });
}

absl::Status ObjectStore::DeleteBucket(const std::string& name) {
  RETURN_IF_ERROR(writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT 1 FROM buckets WHERE name=?"));
    s->Bind(1, name);
    ASSIGN_OR_RETURN(bool exists, s->Step());
    if (!exists) return NoSuchBucket();
    ASSIGN_OR_RETURN(auto* o, db.Prepare("SELECT 1 FROM objects WHERE bucket=? LIMIT 1"));
    o->Bind(1, name);
    ASSIGN_OR_RETURN(bool has_objects, o->Step());
    if (has_objects) {
      return S3Error(absl::StatusCode::kFailedPrecondition, "BucketNotEmpty",
                     "The bucket you tried to delete is not empty");
    }
    ASSIGN_OR_RETURN(auto* u, db.Prepare("SELECT upload_id FROM uploads WHERE bucket=?"));
    u->Bind(1, name);
    std::vector<std::string> uploads;
    for (;;) {
      ASSIGN_OR_RETURN(bool row, u->Step());
      if (!row) break;
      uploads.push_back(u->Text(0));
    }
    for (const auto& id : uploads) {
      ASSIGN_OR_RETURN(auto* dp, db.Prepare("DELETE FROM parts WHERE upload_id=?"));
      RETURN_IF_ERROR(dp->Bind(1, id).Run());
    }
    ASSIGN_OR_RETURN(auto* du, db.Prepare("DELETE FROM uploads WHERE bucket=?"));
    RETURN_IF_ERROR(du->Bind(1, name).Run());
    ASSIGN_OR_RETURN(auto* d, db.Prepare("DELETE FROM buckets WHERE name=?"));
    return d->Bind(1, name).Run();
  }));
  // Folders left by deleted objects are empty by now; remove the tree if so.
  std::function<void(const std::string&)> prune = [&](const std::string& p) {
    if (DIR* d = ::opendir(p.c_str())) {
      std::vector<std::string> subdirs;
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != ".." && IsDir(p + "/" + n)) subdirs.push_back(p + "/" + n);
      }
      ::closedir(d);
      for (const auto& s : subdirs) prune(s);
    }
    ::rmdir(p.c_str());
  };
  prune(BucketDir(name));
  return absl::OkStatus();
}

absl::StatusOr<BucketInfo> ObjectStore::GetBucket(const std::string& name) {
  BucketInfo info;
  RETURN_IF_ERROR(readers_.With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT region, created_us FROM buckets WHERE name=?"));
    s->Bind(1, name);
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return NoSuchBucket();
    info = BucketInfo{name, s->Text(0), FromMicros(s->Int(1))};
    return absl::OkStatus();
  }));
  return info;
}

absl::Status ObjectStore::RequireBucket(const std::string& bucket) { return GetBucket(bucket).status(); }

absl::StatusOr<std::vector<BucketInfo>> ObjectStore::ListBuckets() {
  std::vector<BucketInfo> out;
  RETURN_IF_ERROR(readers_.With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT name, region, created_us FROM buckets ORDER BY name"));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(BucketInfo{s->Text(0), s->Text(1), FromMicros(s->Int(2))});
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::unique_ptr<ObjectFile>> ObjectStore::NewObjectFile() {
  ASSIGN_OR_RETURN(auto tmp, TempFile::Create(dir_ + "/tmp"));
  return std::unique_ptr<ObjectFile>(new ObjectFile(std::move(tmp)));
}

absl::StatusOr<std::optional<ObjectMeta>> ObjectStore::ReadMeta(SqliteDb& db, const std::string& bucket,
                                                                const std::string& key) {
  ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT path, size, etag, modified_us, meta FROM objects WHERE bucket=? AND key=?"));
  s->Bind(1, bucket).Bind(2, key);
  ASSIGN_OR_RETURN(bool row, s->Step());
  if (!row) return std::optional<ObjectMeta>();
  ObjectMeta m = ObjectMeta::FromJson(s->Text(4));
  m.key = key;
  m.path = s->Text(0);
  m.size = static_cast<uint64_t>(s->Int(1));
  m.etag = s->Text(2);
  m.last_modified = FromMicros(s->Int(3));
  return std::optional<ObjectMeta>(std::move(m));
}

absl::StatusOr<std::string> ObjectStore::Place(const std::string& bucket, const std::string& key,
                                               const std::string& existing_path, const std::string& source) {
  std::string root = BucketDir(bucket);
  auto move = [&](const std::string& abs) -> absl::Status {
    if (::rename(source.c_str(), abs.c_str()) != 0) return ErrnoStatus("rename to", abs, errno);
    return absl::OkStatus();
  };
  if (!existing_path.empty() && !IsStagedPath(existing_path)) {
    if (move(root + "/" + existing_path).ok()) return existing_path;
    // The old file's folder may be gone (a variant was pruned): place afresh.
  }
  std::vector<std::string_view> segments = Split(key, '/');
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string rel;
    bool placed_dirs = true;
    for (size_t i = 0; i + 1 < segments.size(); ++i) {
      bool ok = false;
      for (int v = 0; v < 16 && !ok; ++v) {
        std::string candidate = (rel.empty() ? "" : rel + "/") + SegmentName(segments[i], v);
        std::string abs = root + "/" + candidate;
        if (::mkdir(abs.c_str(), 0755) == 0 || (errno == EEXIST && IsDir(abs))) {
          rel = candidate;
          ok = true;
        }
      }
      if (!ok) {
        placed_dirs = false;
        break;
      }
    }
    if (!placed_dirs) continue;
    for (int v = 0; v < 16; ++v) {
      std::string candidate = (rel.empty() ? "" : rel + "/") + SegmentName(segments.back(), v);
      std::string abs = root + "/" + candidate;
      if (IsDir(abs)) continue;  // a folder of other keys holds this name
      absl::Status st = move(abs);
      if (st.ok()) return candidate;
      if (absl::IsNotFound(st)) break;  // the folder was pruned meanwhile: start again
      if (!IsDir(abs)) return st;
    }
  }
  return absl::InternalError(StrCat("could not find a place for key '", key, "' in bucket ", bucket));
}

std::string ObjectStore::AbsPath(const std::string& bucket, const std::string& rel) const {
  return BucketDir(bucket) + "/" + rel;
}

absl::StatusOr<std::string> ObjectStore::Publish(const std::string& bucket, const std::string& key,
                                                 const std::string& staged, const std::string& previous) {
  // A second name for the staged file, renamed into the tree: the staged name stays until
  // the row names the key's path, so a crash at any point leaves the row's file in place.
  std::string staged_abs = AbsPath(bucket, staged);
  std::string link = staged_abs + ".pub";
  ::unlink(link.c_str());
  if (::link(staged_abs.c_str(), link.c_str()) != 0) return ErrnoStatus("link", link, errno);
  auto placed = Place(bucket, key, previous, link);
  if (!placed.ok()) {
    ::unlink(link.c_str());
    return placed.status();
  }
  std::string path = *placed;
  // The rename must be durable before the row names the new path (syncfs of the group).
  RETURN_IF_ERROR(writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("UPDATE objects SET path=? WHERE bucket=? AND key=? AND path=?"));
    return s->Bind(1, path).Bind(2, bucket).Bind(3, key).Bind(4, staged).Run();
  }, ParentDir(AbsPath(bucket, path))));
  ::unlink(staged_abs.c_str());
  return path;
}

absl::StatusOr<ObjectMeta> ObjectStore::PutObject(const std::string& bucket, ObjectMeta meta,
                                                  std::unique_ptr<ObjectFile> file, const WriteConditions& cond) {
  return CommitObject(bucket, std::move(meta), std::move(file), cond, nullptr, "PutObject");
}

// The write protocol (docs/formats/s3-layout.md): the new bytes are staged under a fresh
// name outside the lake; the row switches to the staged file in one commit (the previous
// version stays readable until then); then the staged file is renamed into the key's path
// and the row updated to it; files no row names are reclaimed (now, and at start-up).
absl::StatusOr<ObjectMeta> ObjectStore::CommitObject(const std::string& bucket, ObjectMeta meta,
                                                     std::unique_ptr<ObjectFile> file, const WriteConditions& cond,
                                                     const SqliteGroupWriter::Change& also, const char* reason) {
  RETURN_IF_ERROR(RequireBucket(bucket));
  struct stat st;
  if (::fstat(file->temp().fd(), &st) != 0) return ErrnoStatus("stat", file->temp().path(), errno);
  meta.size = static_cast<uint64_t>(st.st_size);
  // Large objects are fsynced here, in parallel with other writers; small ones are made
  // durable by the group's syncfs before their index rows commit.
  if (meta.size > kSyncInPlaceBytes) RETURN_IF_ERROR(file->temp().Sync());
  std::lock_guard lock(KeyLock(bucket, meta.key));
  std::optional<ObjectMeta> existing;
  RETURN_IF_ERROR(readers_.With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(existing, ReadMeta(db, bucket, meta.key));
    return absl::OkStatus();
  }));
  if (cond.if_none_match_any && existing) {
    return S3Error(absl::StatusCode::kFailedPrecondition, "PreconditionFailed",
                   "At least one of the pre-conditions you specified did not hold");
  }
  if (cond.if_match) {
    if (!existing) {
      return S3Error(absl::StatusCode::kNotFound, "NoSuchKey", "The specified key does not exist.");
    }
    if (*cond.if_match != "*" && *cond.if_match != existing->etag) {
      return S3Error(absl::StatusCode::kFailedPrecondition, "PreconditionFailed",
                     "At least one of the pre-conditions you specified did not hold");
    }
  }
  std::string staged = kStagedPrefix + NewUploadId();
  std::string staged_abs = AbsPath(bucket, staged);
  RETURN_IF_ERROR(file->temp().Rename(staged_abs));
  meta.path = staged;
  meta.last_modified = absl::FromUnixMillis(absl::ToUnixMillis(absl::Now()));
  ObjectChange change = MakeChange(ObjectChange::Kind::kCreated, bucket, meta, reason, ScopedChangeContext::Current());
  std::string targets = Plan(change);
  absl::Status committed = writer_->Write([&](SqliteDb& db) -> absl::Status {
    if (also) RETURN_IF_ERROR(also(db));
    ASSIGN_OR_RETURN(auto* s, db.Prepare("INSERT OR REPLACE INTO objects(bucket, key, path, size, etag, modified_us, meta)"
                                         " VALUES(?,?,?,?,?,?,?)"));
    s->Bind(1, bucket).Bind(2, meta.key).Bind(3, meta.path).Bind(4, static_cast<int64_t>(meta.size))
        .Bind(5, meta.etag).Bind(6, Micros(meta.last_modified)).Bind(7, meta.ToJson());
    RETURN_IF_ERROR(s->Run());
    return Enqueue(db, change, targets);
  }, dir_ + "/staged");
  if (!committed.ok()) {
    ::unlink(staged_abs.c_str());
    return committed;
  }
  Notify(change);
  // Committed: from here on the object is the new version whatever happens. Publishing
  // into the lake may fail (the row then keeps naming the staged file, which start-up
  // publishes again); the client's write has succeeded either way.
  std::string previous = existing ? existing->path : "";
  auto published = Publish(bucket, meta.key, staged, previous);
  if (published.ok()) {
    meta.path = *published;
    if (!previous.empty() && previous != meta.path) ::unlink(AbsPath(bucket, previous).c_str());
  } else {
    std::fprintf(stderr, "s3: publishing %s/%s into the lake failed (retried at start-up): %s\n", bucket.c_str(),
                 meta.key.c_str(), std::string(published.status().message()).c_str());
    if (!previous.empty()) ::unlink(AbsPath(bucket, previous).c_str());
  }
  return meta;
}

namespace {
thread_local const ChangeContext* current_change = nullptr;
}  // namespace

ScopedChangeContext::ScopedChangeContext(ChangeContext ctx) : previous_(current_change), ctx_(std::move(ctx)) {
  current_change = &ctx_;
}
ScopedChangeContext::~ScopedChangeContext() { current_change = previous_; }
const ChangeContext* ScopedChangeContext::Current() { return current_change; }

ObjectChange ObjectStore::MakeChange(ObjectChange::Kind kind, const std::string& bucket, const ObjectMeta& meta,
                                     const char* default_reason, const ChangeContext* ctx) {
  ObjectChange c;
  c.kind = kind;
  c.bucket = bucket;
  c.key = meta.key;
  c.etag = meta.etag;
  c.size = meta.size;
  c.reason = default_reason;
  if (ctx) {
    if (!ctx->reason.empty()) c.reason = ctx->reason;
    c.request_id = ctx->request_id;
    c.source_ip = ctx->source_ip;
  }
  return c;
}

absl::Status ObjectStore::Enqueue(SqliteDb& db, const ObjectChange& c, const std::string& targets) {
  if (targets.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto* s, db.Prepare("INSERT INTO notify_outbox(bucket, key, kind, etag, size, reason, request_id,"
                                       " source_ip, time_us, targets) VALUES(?,?,?,?,?,?,?,?,?,?)"));
  return s->Bind(1, c.bucket).Bind(2, c.key).Bind(3, static_cast<int64_t>(c.kind)).Bind(4, c.etag)
      .Bind(5, static_cast<int64_t>(c.size)).Bind(6, c.reason).Bind(7, c.request_id).Bind(8, c.source_ip)
      .Bind(9, Micros(absl::Now())).Bind(10, targets).Run();
}

absl::StatusOr<std::vector<OutboxEntry>> ObjectStore::ReadOutbox(int64_t after, int limit) {
  std::vector<OutboxEntry> out;
  RETURN_IF_ERROR(readers_.With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT id, bucket, key, kind, etag, size, reason, request_id, source_ip,"
                                         " time_us, targets FROM notify_outbox WHERE id>? ORDER BY id LIMIT ?"));
    s->Bind(1, after).Bind(2, static_cast<int64_t>(limit));
    for (;;) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      OutboxEntry e;
      e.id = s->Int(0);
      e.change.bucket = s->Text(1);
      e.change.key = s->Text(2);
      int64_t kind = s->Int(3);
      e.change.kind = kind == 1 ? ObjectChange::Kind::kRemoved
                      : kind == 2 ? ObjectChange::Kind::kTagsAdded
                                  : ObjectChange::Kind::kCreated;
      e.change.etag = s->Text(4);
      e.change.size = static_cast<uint64_t>(s->Int(5));
      e.change.reason = s->Text(6);
      e.change.request_id = s->Text(7);
      e.change.source_ip = s->Text(8);
      e.time = FromMicros(s->Int(9));
      e.targets = s->Text(10);
      out.push_back(std::move(e));
    }
    s->Reset();
    return absl::OkStatus();
  }));
  return out;
}

absl::Status ObjectStore::DeleteOutbox(const std::vector<int64_t>& ids) {
  if (ids.empty()) return absl::OkStatus();
  return writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("DELETE FROM notify_outbox WHERE id=?"));
    for (int64_t id : ids) RETURN_IF_ERROR(s->Reset().Bind(1, id).Run());
    return absl::OkStatus();
  });
}

absl::Status ObjectStore::UpdateOutbox(int64_t id, const std::string& targets) {
  return writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("UPDATE notify_outbox SET targets=? WHERE id=?"));
    return s->Bind(1, targets).Bind(2, id).Run();
  });
}

absl::StatusOr<std::string> ObjectStore::GetBucketConfig(const std::string& bucket, const std::string& name) {
  std::string config;
  bool found = false;
  RETURN_IF_ERROR(readers_.With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT config FROM buckets WHERE name=?"));
    s->Bind(1, bucket);
    ASSIGN_OR_RETURN(found, s->Step());
    if (found) config = s->Text(0);
    s->Reset();
    return absl::OkStatus();
  }));
  if (!found) return NoSuchBucket();
  auto j = ParseJson(config);
  if (!j.is_object() || !j.contains(name) || !j[name].is_string()) return std::string();
  return j[name].get<std::string>();
}

absl::Status ObjectStore::SetBucketConfig(const std::string& bucket, const std::string& name, const std::string& value) {
  return writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT config FROM buckets WHERE name=?"));
    s->Bind(1, bucket);
    ASSIGN_OR_RETURN(bool found, s->Step());
    if (!found) return NoSuchBucket();
    auto j = ParseJson(s->Text(0), kMaxStoredJsonDepth);
    s->Reset();
    if (!j.is_object()) j = nlohmann::json::object();
    if (value.empty()) j.erase(name);
    else j[name] = value;
    ASSIGN_OR_RETURN(auto* u, db.Prepare("UPDATE buckets SET config=? WHERE name=?"));
    return u->Bind(1, j.dump()).Bind(2, bucket).Run();
  });
}

absl::StatusOr<ObjectMeta> ObjectStore::HeadObject(const std::string& bucket, const std::string& key) {
  std::optional<ObjectMeta> meta;
  RETURN_IF_ERROR(readers_.With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(meta, ReadMeta(db, bucket, key));
    return absl::OkStatus();
  }));
  if (!meta) {
    RETURN_IF_ERROR(RequireBucket(bucket));
    return S3Error(absl::StatusCode::kNotFound, "NoSuchKey", "The specified key does not exist.");
  }
  return *meta;
}

absl::StatusOr<std::pair<ObjectMeta, UniqueFd>> ObjectStore::OpenObject(const std::string& bucket,
                                                                        const std::string& key) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    ASSIGN_OR_RETURN(ObjectMeta meta, HeadObject(bucket, key));
    UniqueFd fd(::open(AbsPath(bucket, meta.path).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) continue;  // published or deleted meanwhile: look again
    // A writer renames a new version into the key's path only after its row committed, so
    // the file opened is the row's version when the row is still the same afterwards.
    auto again = HeadObject(bucket, key);
    if (again.ok() && again->path == meta.path && again->etag == meta.etag && again->size == meta.size &&
        again->last_modified == meta.last_modified) {
      struct stat st;
      if (::fstat(fd.get(), &st) == 0 && static_cast<uint64_t>(st.st_size) == meta.size) {
        return std::make_pair(std::move(meta), std::move(fd));
      }
      return absl::DataLossError(StrCat("the file of ", bucket, "/", key, " does not hold the indexed object"));
    }
  }
  return absl::UnavailableError("the object changed while being read; retry");
}

absl::Status ObjectStore::DeleteObject(const std::string& bucket, const std::string& key, bool* existed) {
  RETURN_IF_ERROR(RequireBucket(bucket));
  std::lock_guard lock(KeyLock(bucket, key));
  std::string path;
  ObjectMeta removed;
  removed.key = key;
  ObjectChange change = MakeChange(ObjectChange::Kind::kRemoved, bucket, removed, "DeleteObject",
                                   ScopedChangeContext::Current());
  std::string targets = Plan(change);
  RETURN_IF_ERROR(writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto meta, ReadMeta(db, bucket, key));
    if (!meta) return absl::OkStatus();
    path = meta->path;
    change.etag = meta->etag;
    change.size = meta->size;
    ASSIGN_OR_RETURN(auto* s, db.Prepare("DELETE FROM objects WHERE bucket=? AND key=?"));
    RETURN_IF_ERROR(s->Bind(1, bucket).Bind(2, key).Run());
    return Enqueue(db, change, targets);
  }));
  if (existed) *existed = !path.empty();
  if (path.empty()) return absl::OkStatus();
  Notify(change);
  // The row is gone: its file is unreferenced (start-up reclaims it if this unlink is lost).
  std::string abs = AbsPath(bucket, path);
  ::unlink(abs.c_str());
  if (!IsStagedPath(path)) RemoveEmptyDirs(ParentDir(abs), BucketDir(bucket));
  return absl::OkStatus();
}

absl::Status ObjectStore::SetTags(const std::string& bucket, const std::string& key, KeyValues tags) {
  RETURN_IF_ERROR(RequireBucket(bucket));
  std::lock_guard lock(KeyLock(bucket, key));
  bool added = !tags.empty();
  ObjectMeta tagged;
  tagged.key = key;
  ObjectChange change = MakeChange(ObjectChange::Kind::kTagsAdded, bucket, tagged, "PutObjectTagging",
                                   ScopedChangeContext::Current());
  std::string targets = added ? Plan(change) : std::string();
  RETURN_IF_ERROR(writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto meta, ReadMeta(db, bucket, key));
    if (!meta) return S3Error(absl::StatusCode::kNotFound, "NoSuchKey", "The specified key does not exist.");
    meta->tags = std::move(tags);
    change.etag = meta->etag;
    change.size = meta->size;
    ASSIGN_OR_RETURN(auto* s, db.Prepare("UPDATE objects SET meta=? WHERE bucket=? AND key=?"));
    RETURN_IF_ERROR(s->Bind(1, meta->ToJson()).Bind(2, bucket).Bind(3, key).Run());
    return Enqueue(db, change, targets);
  }));
  if (added) Notify(change);
  return absl::OkStatus();
}

absl::StatusOr<ListResult> ObjectStore::List(const std::string& bucket, const ListRequest& req) {
  RETURN_IF_ERROR(RequireBucket(bucket));
  ListResult out;
  if (req.max_keys <= 0) return out;
  RETURN_IF_ERROR(readers_.With([&](SqliteDb& db) -> absl::Status {
    // Start at the later of the prefix and the marker; a marker that is a common prefix
    // skips every key under it.
    std::string from = req.prefix;
    bool inclusive = true;
    if (!req.after.empty() && req.after >= from) {
      from = req.after;
      inclusive = false;
      if (!req.delimiter.empty() && req.after.size() > req.prefix.size() &&
          req.after.starts_with(req.prefix) &&
          req.after.find(req.delimiter, req.prefix.size()) != std::string::npos) {
        from = UpperBound(req.after);
        inclusive = true;
      }
    }
    int count = 0;
    for (;;) {
      ASSIGN_OR_RETURN(auto* s, db.Prepare(
          inclusive ? "SELECT key, path, size, etag, modified_us, meta FROM objects WHERE bucket=? AND key>=? ORDER BY key LIMIT 256"
                    : "SELECT key, path, size, etag, modified_us, meta FROM objects WHERE bucket=? AND key>? ORDER BY key LIMIT 256"));
      s->Bind(1, bucket).Bind(2, from);
      bool any = false, jumped = false;
      for (;;) {
        ASSIGN_OR_RETURN(bool row, s->Step());
        if (!row) break;
        any = true;
        std::string key = s->Text(0);
        if (!key.starts_with(req.prefix)) return absl::OkStatus();  // past the prefix
        if (count == req.max_keys) {
          out.truncated = true;
          return absl::OkStatus();
        }
        size_t d = req.delimiter.empty() ? std::string::npos : key.find(req.delimiter, req.prefix.size());
        if (d != std::string::npos) {
          std::string cp = key.substr(0, d + req.delimiter.size());
          out.common_prefixes.push_back(cp);
          out.last = cp;
          ++count;
          from = UpperBound(cp);
          inclusive = true;
          jumped = true;
          break;  // re-query past everything under this common prefix
        }
        ObjectMeta m = ObjectMeta::FromJson(s->Text(5));
        m.key = key;
        m.path = s->Text(1);
        m.size = static_cast<uint64_t>(s->Int(2));
        m.etag = s->Text(3);
        m.last_modified = FromMicros(s->Int(4));
        out.objects.push_back(std::move(m));
        out.last = key;
        ++count;
        from = key;
        inclusive = false;
      }
      if (!any || (from.empty() && jumped)) return absl::OkStatus();
    }
  }));
  return out;
}

absl::StatusOr<std::string> ObjectStore::CreateUpload(const std::string& bucket, ObjectMeta meta) {
  RETURN_IF_ERROR(RequireBucket(bucket));
  std::string id = NewUploadId();
  RETURN_IF_ERROR(MakeDirs(dir_ + "/uploads/" + id));
  RETURN_IF_ERROR(writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("INSERT INTO uploads(upload_id, bucket, key, initiated_us, meta) VALUES(?,?,?,?,?)"));
    return s->Bind(1, id).Bind(2, bucket).Bind(3, meta.key).Bind(4, Micros(absl::Now())).Bind(5, meta.ToJson()).Run();
  }));
  return id;
}

absl::StatusOr<UploadInfo> ObjectStore::GetUpload(const std::string& bucket, const std::string& key,
                                                  const std::string& upload_id) {
  RETURN_IF_ERROR(RequireBucket(bucket));
  UploadInfo info;
  RETURN_IF_ERROR(readers_.With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT initiated_us, meta FROM uploads WHERE upload_id=? AND bucket=? AND key=?"));
    s->Bind(1, upload_id).Bind(2, bucket).Bind(3, key);
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row) return NoSuchUpload();
    info.upload_id = upload_id;
    info.key = key;
    info.initiated = FromMicros(s->Int(0));
    info.meta = ObjectMeta::FromJson(s->Text(1));
    info.meta.key = key;
    return absl::OkStatus();
  }));
  return info;
}

absl::Status ObjectStore::PutPart(const std::string& upload_id, PartInfo part, std::unique_ptr<ObjectFile> file) {
  if (file->size() > kSyncInPlaceBytes) RETURN_IF_ERROR(file->temp().Sync());
  part.size = file->size();
  std::string dir = dir_ + "/uploads/" + upload_id;
  std::lock_guard lock(KeyLock(upload_id, std::to_string(part.number)));
  // Commit under the lock of the upload: an abort racing with this part removes it. The
  // part's file is named after its ETag, so the file of a part already committed under
  // this number stays in place until the new row replaces it.
  std::string replaced;
  std::string name = PartFileName(part.number, part.etag);
  RETURN_IF_ERROR(writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* u, db.Prepare("SELECT 1 FROM uploads WHERE upload_id=?"));
    u->Bind(1, upload_id);
    ASSIGN_OR_RETURN(bool exists, u->Step());
    if (!exists) return NoSuchUpload();
    ASSIGN_OR_RETURN(auto* old, db.Prepare("SELECT etag FROM parts WHERE upload_id=? AND part_number=?"));
    old->Bind(1, upload_id).Bind(2, int64_t{part.number});
    ASSIGN_OR_RETURN(bool had, old->Step());
    replaced = had ? PartFileName(part.number, old->Text(0)) : "";
    RETURN_IF_ERROR(file->temp().Rename(dir + "/" + name));
    ASSIGN_OR_RETURN(auto* s, db.Prepare("INSERT OR REPLACE INTO parts(upload_id, part_number, size, etag, modified_us, checksum)"
                                         " VALUES(?,?,?,?,?,?)"));
    return s->Bind(1, upload_id).Bind(2, int64_t{part.number}).Bind(3, static_cast<int64_t>(part.size))
        .Bind(4, part.etag).Bind(5, Micros(absl::Now())).Bind(6, part.checksum).Run();
  }, dir));
  if (!replaced.empty() && replaced != name) {
    ::unlink((dir + "/" + replaced).c_str());
    ::unlink((dir + "/" + std::to_string(part.number)).c_str());  // a part file named before ETags were
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PartInfo>> ObjectStore::ListParts(const std::string& upload_id) {
  std::vector<PartInfo> out;
  RETURN_IF_ERROR(readers_.With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT part_number, size, etag, modified_us, checksum FROM parts"
                                         " WHERE upload_id=? ORDER BY part_number"));
    s->Bind(1, upload_id);
    for (;;) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      out.push_back(PartInfo{static_cast<int>(s->Int(0)), static_cast<uint64_t>(s->Int(1)), s->Text(2),
                             s->Text(4), FromMicros(s->Int(3))});
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<UploadInfo>> ObjectStore::ListUploads(const std::string& bucket, const std::string& prefix) {
  RETURN_IF_ERROR(RequireBucket(bucket));
  std::vector<UploadInfo> out;
  RETURN_IF_ERROR(readers_.With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT upload_id, key, initiated_us, meta FROM uploads WHERE bucket=?"
                                         " ORDER BY key, initiated_us"));
    s->Bind(1, bucket);
    for (;;) {
      ASSIGN_OR_RETURN(bool row, s->Step());
      if (!row) break;
      std::string key = s->Text(1);
      if (!key.starts_with(prefix)) continue;
      UploadInfo u{s->Text(0), key, FromMicros(s->Int(2)), ObjectMeta::FromJson(s->Text(3))};
      u.meta.key = key;
      out.push_back(std::move(u));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<ObjectMeta> ObjectStore::CompleteUpload(const std::string& bucket, const UploadInfo& upload,
                                                       const std::vector<std::pair<int, std::string>>& parts) {
  constexpr uint64_t kMinPart = 5ull << 20;
  ASSIGN_OR_RETURN(auto stored, ListParts(upload.upload_id));
  absl::flat_hash_map<int, PartInfo> by_number;
  for (auto& p : stored) by_number[p.number] = p;
  int previous = 0;
  std::string md5s;
  std::string composite_raw;
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& [number, etag] = parts[i];
    if (number <= previous) {
      return S3Error(absl::StatusCode::kInvalidArgument, "InvalidPartOrder",
                     "The list of parts was not in ascending order. The parts list must be specified in order by part number.");
    }
    previous = number;
    auto it = by_number.find(number);
    std::string want = etag;
    if (want.size() >= 2 && want.front() == '"' && want.back() == '"') want = want.substr(1, want.size() - 2);
    if (it == by_number.end() || it->second.etag != want) {
      return S3Error(absl::StatusCode::kInvalidArgument, "InvalidPart",
                     StrCat("One or more of the specified parts could not be found. The part may not have "
                            "been uploaded, or the specified entity tag may not match the part's entity tag. "
                            "(part ", number, ")"));
    }
    if (i + 1 < parts.size() && it->second.size < kMinPart) {
      return S3Error(absl::StatusCode::kInvalidArgument, "EntityTooSmall",
                     StrCat("Your proposed upload is smaller than the minimum allowed size (part ", number,
                            " is ", it->second.size, " bytes; every part but the last must be at least 5 MiB)"));
    }
    std::string raw;
    for (size_t k = 0; k + 1 < want.size(); k += 2) {
      raw.push_back(static_cast<char>(std::stoi(want.substr(k, 2), nullptr, 16)));
    }
    md5s += raw;
    if (!upload.meta.checksum_algorithm.empty()) {
      if (auto c = Base64Decode(it->second.checksum)) composite_raw += *c;
    }
  }
  if (parts.empty()) {
    return S3Error(absl::StatusCode::kInvalidArgument, "MalformedXML",
                   "The XML you provided was not well-formed or did not validate against our published schema");
  }
  // Join the parts into one file with in-kernel copies.
  ASSIGN_OR_RETURN(auto file, NewObjectFile());
  std::string dir = dir_ + "/uploads/" + upload.upload_id;
  for (const auto& [number, etag] : parts) {
    std::string path = dir + "/" + PartFileName(number, by_number[number].etag);
    UniqueFd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in.valid() && errno == ENOENT) {  // a part stored before part files carried their ETag
      path = dir + "/" + std::to_string(number);
      in = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    }
    if (!in.valid() && errno == ENOENT) {
      // The part was uploaded again (or the upload ended) while this complete ran.
      return S3Error(absl::StatusCode::kInvalidArgument, "InvalidPart",
                     StrCat("One or more of the specified parts could not be found. The part may have been "
                            "replaced while the upload was being completed. (part ", number, ")"));
    }
    if (!in.valid()) return ErrnoStatus("open", path, errno);
    size_t left = static_cast<size_t>(by_number[number].size);
    while (left > 0) {
      ssize_t n = ::copy_file_range(in.get(), nullptr, file->temp().fd(), nullptr, left, 0);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return ErrnoStatus("copy_file_range", path, n < 0 ? errno : EIO);
      }
      left -= static_cast<size_t>(n);
    }
  }
  ObjectMeta meta = upload.meta;
  meta.etag = StrCat(HexEncode(Md5(md5s)), "-", parts.size());
  meta.parts_count = static_cast<int>(parts.size());
  for (const auto& [number, etag] : parts) meta.part_sizes.push_back(by_number[number].size);
  if (!meta.checksum_algorithm.empty()) {
    auto algo = ParseChecksumAlgorithm(meta.checksum_algorithm);
    if (algo) {
      auto h = NewHasher(*algo);
      h->Update(composite_raw);
      meta.checksum = StrCat(Base64Encode(h->Finish()), "-", parts.size());
      meta.checksum_type = "COMPOSITE";
    }
  }
  // The object's row and the end of the upload commit together: a crash leaves either the
  // upload (and the previous version of the key) or the completed object.
  const std::string& id = upload.upload_id;
  std::string etag = meta.etag;
  ObjectMeta checksums;
  checksums.checksum_algorithm = meta.checksum_algorithm;
  checksums.checksum = meta.checksum;
  checksums.checksum_type = meta.checksum_type;
  ASSIGN_OR_RETURN(ObjectMeta done, CommitObject(bucket, std::move(meta), std::move(file), {}, [&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("DELETE FROM uploads WHERE upload_id=? AND bucket=? AND key=?"));
    RETURN_IF_ERROR(s->Bind(1, id).Bind(2, bucket).Bind(3, upload.key).Run());
    if (sqlite3_changes(db.raw()) == 0) return NoSuchUpload();
    ASSIGN_OR_RETURN(auto* p, db.Prepare("DELETE FROM parts WHERE upload_id=?"));
    RETURN_IF_ERROR(p->Bind(1, id).Run());
    // Remembered for a day, so a retried complete answers as the first one did.
    int64_t now = Micros(absl::Now());
    ASSIGN_OR_RETURN(auto* old, db.Prepare("DELETE FROM completed_uploads WHERE completed_us<?"));
    RETURN_IF_ERROR(old->Bind(1, now - int64_t{86400} * 1000000).Run());
    ASSIGN_OR_RETURN(auto* c, db.Prepare("INSERT OR REPLACE INTO completed_uploads(upload_id, bucket, key, etag, meta,"
                                         " completed_us) VALUES(?,?,?,?,?,?)"));
    return c->Bind(1, id).Bind(2, bucket).Bind(3, upload.key).Bind(4, etag).Bind(5, checksums.ToJson()).Bind(6, now).Run();
  }, "CompleteMultipartUpload"));
  RemoveUploadFiles(id);
  return done;
}

absl::StatusOr<std::optional<ObjectMeta>> ObjectStore::CompletedUpload(const std::string& bucket, const std::string& key,
                                                                       const std::string& upload_id) {
  std::optional<ObjectMeta> out;
  RETURN_IF_ERROR(readers_.With([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("SELECT etag, meta, completed_us FROM completed_uploads"
                                         " WHERE upload_id=? AND bucket=? AND key=?"));
    s->Bind(1, upload_id).Bind(2, bucket).Bind(3, key);
    ASSIGN_OR_RETURN(bool row, s->Step());
    if (!row || s->Int(2) < Micros(absl::Now()) - int64_t{86400} * 1000000) return absl::OkStatus();
    ObjectMeta m = ObjectMeta::FromJson(s->Text(1));
    m.key = key;
    m.etag = s->Text(0);
    out = std::move(m);
    return absl::OkStatus();
  }));
  return out;
}

absl::Status ObjectStore::AbortUpload(const std::string& bucket, const std::string& key, const std::string& upload_id) {
  RETURN_IF_ERROR(writer_->Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto* s, db.Prepare("DELETE FROM uploads WHERE upload_id=? AND bucket=? AND key=?"));
    RETURN_IF_ERROR(s->Bind(1, upload_id).Bind(2, bucket).Bind(3, key).Run());
    if (sqlite3_changes(db.raw()) == 0) return NoSuchUpload();
    ASSIGN_OR_RETURN(auto* p, db.Prepare("DELETE FROM parts WHERE upload_id=?"));
    return p->Bind(1, upload_id).Run();
  }));
  RemoveUploadFiles(upload_id);
  return absl::OkStatus();
}

void ObjectStore::RemoveUploadFiles(const std::string& upload_id) {
  std::string dir = dir_ + "/uploads/" + upload_id;
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    for (const auto& n : names) ::unlink((dir + "/" + n).c_str());
  }
  ::rmdir(dir.c_str());
}

}  // namespace sluice
