#include "io/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "gtest/gtest.h"

namespace sluice {
namespace {

std::string MakeTempDir() {
  std::string tmpl = ::testing::TempDir() + "/io_test_XXXXXX";
  return ::mkdtemp(tmpl.data());
}

TEST(FileTest, UncommittedTempFileIsRemoved) {
  std::string dir = MakeTempDir();
  std::string path;
  {
    auto tmp = TempFile::Create(dir);
    ASSERT_TRUE(tmp.ok()) << tmp.status();
    ASSERT_TRUE((*tmp)->Append("partial").ok());
    path = (*tmp)->path();
    EXPECT_EQ(::access(path.c_str(), F_OK), 0);
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST(FileTest, CommitReplacesAtomically) {
  std::string dir = MakeTempDir();
  ASSERT_TRUE(WriteFileAtomically(dir + "/f", "one").ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/f", "two").ok());
  EXPECT_EQ(*ReadFile(dir + "/f"), "two");
}

TEST(FileTest, MakeDirsAndRemoveEmptyDirs) {
  std::string dir = MakeTempDir();
  ASSERT_TRUE(MakeDirs(dir + "/a/b/c").ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/a/keep", "x").ok());
  RemoveEmptyDirs(dir + "/a/b/c", dir);
  struct stat st;
  EXPECT_NE(::stat((dir + "/a/b").c_str(), &st), 0);
  EXPECT_EQ(::stat((dir + "/a").c_str(), &st), 0);  // not empty: kept
  EXPECT_FALSE(MakeDirs(dir + "/a/keep/x").ok());
  EXPECT_TRUE(absl::IsNotFound(ReadFile(dir + "/missing").status()));
}

}  // namespace
}  // namespace sluice
