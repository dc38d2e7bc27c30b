// PNG writer: RGB8, filter 0 on every row, one IDAT chunk compressed with zlib's compress2.
#include "bigbatch/plot/png.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "bigbatch/core/error.h"

namespace bigbatch::plot {
namespace {

void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  // PNG integers are big-endian.
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

// A chunk is length, 4-byte type, data, then the CRC-32 of type and data (not of the length).
void put_chunk(std::vector<std::uint8_t>& out, const char type[4], std::span<const std::uint8_t> data) {
  put_u32(out, static_cast<std::uint32_t>(data.size()));
  std::size_t type_at = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, out.data() + type_at, static_cast<uInt>(out.size() - type_at));
  put_u32(out, static_cast<std::uint32_t>(crc));
}

std::string errno_text() { return std::strerror(errno); }

// Owns the temp file until the rename: on any early exit it is closed and removed.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
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

bool write_all(int fd, const std::uint8_t* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// encode_png with errors naming `where` (the target path, or "png" for in-memory use).
std::vector<std::uint8_t> encode(const std::string& where, int width, int height, std::span<const std::uint8_t> rgb) {
  BIGBATCH_CHECK(width > 0 && height > 0,
                 "[plot] " << where << ": image must be at least 1x1, got " << width << "x" << height);
  const std::size_t row_bytes = static_cast<std::size_t>(width) * 3;
  BIGBATCH_CHECK(rgb.size() == row_bytes * static_cast<std::size_t>(height),
                 "[plot] " << where << ": a " << width << "x" << height << " RGB image needs " << row_bytes * height
                           << " bytes, got " << rgb.size());

  // Scanlines each start with their filter type; 0 (None) keeps the writer trivial, and the flat
  // colours of a chart compress well without prediction.
  std::vector<std::uint8_t> raw;
  raw.reserve((row_bytes + 1) * static_cast<std::size_t>(height));
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);
    auto row = rgb.subspan(static_cast<std::size_t>(y) * row_bytes, row_bytes);
    raw.insert(raw.end(), row.begin(), row.end());
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::vector<std::uint8_t> packed(packed_size);
  int rc = compress2(packed.data(), &packed_size, raw.data(), static_cast<uLong>(raw.size()), Z_DEFAULT_COMPRESSION);
  if (rc != Z_OK) BIGBATCH_THROW(Error, "[plot] " << where << ": zlib compress2 failed: " << zError(rc));
  BIGBATCH_CHECK(
      packed_size <= std::numeric_limits<std::int32_t>::max(),
      "[plot] " << where << ": compressed image of " << packed_size << " bytes exceeds one chunk's 2^31 - 1");
  packed.resize(packed_size);

  std::vector<std::uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<std::uint8_t> ihdr;
  put_u32(ihdr, static_cast<std::uint32_t>(width));
  put_u32(ihdr, static_cast<std::uint32_t>(height));
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // bit depth 8, colour type 2 (RGB), deflate, filter 0, no interlace
  put_chunk(out, "IHDR", ihdr);
  put_chunk(out, "IDAT", packed);
  put_chunk(out, "IEND", {});
  return out;
}

}  // namespace

std::vector<std::uint8_t> encode_png(int width, int height, std::span<const std::uint8_t> rgb) {
  return encode("png", width, height, rgb);
}

void write_png(const std::string& path, int width, int height, std::span<const std::uint8_t> rgb) {
  std::vector<std::uint8_t> bytes = encode(path, width, height, rgb);
  // Temp file beside the target (same filesystem, so the rename is atomic).
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  TempFile file(tmp);
  if (file.fd() < 0) BIGBATCH_THROW(Error, "[plot] " << path << ": cannot create " << tmp << ": " << errno_text());
  if (!write_all(file.fd(), bytes.data(), bytes.size()))
    BIGBATCH_THROW(Error, "[plot] " << path << ": cannot write " << tmp << ": " << errno_text());
  if (::fsync(file.fd()) != 0) BIGBATCH_THROW(Error, "[plot] " << path << ": fsync failed: " << errno_text());
  if (!file.close()) BIGBATCH_THROW(Error, "[plot] " << path << ": close failed: " << errno_text());
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    BIGBATCH_THROW(Error, "[plot] " << path << ": cannot rename " << tmp << " over it: " << errno_text());
  file.commit();
}

}  // namespace bigbatch::plot
