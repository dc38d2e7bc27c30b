// libjpeg decoding: round trip, DCT-scaled sizes and pixels consistent with a full decode
// resampled, and corrupt or truncated data reported with the file's name.
#include "bigbatch/data/jpeg_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "bigbatch/data/image_resample.h"
#include "data/jpeg_tree.h"

namespace bigbatch::data {
namespace {

using testing::invalid_argument_message;
using testing::test_image;
using testing::with_claimed_size;

double mean_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  EXPECT_EQ(a.size(), b.size());
  double sum = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    sum += std::abs(static_cast<int>(a[i]) - static_cast<int>(b[i]));
  return sum / static_cast<double>(a.size());
}

TEST(JpegCodec, RoundTripIsCloseToTheSource) {
  const RgbImage source = test_image(96, 64, 3);
  const std::vector<uint8_t> jpeg = encode_jpeg(source, 95);
  JpegDecoder decoder;
  const JpegHeader header = decoder.read_header(jpeg, "[test]", "mem.jpg");
  EXPECT_EQ(header.width, 96);
  EXPECT_EQ(header.height, 64);
  EXPECT_FALSE(header.cmyk);
  RgbImage decoded;
  decoder.decode(jpeg, header, {1, 1}, decoded, "[test]", "mem.jpg");
  ASSERT_EQ(decoded.width, 96);
  ASSERT_EQ(decoded.height, 64);
  EXPECT_LT(mean_abs_diff(decoded.rgb, source.rgb), 4.0);  // lossy, but not by much at q95
}

TEST(JpegCodec, ReducingScalesAreSortedAndIncludeTheEighths) {
  const std::vector<JpegScale>& scales = jpeg_reducing_scales();
  ASSERT_GE(scales.size(), 4u);
  EXPECT_EQ(scales.front().num, scales.front().denom);  // 1/1 first
  for (size_t i = 1; i < scales.size(); ++i) EXPECT_LT(scales[i].factor(), scales[i - 1].factor());
  EXPECT_DOUBLE_EQ(scales.back().factor(), 1.0 / 8.0);
  const std::vector<JpegScale>& fast = jpeg_fast_scales();
  ASSERT_EQ(fast.size(), 4u);
  for (size_t i = 0; i < fast.size(); ++i) {
    EXPECT_EQ(fast[i].num, 1);
    EXPECT_EQ(fast[i].denom, 1 << i);
  }
}

TEST(JpegCodec, DctScaledDecodeMatchesAFullDecodeResampled) {
  const RgbImage source = test_image(200, 152, 7);
  const std::vector<uint8_t> jpeg = encode_jpeg(source, 90);
  JpegDecoder decoder;
  const JpegHeader header = decoder.read_header(jpeg, "[test]", "mem.jpg");
  RgbImage full;
  decoder.decode(jpeg, header, {1, 1}, full, "[test]", "mem.jpg");
  for (JpegScale scale : {JpegScale{1, 2}, JpegScale{3, 4}, JpegScale{1, 4}}) {
    RgbImage scaled;
    decoder.decode(jpeg, header, scale, scaled, "[test]", "mem.jpg");
    // TJSCALED: ceil(size · num / denom).
    EXPECT_EQ(scaled.width, (200 * scale.num + scale.denom - 1) / scale.denom);
    EXPECT_EQ(scaled.height, (152 * scale.num + scale.denom - 1) / scale.denom);
    // The full decode reduced by the antialiased resampler to the same size is close: the
    // IDCT's reduction is a (different) low-pass filter of the same image.
    const ResampleAxis y{0, 152, 0, 152, scaled.height, 0, scaled.height};
    const ResampleAxis x{0, 200, 0, 200, scaled.width, 0, scaled.width};
    std::vector<uint8_t> planar(static_cast<size_t>(3 * scaled.width * scaled.height));
    ResampleScratch scratch;
    resample_rgb(full, y, x, planar.data(), scratch);
    std::vector<uint8_t> interleaved(planar.size());
    const int64_t plane = scaled.width * scaled.height;
    for (int64_t p = 0; p < plane; ++p)
      for (int64_t c = 0; c < 3; ++c)
        interleaved[static_cast<size_t>(p * 3 + c)] = planar[static_cast<size_t>(c * plane + p)];
    EXPECT_LT(mean_abs_diff(interleaved, scaled.rgb), 4.0) << scale.num << "/" << scale.denom;
  }
}

// Pixel (y, x) of the whole image, channel c, from a window of it.
uint8_t at(const RgbImage& image, int64_t y, int64_t x, int64_t c) {
  return image.rgb[static_cast<size_t>(((y - image.top) * image.width + (x - image.left)) * 3 + c)];
}

TEST(JpegCodec, RegionDecodeHasTheWholeDecodesBytes) {
  // Every chroma layout, baseline and progressive, at every fast scale, for regions at the
  // image's corners and edges and inside it, iMCU-aligned or not: fancy upsampling reads
  // neighbouring samples, and a window's edge must not change the pixels inside the region.
  const RgbImage source = test_image(203, 157, 5);
  JpegDecoder decoder;
  for (ChromaSubsampling chroma :
       {ChromaSubsampling::s420, ChromaSubsampling::s422, ChromaSubsampling::s440, ChromaSubsampling::s444})
    for (bool progressive : {false, true}) {
      const std::vector<uint8_t> jpeg = encode_jpeg(source, 90, chroma, progressive);
      const JpegHeader header = decoder.read_header(jpeg, "[test]", "mem.jpg");
      for (const JpegScale& scale : jpeg_fast_scales()) {
        RgbImage whole;
        decoder.decode(jpeg, header, scale, whole, "[test]", "mem.jpg");
        const int64_t h = whole.height, w = whole.width;
        const std::vector<PixelRegion> regions = {{0, 0, h, w},
                                                  {0, 0, h / 2, w / 3},
                                                  {h / 3, w / 2, h, w},
                                                  {1, 1, h - 1, w - 1},
                                                  {h / 4, std::min<int64_t>(16, w / 2), h / 2, w / 2 + 1},
                                                  {h - 1, w - 1, h, w},
                                                  {7 % h, 17 % w, 7 % h + 1, 17 % w + 1}};
        for (const PixelRegion& r : regions) {
          RgbImage window;
          decoder.decode_region(jpeg, header, scale, r, window, "[test]", "mem.jpg");
          ASSERT_LE(window.top, r.top);
          ASSERT_LE(window.left, r.left);
          ASSERT_GE(window.top + window.height, r.bottom);
          ASSERT_GE(window.left + window.width, r.right);
          int64_t differ = 0;
          for (int64_t y = r.top; y < r.bottom; ++y)
            for (int64_t x = r.left; x < r.right; ++x)
              for (int64_t c = 0; c < 3; ++c) differ += at(window, y, x, c) != at(whole, y, x, c);
          EXPECT_EQ(differ, 0) << "chroma " << static_cast<int>(chroma) << " progressive " << progressive << " scale 1/"
                               << scale.denom << " rows [" << r.top << ", " << r.bottom << ") columns [" << r.left
                               << ", " << r.right << ")";
        }
      }
    }
}

TEST(JpegCodec, RegionOutsideTheImageIsAnError) {
  const std::vector<uint8_t> jpeg = encode_jpeg(test_image(40, 30, 2), 90);
  JpegDecoder decoder;
  const JpegHeader header = decoder.read_header(jpeg, "[test]", "a.jpg");
  RgbImage out;
  const std::string m = invalid_argument_message([&] {
    decoder.decode_region(jpeg, header, {1, 2}, {0, 0, 16, 21}, out, "[test]", "a.jpg");
  });
  EXPECT_NE(m.find("a.jpg: rows [0, 16) columns [0, 21) are not inside the 20x15 image"), std::string::npos) << m;
}

TEST(JpegCodec, CorruptDataNamesTheFile) {
  JpegDecoder decoder;
  const std::vector<uint8_t> garbage = {'n', 'o', 't', ' ', 'a', ' ', 'j', 'p', 'e', 'g'};
  std::string m = invalid_argument_message([&] { decoder.read_header(garbage, "[data:imagefolder]", "/x/bad.jpg"); });
  EXPECT_NE(m.find("[data:imagefolder] /x/bad.jpg: not a readable JPEG"), std::string::npos) << m;
  m = invalid_argument_message([&] { decoder.read_header({}, "[data:imagefolder]", "/x/empty.jpg"); });
  EXPECT_NE(m.find("/x/empty.jpg: empty file"), std::string::npos) << m;
}

TEST(JpegCodec, TruncatedStreamIsAnError) {
  // Large enough that a quarter off the end cuts the entropy-coded data, not the header.
  const std::vector<uint8_t> jpeg = encode_jpeg(test_image(256, 192, 9), 90);
  const std::vector<uint8_t> cut(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(jpeg.size() * 3 / 4));
  JpegDecoder decoder;
  const JpegHeader header = decoder.read_header(cut, "[test]", "cut.jpg");  // the header is intact
  RgbImage out;
  const std::string m = invalid_argument_message([&] {
    decoder.decode(cut, header, {1, 1}, out, "[test]", "cut.jpg");
  });
  EXPECT_NE(m.find("cut.jpg: corrupt JPEG"), std::string::npos) << m;
  // Also when the rows asked for lie above the cut: the file is still refused, as PIL does.
  const std::string top = invalid_argument_message([&] {
    decoder.decode_region(cut, header, {1, 1}, {0, 0, 16, 64}, out, "[test]", "cut.jpg");
  });
  EXPECT_NE(top.find("cut.jpg: corrupt JPEG: the data ends before the end-of-image marker"), std::string::npos) << top;
  // The decoder is usable after a failure (its decompressor is reset).
  const std::vector<uint8_t> good = encode_jpeg(test_image(40, 30, 2), 90);
  EXPECT_EQ(decoder.read_header(good, "[test]", "good.jpg").width, 40);
  decoder.decode(good, decoder.read_header(good, "[test]", "good.jpg"), {1, 1}, out, "[test]", "good.jpg");
  EXPECT_EQ(out.height, 30);
}

TEST(JpegCodec, DataShorterThanItsHeaderIsAnError) {
  // libjpeg meets a marker where the scan's data should go on ("premature end of data segment"),
  // warns, and fills the rest with grey: the file ends properly, but the image is not all there.
  for (const bool progressive : {false, true}) {
    SCOPED_TRACE(progressive ? "progressive" : "baseline");
    const std::vector<uint8_t> jpeg = encode_jpeg(test_image(256, 192, 9), 90, ChromaSubsampling::s420, progressive);
    // A header that claims 5 times the rows the data holds.
    const std::vector<uint8_t> tall = with_claimed_size(jpeg, 256, 960);
    // A file cut short and closed with an end-of-image marker.
    std::vector<uint8_t> cut(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(jpeg.size() * 3 / 4));
    cut.insert(cut.end(), {0xFF, 0xD9});
    JpegDecoder decoder;
    RgbImage out;
    struct Short {
      const std::vector<uint8_t>* bytes;
      const char* size;
    };
    for (const auto& [bytes, size] : {Short{&tall, "256x960"}, Short{&cut, "256x192"}}) {
      const JpegHeader header = decoder.read_header(*bytes, "[test]", "short.jpg");
      const std::string m = invalid_argument_message([&] {
        decoder.decode(*bytes, header, {1, 1}, out, "[test]", "short.jpg");
      });
      EXPECT_NE(m.find(std::string("short.jpg: corrupt JPEG: its data ends before the ") + size +
                       " pixels its header declares"),
                std::string::npos)
          << m;
      // At any DCT scale: the entropy-coded data is the same.
      EXPECT_NE(invalid_argument_message([&] {
                  decoder.decode(*bytes, header, {1, 8}, out, "[test]", "short.jpg");
                }).find("its data ends before"),
                std::string::npos);
    }
    // The decoder is usable afterwards.
    decoder.decode(jpeg, decoder.read_header(jpeg, "[test]", "good.jpg"), {1, 1}, out, "[test]", "good.jpg");
    EXPECT_EQ(out.height, 192);
  }
}

TEST(JpegCodec, HeaderOverThePixelBudgetIsRefusedBeforeDecoding) {
  // A progressive file of a few hundred bytes whose header claims 60000x60000: decoding it would
  // take 10 GiB of coefficients.
  const std::vector<uint8_t> small = encode_jpeg(test_image(48, 40, 5), 90, ChromaSubsampling::s420, true);
  const std::vector<uint8_t> bomb = with_claimed_size(small, 60000, 60000);
  ASSERT_LT(bomb.size(), 4096u);
  JpegDecoder decoder;
  const std::string m = invalid_argument_message([&] { decoder.read_header(bomb, "[data:imagefolder]", "bomb.jpg"); });
  EXPECT_NE(m.find("[data:imagefolder] bomb.jpg: JPEG header claims 60000x60000 = 3600000000 pixels, over the limit "
                   "of 89478485 (--max-image-pixels"),
            std::string::npos)
      << m;
  // The header alone decides: a sound image one pixel over a budget is refused the same way,
  // and the bomb's header passes a budget that allows it (so it is the budget that refused it).
  EXPECT_NE(invalid_argument_message([&] {
              decoder.read_header(small, "[test]", "a.jpg", 48 * 40 - 1);
            }).find("a.jpg: JPEG header claims 48x40 = 1920 pixels, over the limit of 1919"),
            std::string::npos);
  EXPECT_EQ(decoder.read_header(small, "[test]", "a.jpg", 48 * 40).width, 48);
  EXPECT_EQ(decoder.read_header(bomb, "[test]", "bomb.jpg", int64_t{60000} * 60000).height, 60000);
}

TEST(JpegCodec, DecodeRefusesBytesWhoseHeaderWasNotTheOneChecked) {
  // A header checked for one file must not let another file's size through to the decoder.
  const std::vector<uint8_t> small = encode_jpeg(test_image(48, 40, 5), 90);
  const std::vector<uint8_t> bomb = with_claimed_size(small, 60000, 60000);
  JpegDecoder decoder;
  const JpegHeader header = decoder.read_header(small, "[test]", "a.jpg");
  RgbImage out;
  const std::string m = invalid_argument_message([&] { decoder.decode(bomb, header, {1, 1}, out, "[test]", "b.jpg"); });
  EXPECT_NE(m.find("b.jpg: JPEG header gives 60000x60000, not 48x40"), std::string::npos) << m;
  EXPECT_TRUE(out.rgb.empty());
}

}  // namespace
}  // namespace bigbatch::data
