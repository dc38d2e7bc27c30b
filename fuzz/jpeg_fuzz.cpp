// Fuzz target: JPEG bytes through data::JpegDecoder as training reads them: the header, then a
// whole decode, then a region at a reduced DCT scale (both picked from the input's size). One
// decoder serves every input, as one serves every image of a decoding thread.
#include "bigbatch/core/error.h"
#include "bigbatch/data/jpeg_codec.h"
#include "fuzz_target.h"

namespace {
// Small next to the default (89M pixels), so that one input costs milliseconds; the check
// against it is the same code.
constexpr int64_t kMaxPixels = int64_t{1} << 20;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bigbatch::data::JpegDecoder decoder;
  const std::span<const uint8_t> jpeg(data, size);
  bigbatch::data::RgbImage image;
  try {
    const bigbatch::data::JpegHeader header = decoder.read_header(jpeg, "[fuzz:jpeg]", "input", kMaxPixels);
    try {
      decoder.decode(jpeg, header, {1, 1}, image, "[fuzz:jpeg]", "input");
    } catch (const bigbatch::Error&) {
    }
    const auto& scales = bigbatch::data::jpeg_fast_scales();
    const bigbatch::data::JpegScale scale = scales[size % scales.size()];
    const int64_t width = scale.apply(header.width), height = scale.apply(header.height);
    const bigbatch::data::PixelRegion region{height / 4, width / 3, height / 4 + (height + 1) / 2,
                                             width / 3 + (width + 1) / 2};
    decoder.decode_region(jpeg, header, scale, region, image, "[fuzz:jpeg]", "input");
  } catch (const bigbatch::Error&) {
  }
  return 0;
}
