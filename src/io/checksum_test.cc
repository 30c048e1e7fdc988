#include "io/checksum.h"

#include "gtest/gtest.h"

namespace sluice {
namespace {

std::string HexOf(ChecksumAlgorithm a, std::string_view data) {
  auto h = NewHasher(a);
  h->Update(data.substr(0, data.size() / 2));  // streaming in two pieces
  h->Update(data.substr(data.size() / 2));
  return HexEncode(h->Finish());
}

TEST(ChecksumTest, StandardCheckValues) {
  EXPECT_EQ(HexOf(ChecksumAlgorithm::kCrc32, "123456789"), "cbf43926");
  EXPECT_EQ(HexOf(ChecksumAlgorithm::kCrc32c, "123456789"), "e3069283");
  EXPECT_EQ(HexOf(ChecksumAlgorithm::kCrc64Nvme, "123456789"), "ae8b14860a799888");
  EXPECT_EQ(HexOf(ChecksumAlgorithm::kSha1, "abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(HexEncode(Md5("")), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ChecksumTest, Crc32cHardwareAndTableAgreeOnUnalignedInput) {
  std::string data(1000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  uint32_t whole = Crc32c(0, data);
  uint32_t pieces = Crc32c(Crc32c(0, std::string_view(data).substr(0, 3)),
                           std::string_view(data).substr(3));
  EXPECT_EQ(whole, pieces);
}

TEST(ChecksumTest, HmacMatchesRfc4231Case2) {
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(ChecksumTest, Base64RoundTripAndRejectsGarbage) {
  EXPECT_EQ(Base64Encode("hello"), "aGVsbG8=");
  EXPECT_EQ(Base64Decode("aGVsbG8="), "hello");
  EXPECT_FALSE(Base64Decode("!!!"));
  EXPECT_EQ(ParseChecksumAlgorithm("crc32c"), ChecksumAlgorithm::kCrc32c);
  EXPECT_FALSE(ParseChecksumAlgorithm("md4"));
  EXPECT_EQ(ChecksumHeaderName(ChecksumAlgorithm::kSha256), "x-amz-checksum-sha256");
}

}  // namespace
}  // namespace sluice
