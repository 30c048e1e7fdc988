#include "s3/store.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "io/file.h"
#include "io/sqlite.h"

namespace sluice {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/store_test_XXXXXX";
    dir_ = ::mkdtemp(tmpl.data());
    Reopen();
    ASSERT_TRUE(store_->CreateBucket("lake", "us-east-1").ok());
  }
  void Reopen() {
    store_.reset();
    auto s = ObjectStore::Open(dir_ + "/s3");
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  absl::Status Put(const std::string& key, const std::string& data) {
    auto f = store_->NewObjectFile();
    if (!f.ok()) return f.status();
    if (auto st = (*f)->Append(data); !st.ok()) return st;
    ObjectMeta m;
    m.key = key;
    m.etag = "e";
    return store_->PutObject("lake", m, std::move(*f)).status();
  }
  std::string Get(const std::string& key) {
    auto o = store_->OpenObject("lake", key);
    if (!o.ok()) return "<" + std::string(o.status().message()) + ">";
    std::string out(o->first.size, '\0');
    EXPECT_EQ(::pread(o->second.get(), out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
    return out;
  }
  std::string dir_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(StoreTest, KeysMirrorTheTreeSoEnginesReadInPlace) {
  ASSERT_TRUE(Put("events/event_date=2025-08-01/part-0.json", "{}\n").ok());
  EXPECT_EQ(*ReadFile(dir_ + "/s3/objects/lake/events/event_date=2025-08-01/part-0.json"), "{}\n");
}

TEST_F(StoreTest, KeyAndPrefixOfAnotherKeyCoexist) {
  ASSERT_TRUE(Put("a", "file a").ok());
  ASSERT_TRUE(Put("a/b", "file a/b").ok());
  ASSERT_TRUE(Put("a/", "marker").ok());
  ASSERT_TRUE(Put("x/y", "x/y").ok());
  ASSERT_TRUE(Put("x", "x").ok());
  ASSERT_TRUE(Put("../../escape", "dots").ok());
  ASSERT_TRUE(Put("a//b/./c", "odd").ok());
  EXPECT_EQ(Get("a"), "file a");
  EXPECT_EQ(Get("a/b"), "file a/b");
  EXPECT_EQ(Get("a/"), "marker");
  EXPECT_EQ(Get("x"), "x");
  EXPECT_EQ(Get("x/y"), "x/y");
  EXPECT_EQ(Get("../../escape"), "dots");
  EXPECT_EQ(Get("a//b/./c"), "odd");
  struct stat st;
  EXPECT_NE(::stat((dir_ + "/s3/escape").c_str(), &st), 0);
  Reopen();  // recovery keeps every committed object
  EXPECT_EQ(Get("a/b"), "file a/b");
  EXPECT_EQ(Get("../../escape"), "dots");
}

TEST_F(StoreTest, ListWithDelimiterAndMarkers) {
  for (const char* k : {"a/1", "a/2", "b", "c/x/1", "c/y", "d"}) ASSERT_TRUE(Put(k, k).ok());
  ListRequest req;
  req.delimiter = "/";
  req.max_keys = 2;
  auto page = store_->List("lake", req);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->common_prefixes.size(), 1u);
  EXPECT_EQ(page->common_prefixes[0], "a/");
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "b");
  EXPECT_TRUE(page->truncated);
  req.after = page->last;
  page = store_->List("lake", req);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->common_prefixes.size(), 1u);
  EXPECT_EQ(page->common_prefixes[0], "c/");
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "d");
  EXPECT_FALSE(page->truncated);
}

TEST_F(StoreTest, UncommittedFilesAreRemovedOnRecovery) {
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/s3/objects/lake/orphan", "never acknowledged").ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/s3/tmp/.tmp-1-1", "partial").ok());
  Reopen();
  struct stat st;
  EXPECT_NE(::stat((dir_ + "/s3/objects/lake/orphan").c_str(), &st), 0);
  EXPECT_NE(::stat((dir_ + "/s3/tmp/.tmp-1-1").c_str(), &st), 0);
}

// The states a crash can leave an overwrite in (docs/formats/s3-layout.md, write protocol).
TEST_F(StoreTest, RecoveryPublishesACommittedStagedVersion) {
  ASSERT_TRUE(Put("dir/k", "old version").ok());
  store_.reset();
  // Committed row naming a staged file; the lake still has the old bytes, and a cut-short
  // publication left a second name in staged/.
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/s3/staged/abc", "new").ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/s3/staged/abc.pub", "new").ok());
  {
    auto db = SqliteDb::Open(dir_ + "/s3/index.db");
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Exec("UPDATE objects SET path='../../staged/abc', size=3 WHERE key='dir/k'").ok());
  }
  Reopen();
  EXPECT_EQ(Get("dir/k"), "new");
  EXPECT_EQ(*ReadFile(dir_ + "/s3/objects/lake/dir/k"), "new");
  struct stat st;
  EXPECT_NE(::stat((dir_ + "/s3/staged/abc").c_str(), &st), 0);
  EXPECT_NE(::stat((dir_ + "/s3/staged/abc.pub").c_str(), &st), 0);
}

