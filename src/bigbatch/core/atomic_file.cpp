// Temp file, fsync, rename, fsync of the directory: the POSIX recipe for replacing a file atomically.
#include "bigbatch/core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
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

// The pid of a temp file's name "<prefix><digits>", or 0 when it is not one.
pid_t temp_file_pid(const std::string& name, const std::string& prefix) {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return 0;
  const char *first = name.data() + prefix.size(), *last = name.data() + name.size();
  if (*first < '0' || *first > '9') return 0;  // from_chars would take a sign: kill(-1, ...) is everyone
  pid_t pid = 0;
  const auto [ptr, ec] = std::from_chars(first, last, pid);
  return ec == std::errc() && ptr == last ? pid : 0;
}

// A writer killed between creating its temp file and the rename (SIGKILL, OOM, power cut)
// leaves "<path>.tmp.<pid>" behind for good: each write of path removes those whose process
// is gone. Only on ESRCH: a live process (EPERM: another user's) may still rename its file.
// Best effort: what cannot be listed or removed stays as it was.
void remove_stale_temp_files(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const pid_t pid = temp_file_pid(it->path().filename().string(), prefix);
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) ::unlink(it->path().c_str());
  }
}

}  // namespace

void write_file_atomic(const std::string& path, std::span<const std::span<const uint8_t>> pieces, const char* where) {
  remove_stale_temp_files(path);
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
