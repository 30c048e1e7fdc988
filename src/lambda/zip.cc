#include "lambda/zip.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>

#include "base/strings.h"
#include "io/file.h"

namespace sluice::lambda {
namespace {

uint32_t Le(std::string_view d, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(d[at + static_cast<size_t>(i)]);
  return v;
}

absl::Status Bad(std::string_view why) { return absl::InvalidArgumentError(StrCat("bad zip file: ", why)); }

bool SafeName(const std::string& name) {
  if (name.empty() || name[0] == '/' || name.find('\\') != std::string::npos) return false;
  for (auto part : Split(name, '/')) {
    if (part == "..") return false;
  }
  return true;
}

absl::StatusOr<std::string> Inflate(std::string_view in, uint64_t size) {
  std::string out(size, '\0');
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return absl::InternalError("zlib init failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = inflate(&z, Z_FINISH);
  uint64_t produced = z.total_out;
  inflateEnd(&z);
  if (rc != Z_STREAM_END || produced != size) return Bad("an entry does not inflate to its declared size");
  return out;
}

}  // namespace

absl::StatusOr<std::vector<ZipEntry>> ListZip(std::string_view d) {
  if (d.size() < 22) return Bad("too short");
  // The end of central directory record is within the last 64 KB + 22 bytes.
  size_t eocd = std::string::npos;
  size_t lowest = d.size() > 65557 ? d.size() - 65557 : 0;
  for (size_t i = d.size() - 22 + 1; i-- > lowest;) {
    if (Le(d, i, 4) == 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd == std::string::npos) return Bad("no end of central directory");
  uint32_t count = Le(d, eocd + 10, 2);
  uint64_t cd_size = Le(d, eocd + 12, 4), cd_offset = Le(d, eocd + 16, 4);
  if (count == 0xffff || cd_offset == 0xffffffff) return Bad("ZIP64 archives are not supported");
  if (cd_offset + cd_size > eocd) return Bad("central directory out of range");
  std::vector<ZipEntry> out;
  size_t p = cd_offset;
  for (uint32_t n = 0; n < count; ++n) {
    if (p + 46 > eocd || Le(d, p, 4) != 0x02014b50) return Bad("broken central directory");
    ZipEntry e;
    uint16_t flags = static_cast<uint16_t>(Le(d, p + 8, 2));
    if (flags & 1) return Bad("encrypted entries are not supported");
    e.method = static_cast<uint16_t>(Le(d, p + 10, 2));
    e.compressed_size = Le(d, p + 20, 4);
    e.size = Le(d, p + 24, 4);
    uint32_t name_len = Le(d, p + 28, 2), extra_len = Le(d, p + 30, 2), comment_len = Le(d, p + 32, 2);
    uint32_t made_by_os = Le(d, p + 4, 2) >> 8;
    uint32_t external = Le(d, p + 38, 4);
    e.local_offset = Le(d, p + 42, 4);
    if (p + 46 + name_len > eocd) return Bad("broken central directory");
    e.name = std::string(d.substr(p + 46, name_len));
    if (made_by_os == 3) e.mode = (external >> 16) & 07777;  // made by Unix
    if (e.method != 0 && e.method != 8) return Bad(StrCat("compression method ", e.method, " of ", e.name));
    if (e.size == 0xffffffff || e.compressed_size == 0xffffffff) return Bad("ZIP64 entries are not supported");
    out.push_back(std::move(e));
    p += 46 + name_len + extra_len + comment_len;
  }
  return out;
}

absl::Status Unzip(std::string_view d, const std::string& dir, uint64_t max_unzipped) {
  ASSIGN_OR_RETURN(auto entries, ListZip(d));
  uint64_t total = 0;
  for (const auto& e : entries) {
    if (!SafeName(e.name)) return Bad(StrCat("unsafe entry name ", e.name));
    total += e.size;
  }
  if (total > max_unzipped) return absl::OutOfRangeError(StrCat("unzipped size ", total, " exceeds ", max_unzipped));
  RETURN_IF_ERROR(MakeDirs(dir));
  for (const auto& e : entries) {
    std::string path = dir + "/" + e.name;
    if (e.name.back() == '/') {
      RETURN_IF_ERROR(MakeDirs(path));
      continue;
    }
    size_t lh = e.local_offset;
    if (lh + 30 > d.size() || Le(d, lh, 4) != 0x04034b50) return Bad(StrCat("broken local header of ", e.name));
    size_t start = lh + 30 + Le(d, lh + 26, 2) + Le(d, lh + 28, 2);
    if (start + e.compressed_size > d.size()) return Bad(StrCat("truncated entry ", e.name));
    std::string_view raw = d.substr(start, e.compressed_size);
    std::string data;
    if (e.method == 0) {
      if (e.compressed_size != e.size) return Bad(StrCat("stored entry ", e.name, " has two sizes"));
      data = std::string(raw);
    } else {
      ASSIGN_OR_RETURN(data, Inflate(raw, e.size));
    }
    if (crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())) != Le(d, lh + 14, 4) &&
        (Le(d, lh + 6, 2) & 8) == 0) {
      return Bad(StrCat("CRC mismatch in ", e.name));
    }
    if (auto slash = path.rfind('/'); slash != std::string::npos) RETURN_IF_ERROR(MakeDirs(path.substr(0, slash)));
    mode_t mode = e.mode ? (e.mode & 0777) : 0644;
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode | 0600));
    if (!fd.valid()) return ErrnoStatus("cannot create", path, errno);
    size_t off = 0;
    while (off < data.size()) {
      ssize_t w = ::write(fd.get(), data.data() + off, data.size() - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("cannot write", path, errno);
      }
      off += static_cast<size_t>(w);
    }
    ::fchmod(fd.get(), mode | 0400);
  }
  return absl::OkStatus();
}

}  // namespace sluice::lambda