TEST_F(StoreTest, RecoveryRemovesStagedFilesNoRowNames) {
  ASSERT_TRUE(Put("k", "committed").ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/s3/staged/never-committed", "x").ok());
  ASSERT_TRUE(MakeDirs(dir_ + "/s3/uploads/gone").ok());
  ASSERT_TRUE(WriteFileAtomically(dir_ + "/s3/uploads/gone/1-abc", "part").ok());
  Reopen();
  EXPECT_EQ(Get("k"), "committed");
  struct stat st;
  EXPECT_NE(::stat((dir_ + "/s3/staged/never-committed").c_str(), &st), 0);
  EXPECT_NE(::stat((dir_ + "/s3/uploads/gone").c_str(), &st), 0);
}

TEST_F(StoreTest, OverwriteLeavesOnlyTheNewFile) {
  ASSERT_TRUE(Put("k", "first").ok());
  ASSERT_TRUE(Put("k", "second, longer").ok());
  EXPECT_EQ(Get("k"), "second, longer");
  EXPECT_EQ(*ReadFile(dir_ + "/s3/objects/lake/k"), "second, longer");
  auto head = store_->HeadObject("lake", "k");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->path, "k");
  int staged = 0;
  if (DIR* d = ::opendir((dir_ + "/s3/staged").c_str())) {
    while (dirent* e = ::readdir(d)) staged += e->d_name[0] != '.';
    ::closedir(d);
  }
  EXPECT_EQ(staged, 0);
}

TEST_F(StoreTest, NotificationOutboxRowsCommitWithTheChange) {
  ASSERT_TRUE(store_->CreateBucket("quiet", "us-east-1").ok());
  store_->SetOutboxPlanner([](const ObjectChange& c) { return c.bucket == "lake" ? std::string("[1]") : ""; });
  ASSERT_TRUE(Put("k", "v1").ok());
  ASSERT_TRUE(store_->SetTags("lake", "k", {{"t", "1"}}).ok());
  ASSERT_TRUE(store_->DeleteObject("lake", "k").ok());
  ASSERT_TRUE(store_->DeleteObject("lake", "missing").ok());  // no change: no row
  {
    auto f = store_->NewObjectFile();
    ASSERT_TRUE(f.ok());
    ObjectMeta m;
    m.key = "k";
    m.etag = "e";
    ASSERT_TRUE(store_->PutObject("quiet", m, std::move(*f)).ok());  // planner owes nothing
  }
  Reopen();  // the rows are durable, as the changes are
  auto rows = store_->ReadOutbox(0, 10);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].change.kind, ObjectChange::Kind::kCreated);
  EXPECT_EQ((*rows)[0].change.size, 2u);
  EXPECT_EQ((*rows)[0].change.reason, "PutObject");
  EXPECT_EQ((*rows)[1].change.kind, ObjectChange::Kind::kTagsAdded);
  EXPECT_EQ((*rows)[2].change.kind, ObjectChange::Kind::kRemoved);
  EXPECT_EQ((*rows)[2].change.etag, "e");
  EXPECT_EQ((*rows)[2].targets, "[1]");
  ASSERT_TRUE(store_->UpdateOutbox((*rows)[2].id, "[2]").ok());
  ASSERT_TRUE(store_->DeleteOutbox({(*rows)[0].id, (*rows)[1].id}).ok());
  rows = store_->ReadOutbox(0, 10);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].targets, "[2]");
  EXPECT_TRUE(store_->ReadOutbox((*rows)[0].id, 10)->empty());
}

TEST_F(StoreTest, DeleteBucketOnlyWhenEmpty) {
  ASSERT_TRUE(Put("k", "v").ok());
  EXPECT_EQ(S3ErrorCode(store_->DeleteBucket("lake")), "BucketNotEmpty");
  ASSERT_TRUE(store_->DeleteObject("lake", "k").ok());
  EXPECT_TRUE(store_->DeleteBucket("lake").ok());
  EXPECT_EQ(S3ErrorCode(store_->GetBucket("lake").status()), "NoSuchBucket");
}

}  // namespace
}  // namespace sluice
