#include "io/checksum.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zlib.h>

#include <array>

#include "base/strings.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace sluice {
namespace {

class EvpHasher final : public Hasher {
 public:
  explicit EvpHasher(const EVP_MD* md) : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, md, nullptr); }
  ~EvpHasher() override { EVP_MD_CTX_free(ctx_); }
  void Update(std::string_view data) override { EVP_DigestUpdate(ctx_, data.data(), data.size()); }
  std::string Finish() override {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, out, &len);
    return std::string(reinterpret_cast<char*>(out), len);
  }

 private:
  EVP_MD_CTX* ctx_;
};

std::string BigEndian(uint64_t v, int bytes) {
  std::string out(bytes, '\0');
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  return out;
}

class Crc32Hasher final : public Hasher {
 public:
  void Update(std::string_view data) override {
    while (!data.empty()) {  // zlib takes uInt lengths
      size_t n = std::min<size_t>(data.size(), 1u << 30);
      crc_ = crc32_z(crc_, reinterpret_cast<const Bytef*>(data.data()), n);
      data.remove_prefix(n);
    }
  }
  std::string Finish() override { return BigEndian(crc_, 4); }

 private:
  uLong crc_ = crc32_z(0, nullptr, 0);
};

// CRC32C (Castagnoli), reflected polynomial 0x82F63B78.
const std::array<uint32_t, 256>& Crc32cTable() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t Crc32cHardware(uint32_t crc, const char* p, size_t n) {
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n--) c32 = _mm_crc32_u8(c32, static_cast<uint8_t>(*p++));
  return c32;
}
#endif

class Crc32cHasher final : public Hasher {
 public:
  void Update(std::string_view data) override { crc_ = Crc32c(crc_, data); }
  std::string Finish() override { return BigEndian(crc_, 4); }

 private:
  uint32_t crc_ = 0;
};

// CRC-64/NVME: reflected polynomial 0x9A6C9329AC4BC9B5, init and xorout all ones.
class Crc64NvmeHasher final : public Hasher {
 public:
  void Update(std::string_view data) override {
    static const std::array<uint64_t, 256> table = [] {
      std::array<uint64_t, 256> t{};
      for (uint64_t i = 0; i < 256; ++i) {
        uint64_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x9A6C9329AC4BC9B5ull : c >> 1;
        t[i] = c;
      }
      return t;
    }();
    for (unsigned char ch : data) crc_ = table[(crc_ ^ ch) & 0xff] ^ (crc_ >> 8);
  }
  std::string Finish() override { return BigEndian(~crc_, 8); }

 private:
  uint64_t crc_ = ~0ull;
};

}  // namespace

uint32_t Crc32c(uint32_t crc, std::string_view data) {
  crc = ~crc;
#if defined(__x86_64__)
  if (__builtin_cpu_supports("sse4.2")) return ~Crc32cHardware(crc, data.data(), data.size());
#endif
  const auto& table = Crc32cTable();
  for (unsigned char ch : data) crc = table[(crc ^ ch) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::optional<ChecksumAlgorithm> ParseChecksumAlgorithm(std::string_view name) {
  std::string n = AsciiUpper(name);
  if (n == "CRC32") return ChecksumAlgorithm::kCrc32;
  if (n == "CRC32C") return ChecksumAlgorithm::kCrc32c;
  if (n == "CRC64NVME") return ChecksumAlgorithm::kCrc64Nvme;
  if (n == "SHA1") return ChecksumAlgorithm::kSha1;
  if (n == "SHA256") return ChecksumAlgorithm::kSha256;
  return std::nullopt;
}

std::string_view ChecksumAlgorithmName(ChecksumAlgorithm a) {
  switch (a) {
    case ChecksumAlgorithm::kCrc32: return "CRC32";
    case ChecksumAlgorithm::kCrc32c: return "CRC32C";
    case ChecksumAlgorithm::kCrc64Nvme: return "CRC64NVME";
    case ChecksumAlgorithm::kSha1: return "SHA1";
    case ChecksumAlgorithm::kSha256: return "SHA256";
    case ChecksumAlgorithm::kMd5: return "MD5";
  }
  return "";
}

std::string ChecksumHeaderName(ChecksumAlgorithm a) {
  return "x-amz-checksum-" + AsciiLower(ChecksumAlgorithmName(a));
}

std::unique_ptr<Hasher> NewHasher(ChecksumAlgorithm algorithm) {
  switch (algorithm) {
    case ChecksumAlgorithm::kCrc32: return std::make_unique<Crc32Hasher>();
    case ChecksumAlgorithm::kCrc32c: return std::make_unique<Crc32cHasher>();
    case ChecksumAlgorithm::kCrc64Nvme: return std::make_unique<Crc64NvmeHasher>();
    case ChecksumAlgorithm::kSha1: return std::make_unique<EvpHasher>(EVP_sha1());
    case ChecksumAlgorithm::kSha256: return std::make_unique<EvpHasher>(EVP_sha256());
    case ChecksumAlgorithm::kMd5: return std::make_unique<EvpHasher>(EVP_md5());
  }
  return nullptr;
}

std::string Md5(std::string_view data) {
  EvpHasher h(EVP_md5());
  h.Update(data);
  return h.Finish();
}

std::string Sha256(std::string_view data) {
  EvpHasher h(EVP_sha256());
  h.Update(data);
  return h.Finish();
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string HexEncode(std::string_view raw) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(raw.size() * 2, '\0');
  for (size_t i = 0; i < raw.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(raw[i]);
    out[2 * i] = kDigits[c >> 4];
    out[2 * i + 1] = kDigits[c & 15];
  }
  return out;
}

std::string Base64Encode(std::string_view raw) {
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t len = static_cast<size_t>(n);
  if (text.back() == '=') --len;  // EVP_DecodeBlock counts padding as zero bytes
  if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

}  // namespace sluice
