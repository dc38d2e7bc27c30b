// PNG writer: RGB8, filter 0 on every row, one IDAT chunk compressed with zlib's compress2.
#include "bigbatch/plot/png.h"

#include <zlib.h>

#include <limits>

#include "bigbatch/core/atomic_file.h"
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
  write_file_atomic(path, bytes, "plot");
}

}  // namespace bigbatch::plot
