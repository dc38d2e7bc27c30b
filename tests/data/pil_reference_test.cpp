// Our decode and transforms against the PyTorch peer's (torchvision on PIL, run through
// /usr/bin/python3): the same bytes without DCT scaling, close with it. Skipped when PIL or
// torchvision is missing.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "bigbatch/data/image_transform.h"
#include "data/jpeg_tree.h"

#ifndef BIGBATCH_PIL_REFERENCE
#error "BIGBATCH_PIL_REFERENCE must name tests/data/pil_reference.py"
#endif

namespace bigbatch::data {
namespace {

using testing::TempDir;

class PilReference : public ::testing::Test {
 protected:
  void SetUp() override {
    // ImageNet-like size and quality, with odd dimensions so that rounding matters.
    jpeg_ = encode_jpeg(testing::test_image(499, 373, 11), 90);
    path_ = dir_.file("peer.jpg");
    testing::write_file(path_, jpeg_);
    header_ = decoder_.read_header(jpeg_, "[test]", path_);
  }

  // PIL's interleaved pixels for `args`; empty after GTEST_SKIP when the peer is missing.
  std::vector<uint8_t> peer(const std::string& args) {
    const std::string out = dir_.file("peer.raw");
    const std::string command =
        "/usr/bin/python3 " + std::string(BIGBATCH_PIL_REFERENCE) + " " + path_ + " " + out + " " + args;
    const int status = std::system(command.c_str());
    if (status != 0 && WIFEXITED(status) && WEXITSTATUS(status) == 77) return {};
    EXPECT_EQ(status, 0) << command;
    return testing::read_file(out);
  }

  // Our planar result of a plan, interleaved like PIL's tobytes().
  std::vector<uint8_t> ours(const ImagePlan& plan) {
    // Through the loader's path: only the part of the image the plan reads is decoded.
    RgbImage image;
    std::vector<uint8_t> planar(static_cast<size_t>(3 * plan.y.out_count * plan.x.out_count));
    ResampleScratch scratch;
    render_image(decoder_, jpeg_, header_, plan, image, scratch, planar.data(), "[test]", path_);
    const int64_t plane = plan.y.out_count * plan.x.out_count;
    std::vector<uint8_t> rgb(planar.size());
    for (int64_t p = 0; p < plane; ++p)
      for (int64_t c = 0; c < 3; ++c) rgb[static_cast<size_t>(3 * p + c)] = planar[static_cast<size_t>(c * plane + p)];
    return rgb;
  }

  static int max_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, double* mean = nullptr) {
    EXPECT_EQ(a.size(), b.size());
    int worst = 0;
    double sum = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      const int d = std::abs(static_cast<int>(a[i]) - static_cast<int>(b[i]));
      worst = std::max(worst, d);
      sum += d;
    }
    if (mean != nullptr) *mean = sum / static_cast<double>(std::max<size_t>(a.size(), 1));
    return worst;
  }

  TempDir dir_;
  std::vector<uint8_t> jpeg_;
  std::string path_;
  JpegDecoder decoder_;
  JpegHeader header_;
};

TEST_F(PilReference, FullDecodeIsIdentical) {
  const std::vector<uint8_t> expected = peer("decode");
  if (expected.empty()) GTEST_SKIP() << "PIL or torchvision missing";
  RgbImage image;
  decoder_.decode(jpeg_, header_, {1, 1}, image, "[test]", path_);
  EXPECT_EQ(max_diff(image.rgb, expected), 0);
}

TEST_F(PilReference, CmykJpegDecodesLikePil) {
  // PIL writes the CMYK JPEG (Adobe's inverted convention) and converts it to RGB.
  const std::vector<uint8_t> expected = peer("cmyk");
  if (expected.empty()) GTEST_SKIP() << "PIL or torchvision missing";
  const std::vector<uint8_t> jpeg = testing::read_file(path_);
  const JpegHeader header = decoder_.read_header(jpeg, "[test]", path_);
  EXPECT_TRUE(header.cmyk);
  RgbImage image;
  decoder_.decode(jpeg, header, {1, 1}, image, "[test]", path_);
  EXPECT_EQ(image.width, 80);
  EXPECT_EQ(max_diff(image.rgb, expected), 0);
  // A window of it (four channels per decoded pixel) holds the same pixels.
  RgbImage window;
  decoder_.decode_region(jpeg, header, {1, 1}, {9, 21, 40, 50}, window, "[test]", path_);
  for (int64_t y = 9; y < 40; ++y)
    for (int64_t x = 21; x < 50; ++x)
      for (int64_t c = 0; c < 3; ++c)
        ASSERT_EQ(window.rgb[static_cast<size_t>(((y - window.top) * window.width + x - window.left) * 3 + c)],
                  image.rgb[static_cast<size_t>((y * image.width + x) * 3 + c)])
            << y << " " << x;
}

TEST_F(PilReference, RandomResizedCropWithoutDctScalingIsIdentical) {
  ImageTransformOptions o;
  o.dct_scaling = false;
  for (int64_t index : {0, 1, 2, 3}) {
    const ImagePlan plan = plan_train_image(header_, o, 0, index);
    const CropBox& b = plan.box;
    const std::vector<uint8_t> expected = peer("resized_crop " + std::to_string(b.top) + " " + std::to_string(b.left) +
                                               " " + std::to_string(b.height) + " " + std::to_string(b.width) + " 224");
    if (expected.empty()) GTEST_SKIP() << "PIL or torchvision missing";
    EXPECT_EQ(max_diff(ours(plan), expected), 0) << "example " << index;
  }
}

TEST_F(PilReference, EvalTransformWithoutDctScalingIsIdentical) {
  ImageTransformOptions o;
  o.dct_scaling = false;
  const std::vector<uint8_t> expected = peer("eval 256 224");
  if (expected.empty()) GTEST_SKIP() << "PIL or torchvision missing";
  EXPECT_EQ(max_diff(ours(plan_eval_image(header_, o)), expected), 0);
}

TEST_F(PilReference, DctScaledCropsStayClose) {
  // A larger photo: crops of at least 448 pixels both ways, decoded at 1/2, are common.
  jpeg_ = encode_jpeg(testing::test_image(1003, 751, 12), 90);
  testing::write_file(path_, jpeg_);
  header_ = decoder_.read_header(jpeg_, "[test]", path_);
  ImageTransformOptions o;
  int scaled = 0;
  for (int64_t index = 0; index < 200 && scaled < 3; ++index) {
    const ImagePlan plan = plan_train_image(header_, o, 1, index);
    if (plan.scale.num == plan.scale.denom) continue;
    ++scaled;
    const CropBox& b = plan.box;
    const std::vector<uint8_t> expected = peer("resized_crop " + std::to_string(b.top) + " " + std::to_string(b.left) +
                                               " " + std::to_string(b.height) + " " + std::to_string(b.width) + " 224");
    if (expected.empty()) GTEST_SKIP() << "PIL or torchvision missing";
    double mean = 0;
    const int worst = max_diff(ours(plan), expected, &mean);
    std::printf("example %lld at scale %d/%d: mean |diff| %.3f, max %d (of 255)\n", static_cast<long long>(index),
                plan.scale.num, plan.scale.denom, mean, worst);
    // Another low-pass filter of the same pixels: close on average, not bit-identical.
    EXPECT_LT(mean, 2.5) << "example " << index << " at scale " << plan.scale.num << "/" << plan.scale.denom;
  }
  EXPECT_EQ(scaled, 3);
}

}  // namespace
}  // namespace bigbatch::data
