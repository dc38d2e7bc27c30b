// PNG encoding of 8-bit RGB images (signature, IHDR, one zlib IDAT, IEND) and an atomic file writer.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace bigbatch::plot {

// The bytes of a PNG holding `rgb`: height rows of width pixels, 3 bytes (R, G, B) per pixel,
// top row first, no padding. Throws InvalidArgument "[plot] png: ..." if rgb.size() != width * height * 3
// or a side is < 1; Error if zlib fails.
std::vector<std::uint8_t> encode_png(int width, int height, std::span<const std::uint8_t> rgb);

// Writes encode_png(...) to path atomically: bytes go to "<path>.tmp.<pid>", which is fsynced and
// renamed over path, so readers see the old file or the whole new one. Throws Error "[plot] <path>: ...".
void write_png(const std::string& path, int width, int height, std::span<const std::uint8_t> rgb);

}  // namespace bigbatch::plot
