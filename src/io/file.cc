#include "io/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "base/strings.h"

namespace sluice {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.Release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

int UniqueFd::Release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

absl::Status ErrnoStatus(std::string_view what, const std::string& path, int err) {
  std::string msg = StrCat(what, " ", path, ": ", std::strerror(err));
  switch (err) {
    case ENOENT: return absl::NotFoundError(msg);
    case EEXIST: return absl::AlreadyExistsError(msg);
    case ENOSPC: case EDQUOT: return absl::ResourceExhaustedError(msg);
    case ENAMETOOLONG: case EINVAL: return absl::InvalidArgumentError(msg);
    default: return absl::InternalError(msg);
  }
}

absl::StatusOr<std::unique_ptr<TempFile>> TempFile::Create(const std::string& dir) {
  static std::atomic<uint64_t> counter{0};
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::string path = StrCat(dir, "/.tmp-", ::getpid(), "-", counter.fetch_add(1));
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) return std::unique_ptr<TempFile>(new TempFile(path, UniqueFd(fd)));
    if (errno != EEXIST) return ErrnoStatus("create", path, errno);
  }
  return absl::InternalError(StrCat("could not create a temporary file in ", dir));
}

TempFile::~TempFile() {
  if (!committed_) ::unlink(path_.c_str());
}

absl::Status TempFile::Append(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd_.get(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path_, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
    size_ += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status TempFile::Sync() {
  if (::fdatasync(fd_.get()) != 0) return ErrnoStatus("fsync", path_, errno);
  return absl::OkStatus();
}

absl::Status TempFile::Rename(const std::string& final_path) {
  if (::rename(path_.c_str(), final_path.c_str()) != 0) {
    return ErrnoStatus("rename to", final_path, errno);
  }
  committed_ = true;
  return absl::OkStatus();
}

absl::Status TempFile::Commit(const std::string& final_path) {
  RETURN_IF_ERROR(Rename(final_path));
  auto slash = final_path.rfind('/');
  return FsyncDir(slash == std::string::npos ? "." : final_path.substr(0, slash));
}

absl::Status FsyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open", dir, errno);
  if (::fsync(fd.get()) != 0) return ErrnoStatus("fsync", dir, errno);
  return absl::OkStatus();
}

absl::Status MakeDirs(const std::string& dir) {
  if (dir.empty()) return absl::OkStatus();
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(StrCat(dir, " exists and is not a directory"));
  }
  auto slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0) RETURN_IF_ERROR(MakeDirs(dir.substr(0, slash)));
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("mkdir", dir, errno);
  return absl::OkStatus();
}

void RemoveEmptyDirs(std::string dir, const std::string& stop_at) {
  while (dir.size() > stop_at.size() && dir.compare(0, stop_at.size(), stop_at) == 0) {
    if (::rmdir(dir.c_str()) != 0) return;  // not empty (or gone): stop
    auto slash = dir.rfind('/');
    if (slash == std::string::npos) return;
    dir.resize(slash);
  }
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open", path, errno);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read", path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

absl::Status WriteFileAtomically(const std::string& path, std::string_view data) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  ASSIGN_OR_RETURN(auto tmp, TempFile::Create(dir));
  RETURN_IF_ERROR(tmp->Append(data));
  RETURN_IF_ERROR(tmp->Sync());
  return tmp->Commit(path);
}

}  // namespace sluice
