#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

// Small POSIX file helpers with Status errors. The durable write protocol Sluice uses
// everywhere: write a temporary file, fsync it, rename it into place, fsync the directory.
namespace sluice {

// An owned file descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release();

 private:
  int fd_ = -1;
};

// Status from errno, naming what failed: "open /x/y: No such file or directory".
absl::Status ErrnoStatus(std::string_view what, const std::string& path, int err);

// A file being written under a temporary name. Removed on destruction unless Commit()ed.
// Not thread-safe.
class TempFile {
 public:
  // Creates a uniquely named file in `dir` (which must exist).
  static absl::StatusOr<std::unique_ptr<TempFile>> Create(const std::string& dir);
  ~TempFile();

  absl::Status Append(std::string_view data);
  // fsyncs the data; call before Commit for durability.
  absl::Status Sync();
  // Renames the file to `final_path` (replacing what is there) and fsyncs its directory.
  absl::Status Commit(const std::string& final_path);
  // Renames only: the caller makes the rename durable (fsyncs the directory) itself.
  absl::Status Rename(const std::string& final_path);

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_.get(); }

 private:
  TempFile(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  UniqueFd fd_;
  uint64_t size_ = 0;
  bool committed_ = false;
};

absl::Status FsyncDir(const std::string& dir);
// mkdir -p; succeeds when the directory exists.
absl::Status MakeDirs(const std::string& dir);
// Removes `dir` and then its parents while they are empty, stopping at `stop_at`.
void RemoveEmptyDirs(std::string dir, const std::string& stop_at);
absl::StatusOr<std::string> ReadFile(const std::string& path);
// Writes `data` to `path` durably (temp file in the same directory, fsync, rename).
absl::Status WriteFileAtomically(const std::string& path, std::string_view data);

}  // namespace sluice
