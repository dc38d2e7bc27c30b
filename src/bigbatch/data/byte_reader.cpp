// Plain files are read as they are; gzip files through zlib's inflate, driven here rather than
// through gzread so that a truncated file reports exactly how many bytes it did hold.
#include "bigbatch/data/byte_reader.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "bigbatch/core/error.h"

namespace bigbatch::data {

namespace {
constexpr size_t kInputBuffer = size_t{1} << 17;
}  // namespace

ByteReader::ByteReader(std::string path, std::string where)
    : path_(std::move(path)), where_(std::move(where)), input_(kInputBuffer) {
  std::error_code ec;
  if (std::filesystem::is_directory(path_, ec)) fail("cannot open: is a directory");
  file_ = std::fopen(path_.c_str(), "rb");
  if (file_ == nullptr) fail(std::string("cannot open: ") + std::strerror(errno));
  fill_input();
  if (input_end_ >= 2 && input_[0] == 0x1f && input_[1] == 0x8b) {
    inflate_ = std::make_unique<z_stream_s>();
    std::memset(inflate_.get(), 0, sizeof(z_stream_s));
    // 16 + MAX_WBITS: gzip wrapper (header, CRC-32 and length trailer checked by zlib).
    if (inflateInit2(inflate_.get(), 16 + MAX_WBITS) != Z_OK) {
      inflate_.reset();
      fail("cannot initialise zlib");
    }
  }
}

ByteReader::~ByteReader() {
  if (inflate_) inflateEnd(inflate_.get());
  if (file_ != nullptr) std::fclose(file_);
}

void ByteReader::fail(const std::string& what) const {
  BIGBATCH_THROW(InvalidArgument, where_ << " " << path_ << ": " << what);
}

bool ByteReader::fill_input() {
  input_begin_ = 0;
  input_end_ = std::fread(input_.data(), 1, input_.size(), file_);
  if (input_end_ == 0 && std::ferror(file_)) fail(std::string("read error: ") + std::strerror(errno));
  return input_end_ > 0;
}

size_t ByteReader::read(std::span<uint8_t> out) { return inflate_ ? read_gzip(out) : read_plain(out); }

size_t ByteReader::read_plain(std::span<uint8_t> out) {
  size_t done = std::min(out.size(), input_end_ - input_begin_);
  std::memcpy(out.data(), input_.data() + input_begin_, done);
  input_begin_ += done;
  // The rest straight from the file: large payloads skip the buffer.
  while (done < out.size()) {
    const size_t got = std::fread(out.data() + done, 1, out.size() - done, file_);
    if (got == 0) {
      if (std::ferror(file_)) fail(std::string("read error: ") + std::strerror(errno));
      break;
    }
    done += got;
  }
  return done;
}

size_t ByteReader::read_gzip(std::span<uint8_t> out) {
  z_stream_s& z = *inflate_;
  size_t done = 0;
  while (done < out.size() && !stream_end_) {
    if (input_begin_ == input_end_ && !fill_input()) break;  // file ended mid-stream: truncated
    z.next_in = input_.data() + input_begin_;
    z.avail_in = static_cast<uInt>(input_end_ - input_begin_);
    z.next_out = out.data() + done;
    z.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - done, size_t{1} << 30));
    const uInt avail_out = z.avail_out;
    const int status = inflate(&z, Z_NO_FLUSH);
    done += avail_out - z.avail_out;
    input_begin_ = input_end_ - z.avail_in;
    if (status == Z_STREAM_END) {
      // gzip allows several members back to back (gzip's own output of `cat a.gz b.gz`).
      if (input_begin_ == input_end_ && !fill_input()) {
        stream_end_ = true;
      } else if (inflateReset(&z) != Z_OK) {
        fail("cannot reset zlib");
      }
    } else if (status != Z_OK && status != Z_BUF_ERROR) {
      fail(std::string("corrupt gzip data: ") + (z.msg != nullptr ? z.msg : "zlib error " + std::to_string(status)));
    }
  }
  return done;
}

std::vector<uint8_t> ByteReader::read_up_to(uint64_t count) {
  std::vector<uint8_t> data;
  size_t filled = 0;
  while (filled < count) {
    // Grow geometrically from 1 MiB: amortised linear copying, bounded by the real data.
    const size_t target = static_cast<size_t>(std::min<uint64_t>(count, std::max<size_t>(2 * filled, 1u << 20)));
    data.resize(target);
    filled += read(std::span<uint8_t>(data).subspan(filled));
    if (filled < target) break;
  }
  data.resize(filled);
  return data;
}

void ByteReader::expect_end(const std::string& after) {
  uint8_t extra = 0;
  if (read(std::span<uint8_t>(&extra, 1)) != 0) {
    // Extra output from a gzip file may be corruption that its CRC would expose: read on (a
    // bounded amount) so that a damaged file is reported as damaged, not as too long.
    std::vector<uint8_t> scratch(size_t{1} << 16);
    for (int i = 0; inflate_ && i < 1024 && read(scratch) != 0; ++i) {
    }
    fail("unexpected trailing data after " + after);
  }
  if (inflate_ && !stream_end_) fail("truncated: the gzip stream ends before its trailer");
}

std::string gz_or_plain(const std::string& dir, const std::string& name) {
  const std::filesystem::path base = std::filesystem::path(dir) / name;
  std::filesystem::path gz = base;
  gz += ".gz";
  std::error_code ec;
  return std::filesystem::exists(gz, ec) ? gz.string() : base.string();
}

}  // namespace bigbatch::data
