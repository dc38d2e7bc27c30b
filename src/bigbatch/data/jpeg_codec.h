// JPEG decoding and encoding through libjpeg-turbo's libjpeg API: DCT-domain downscaling (the
// decoder's IDCT produces 1/8 .. 8/8 of the image directly) and region decoding (only the rows
// and iMCU columns a crop reads go through the IDCT, upsampling and colour conversion).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace bigbatch::data {

// A reduction the decoder can apply in the DCT domain: size' = ceil(size · num / denom).
struct JpegScale {
  int num = 1, denom = 1;
  int64_t apply(int64_t size) const { return (size * num + denom - 1) / denom; }
  double factor() const { return static_cast<double>(num) / denom; }
};

// The default pixel budget of one image: PIL's Image.MAX_IMAGE_PIXELS (1024·1024·1024 / 4 / 3,
// a 256 MiB RGB image). A header that claims more is treated as a decompression bomb.
constexpr int64_t kDefaultMaxImagePixels = 89'478'485;

struct JpegHeader {
  int64_t width = 0, height = 0;
  bool cmyk = false;  // CMYK or YCCK: decoded through CMYK and converted
};

// An interleaved 8-bit RGB image: pixel (y, x) channel c at rgb[(y·width + x)·3 + c]. It may be a
// window of a larger image: its pixel (0, 0) is that image's pixel (top, left).
struct RgbImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> rgb;
  int64_t top = 0, left = 0;
};

// Rows [top, bottom) and columns [left, right) of an image.
struct PixelRegion {
  int64_t top = 0, left = 0, bottom = 0, right = 0;
};

// Owns one libjpeg decompressor; not thread-safe, so each decoding thread has its own.
// Errors throw InvalidArgument "<where> <name>: <what>" where `name` says which file.
class JpegDecoder {
 public:
  JpegDecoder();
  ~JpegDecoder();
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;

  // The header's size and colour space. An image of more than max_pixels pixels is an error
  // found here, from the header alone, before anything the size implies is allocated.
  JpegHeader read_header(std::span<const uint8_t> jpeg, const std::string& where, const std::string& name,
                         int64_t max_pixels = kDefaultMaxImagePixels);
  // Decodes the whole image to RGB (grayscale and CMYK converted) at the given DCT scale; out
  // is resized. header is read_header's answer for the same bytes (checked before decoding, and
  // libjpeg's own memory is capped at what that size needs). The accurate integer IDCT
  // and fancy chroma upsampling: libjpeg's defaults, as PIL's. A truncated stream, or data
  // that holds fewer pixels than the header declares, is an error (libjpeg only warns and
  // fills with grey); other warnings are accepted.
  void decode(std::span<const uint8_t> jpeg, const JpegHeader& header, JpegScale scale, RgbImage& out,
              const std::string& where, const std::string& name);
  // Decodes a window of the scaled image that holds `region` (in scaled pixels), with the same
  // bytes there as decode() gives; out.top/left say where the window lies. Rows above it are
  // entropy-decoded and skipped, rows below it not read, and columns outside it (rounded out to
  // whole iMCUs) not transformed.
  void decode_region(std::span<const uint8_t> jpeg, const JpegHeader& header, JpegScale scale, PixelRegion region,
                     RgbImage& out, const std::string& where, const std::string& name);

 private:
  [[noreturn]] void fail(const std::string& where, const std::string& name, const std::string& what);

  struct State;  // libjpeg's structures, kept out of this header
  std::unique_ptr<State> state_;
  std::vector<uint8_t> cmyk_;  // scratch for CMYK images
};

// The DCT scales libjpeg-turbo offers that reduce (num/denom <= 1), largest first.
const std::vector<JpegScale>& jpeg_reducing_scales();
// The reducing scales worth decoding at: 1/1, 1/2, 1/4, 1/8, largest first. libjpeg-turbo has
// SIMD IDCTs for 8×8, 4×4, 2×2 and 1×1 outputs only; the others run scalar code, and 7/8
// decoded 1.6× slower than the full image on our benchmark set (bench/RESULTS.md).
const std::vector<JpegScale>& jpeg_fast_scales();

// How an encoded JPEG stores its chroma: samples per 2×2 luma block (4:2:0), per 2×1 (4:2:2),
// per 1×2 (4:4:0) or per pixel (4:4:4).
enum class ChromaSubsampling { s420, s422, s440, s444 };

// Encodes RGB at `quality` (1..100), baseline or progressive (for tests and benchmarks).
std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality, ChromaSubsampling chroma = ChromaSubsampling::s420,
                                 bool progressive = false);

}  // namespace bigbatch::data
