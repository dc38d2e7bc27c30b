// JPEG decoding and encoding through libjpeg-turbo's TurboJPEG API, with DCT-domain
// downscaling (the decoder's IDCT produces 1/8 .. 8/8 of the image directly).
#pragma once

#include <cstdint>
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

struct JpegHeader {
  int64_t width = 0, height = 0;
  bool cmyk = false;  // CMYK or YCCK: decoded through CMYK and converted
};

// An interleaved 8-bit RGB image: pixel (y, x) channel c at rgb[(y·width + x)·3 + c].
struct RgbImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

// Owns one TurboJPEG decompressor; not thread-safe, so each decoding thread has its own.
// Errors throw InvalidArgument "<where> <name>: <what>" where `name` says which file.
class JpegDecoder {
 public:
  JpegDecoder();
  ~JpegDecoder();
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;

  JpegHeader read_header(std::span<const uint8_t> jpeg, const std::string& where, const std::string& name);
  // Decodes to RGB (grayscale and CMYK converted) at the given DCT scale; out is resized.
  // header is read_header's answer for the same bytes. The accurate integer IDCT and fancy
  // chroma upsampling: libjpeg's defaults, as PIL's. A truncated stream is an error (libjpeg
  // only warns); other warnings are accepted.
  void decode(std::span<const uint8_t> jpeg, const JpegHeader& header, JpegScale scale, RgbImage& out,
              const std::string& where, const std::string& name);

 private:
  void reset();  // a fresh handle after a failed call
  [[noreturn]] void fail(const std::string& where, const std::string& name, const char* what);

  void* handle_ = nullptr;     // tjhandle
  std::vector<uint8_t> cmyk_;  // scratch for CMYK images
};

// The DCT scales libjpeg-turbo offers that reduce (num/denom <= 1), largest first.
const std::vector<JpegScale>& jpeg_reducing_scales();
// The reducing scales worth decoding at: 1/1, 1/2, 1/4, 1/8, largest first. libjpeg-turbo has
// SIMD IDCTs for 8×8, 4×4, 2×2 and 1×1 outputs only; the others run scalar code, and 7/8
// decoded 1.6× slower than the full image on our benchmark set (bench/RESULTS.md).
const std::vector<JpegScale>& jpeg_fast_scales();

// Encodes RGB at `quality` (1..100) with 4:2:0 chroma subsampling (for tests and benchmarks).
std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality);

}  // namespace bigbatch::data
