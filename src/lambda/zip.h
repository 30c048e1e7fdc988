#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

// A small reader of ZIP archives (stored and deflated entries, via zlib) for function code
// and layers. Entries are checked before anything is written: no absolute paths or "..",
// and the unzipped total within a limit.
namespace sluice::lambda {

struct ZipEntry {
  std::string name;      // "handler.py", "lib/x.so"; directories end with '/'
  uint32_t mode = 0;     // Unix permission bits from the archive (0 when it has none)
  uint16_t method = 0;   // 0 stored, 8 deflated
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t local_offset = 0;
};

// Lists the entries of the archive in `data`. InvalidArgument when it is not a ZIP file
// this reader understands (encrypted, ZIP64, another compression method).
absl::StatusOr<std::vector<ZipEntry>> ListZip(std::string_view data);

// Unpacks `data` under `dir` (created). Files keep their Unix mode (0644 when the archive
// has none; executable bits kept). InvalidArgument for a bad archive or unsafe names;
// OutOfRange when the unzipped size would exceed `max_unzipped` bytes.
absl::Status Unzip(std::string_view data, const std::string& dir, uint64_t max_unzipped);

}  // namespace sluice::lambda
