#include "lambda/zip.h"

#include <sys/stat.h>
#include <zlib.h>

#include <filesystem>

#include "gtest/gtest.h"
#include "io/file.h"

namespace sluice::lambda {
namespace {

void Put(std::string& s, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A ZIP writer for tests: entries stored or deflated, Unix modes in the external attributes.
std::string MakeZip(const std::vector<std::tuple<std::string, std::string, uint32_t, bool>>& files) {
  std::string out, cd;
  for (const auto& [name, data, mode, compress] : files) {
    std::string packed = data;
    if (compress) {
      z_stream z{};
      deflateInit2(&z, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
      packed.assign(deflateBound(&z, data.size()), '\0');
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
      z.avail_in = static_cast<uInt>(data.size());
      z.next_out = reinterpret_cast<Bytef*>(packed.data());
      z.avail_out = static_cast<uInt>(packed.size());
      deflate(&z, Z_FINISH);
      packed.resize(z.total_out);
      deflateEnd(&z);
    }
    uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
    uint32_t offset = static_cast<uint32_t>(out.size());
    Put(out, 0x04034b50, 4);
    Put(out, 20, 2);
    Put(out, 0, 2);
    Put(out, compress ? 8 : 0, 2);
    Put(out, 0, 4);
    Put(out, crc, 4);
    Put(out, static_cast<uint32_t>(packed.size()), 4);
    Put(out, static_cast<uint32_t>(data.size()), 4);
    Put(out, static_cast<uint32_t>(name.size()), 2);
    Put(out, 0, 2);
    out += name + packed;
    Put(cd, 0x02014b50, 4);
    Put(cd, (3 << 8) | 20, 2);
    Put(cd, 20, 2);
    Put(cd, 0, 2);
    Put(cd, compress ? 8 : 0, 2);
    Put(cd, 0, 4);
    Put(cd, crc, 4);
    Put(cd, static_cast<uint32_t>(packed.size()), 4);
    Put(cd, static_cast<uint32_t>(data.size()), 4);
    Put(cd, static_cast<uint32_t>(name.size()), 2);
    Put(cd, 0, 2);
    Put(cd, 0, 2);
    Put(cd, 0, 2);
    Put(cd, 0, 2);
    Put(cd, (0100000 | mode) << 16, 4);
    Put(cd, offset, 4);
    cd += name;
  }
  uint32_t cd_offset = static_cast<uint32_t>(out.size());
  out += cd;
  Put(out, 0x06054b50, 4);
  Put(out, 0, 4);
  Put(out, static_cast<uint32_t>(files.size()), 2);
  Put(out, static_cast<uint32_t>(files.size()), 2);
  Put(out, static_cast<uint32_t>(cd.size()), 4);
  Put(out, cd_offset, 4);
  Put(out, 0, 2);
  return out;
}

class ZipTest : public ::testing::Test {
 protected:
  std::string dir_ = ::testing::TempDir() + "/zip_test_" + std::to_string(::getpid());
  void TearDown() override { std::filesystem::remove_all(dir_); }
};

TEST_F(ZipTest, UnpacksStoredAndDeflatedEntriesWithTheirModes) {
  std::string big(10000, 'x');
  std::string zip = MakeZip({{"bootstrap", "#!/bin/sh\necho hi\n", 0755, false}, {"lib/data.txt", big, 0644, true}});
  ASSERT_TRUE(Unzip(zip, dir_, 1 << 20).ok());
  EXPECT_EQ(*ReadFile(dir_ + "/bootstrap"), "#!/bin/sh\necho hi\n");
  EXPECT_EQ(*ReadFile(dir_ + "/lib/data.txt"), big);
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/bootstrap").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
}

TEST_F(ZipTest, RefusesUnsafeNamesOversizeAndGarbage) {
  EXPECT_TRUE(absl::IsInvalidArgument(Unzip(MakeZip({{"../evil", "x", 0644, false}}), dir_, 1 << 20)));
  EXPECT_TRUE(absl::IsInvalidArgument(Unzip(MakeZip({{"/abs", "x", 0644, false}}), dir_, 1 << 20)));
  EXPECT_TRUE(absl::IsOutOfRange(Unzip(MakeZip({{"a", std::string(100, 'a'), 0644, true}}), dir_, 50)));
  EXPECT_TRUE(absl::IsInvalidArgument(Unzip("not a zip file at all, no", dir_, 1 << 20)));
  std::string zip = MakeZip({{"a", std::string(1000, 'a'), 0644, true}});
  zip[33] ^= 0x55;  // corrupt the deflated data
  EXPECT_FALSE(Unzip(zip, dir_, 1 << 20).ok());
}

}  // namespace
}  // namespace sluice::lambda
