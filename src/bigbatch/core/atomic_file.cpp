// Temp file, fsync, rename, fsync of the directory: the POSIX recipe for replacing a file atomically.
#include "bigbatch/core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include "bigbatch/core/error.h"

namespace bigbatch {
namespace {

std::string errno_text() { return std::strerror(errno); }

// Writes all n bytes, retrying short writes and interrupted calls.
bool write_all(int fd, const uint8_t* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Owns the temp file of a write in progress: closes it and removes it unless committed.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return fd_; }
  bool close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0;
  }
  void commit() { committed_ = true; }

 private:
  std::string path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void write_file_atomic(const std::string& path, std::span<const std::span<const uint8_t>> pieces, const char* where) {
  // Temp file beside the target (same filesystem, so the rename is atomic).
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  TempFile file(tmp);
  if (file.fd() < 0)
    BIGBATCH_THROW(Error, "[" << where << "] " << path << ": cannot create " << tmp << ": " << errno_text());
  for (std::span<const uint8_t> piece : pieces)
    if (!write_all(file.fd(), piece.data(), piece.size()))
      BIGBATCH_THROW(Error, "[" << where << "] " << path << ": cannot write " << tmp << ": " << errno_text());
  if (::fsync(file.fd()) != 0)
    BIGBATCH_THROW(Error, "[" << where << "] " << path << ": fsync failed: " << errno_text());
  if (!file.close()) BIGBATCH_THROW(Error, "[" << where << "] " << path << ": close failed: " << errno_text());
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    BIGBATCH_THROW(Error, "[" << where << "] " << path << ": cannot rename " << tmp << " over it: " << errno_text());
  file.commit();

  // The rename is durable only once the directory entry is on disk.
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) BIGBATCH_THROW(Error, "[" << where << "] " << path << ": cannot open directory: " << errno_text());
  int rc = ::fsync(dir_fd);
  ::close(dir_fd);
  if (rc != 0) BIGBATCH_THROW(Error, "[" << where << "] " << path << ": fsync of directory failed: " << errno_text());
}

}  // namespace bigbatch
