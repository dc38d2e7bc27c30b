// A minimal PNG reader for the tests: 8-bit RGB, no interlace, filter 0 rows, every CRC checked.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "bigbatch/plot/canvas.h"

namespace bigbatch::plot::testing {

struct DecodedPng {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;  // top row first, 3 bytes per pixel
  int chunks = 0;
  Rgb at(int x, int y) const {
    const std::uint8_t* p = &rgb[(static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + x) * 3];
    return {p[0], p[1], p[2]};
  }
};

inline std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Throws std::runtime_error naming the first thing that is not as png.cpp writes it.
inline DecodedPng decode_png(const std::vector<std::uint8_t>& bytes) {
  const std::uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() < 8 || !std::equal(signature, signature + 8, bytes.begin())) throw std::runtime_error("signature");
  auto u32 = [&](std::size_t at) {
    if (at + 4 > bytes.size()) throw std::runtime_error("truncated");
    return std::uint32_t{bytes[at]} << 24 | std::uint32_t{bytes[at + 1]} << 16 | std::uint32_t{bytes[at + 2]} << 8 |
           std::uint32_t{bytes[at + 3]};
  };
  DecodedPng png;
  std::vector<std::uint8_t> idat;
  bool ended = false;
  for (std::size_t at = 8; at < bytes.size();) {
    if (ended) throw std::runtime_error("bytes after IEND");
    const std::uint32_t length = u32(at);
    if (at + 12 + length > bytes.size()) throw std::runtime_error("truncated chunk");
    const std::string type(bytes.begin() + static_cast<long>(at) + 4, bytes.begin() + static_cast<long>(at) + 8);
    const std::uint8_t* data = bytes.data() + at + 8;
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), bytes.data() + at + 4, length + 4);
    if (crc != u32(at + 8 + length)) throw std::runtime_error("bad CRC in " + type);
    if (png.chunks == 0 && type != "IHDR") throw std::runtime_error("first chunk is " + type);
    if (type == "IHDR") {
      if (length != 13) throw std::runtime_error("IHDR length");
      png.width = static_cast<int>(u32(at + 8));
      png.height = static_cast<int>(u32(at + 12));
      if (data[8] != 8 || data[9] != 2 || data[10] != 0 || data[11] != 0 || data[12] != 0)
        throw std::runtime_error("not 8-bit RGB, deflate, filter 0, no interlace");
    } else if (type == "IDAT") {
      idat.insert(idat.end(), data, data + length);
    } else if (type == "IEND") {
      ended = true;
    }
    ++png.chunks;
    at += 12 + length;
  }
  if (!ended) throw std::runtime_error("no IEND");
  const std::size_t row = static_cast<std::size_t>(png.width) * 3 + 1;
  std::vector<std::uint8_t> raw(row * static_cast<std::size_t>(png.height));
  uLongf raw_size = raw.size();
  if (uncompress(raw.data(), &raw_size, idat.data(), idat.size()) != Z_OK || raw_size != raw.size())
    throw std::runtime_error("IDAT does not inflate to the image size");
  for (int y = 0; y < png.height; ++y) {
    if (raw[y * row] != 0) throw std::runtime_error("row filter is not 0");
    png.rgb.insert(png.rgb.end(), raw.begin() + static_cast<long>(y * row + 1),
                   raw.begin() + static_cast<long>((y + 1) * row));
  }
  return png;
}

}  // namespace bigbatch::plot::testing
