#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

// Streaming digests and checksums (MD5 for ETags, SHA-1/SHA-256, CRC32, CRC32C, CRC64NVME
// for S3's flexible checksums), HMAC-SHA256 for SigV4, and the hex/base64 encodings AWS
// uses for them. Hashers are single-threaded objects; the free functions are thread-safe.
namespace sluice {

enum class ChecksumAlgorithm { kCrc32, kCrc32c, kCrc64Nvme, kSha1, kSha256, kMd5 };

// "CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256" (case-insensitive) as S3 names them.
std::optional<ChecksumAlgorithm> ParseChecksumAlgorithm(std::string_view name);
// Upper-case S3 name, and the header x-amz-checksum-<lower name>.
std::string_view ChecksumAlgorithmName(ChecksumAlgorithm a);
std::string ChecksumHeaderName(ChecksumAlgorithm a);

class Hasher {
 public:
  virtual ~Hasher() = default;
  virtual void Update(std::string_view data) = 0;
  // The raw digest bytes (big-endian for CRCs, as S3 encodes them). Call once.
  virtual std::string Finish() = 0;
};

std::unique_ptr<Hasher> NewHasher(ChecksumAlgorithm algorithm);

std::string Md5(std::string_view data);
std::string Sha256(std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);
uint32_t Crc32c(uint32_t crc, std::string_view data);

std::string HexEncode(std::string_view raw);
std::string Base64Encode(std::string_view raw);
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace sluice
