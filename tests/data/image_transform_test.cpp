// The ImageNet transforms' geometry: RandomResizedCrop boxes inside the image within the
// scale and ratio bounds, the centre fallback, seeded reproducibility, the flip's rate, the
// evaluation resize + centre crop (torchvision's arithmetic), the DCT scale choice, and the
// resampler's identity and constant-image properties, and decoding only what a plan reads.
#include "bigbatch/data/image_transform.h"

#include <gtest/gtest.h>

#include <cmath>

#include "bigbatch/core/error.h"
#include "data/jpeg_tree.h"

namespace bigbatch::data {
namespace {

// torchvision's fallback after 10 failed tries: centred, full in one dimension.
CropBox fallback_box(int64_t h, int64_t w) {
  const double in_ratio = static_cast<double>(w) / static_cast<double>(h);
  CropBox b{0, 0, h, w};
  if (in_ratio < 0.75) b.height = static_cast<int64_t>(std::nearbyint(static_cast<double>(w) / 0.75));
  if (in_ratio > 4.0 / 3.0) b.width = static_cast<int64_t>(std::nearbyint(static_cast<double>(h) * 4.0 / 3.0));
  b.top = (h - b.height) / 2;
  b.left = (w - b.width) / 2;
  return b;
}

bool same(const CropBox& a, const CropBox& b) {
  return a.top == b.top && a.left == b.left && a.height == b.height && a.width == b.width;
}

TEST(RandomResizedCrop, BoxesLieInsideWithinScaleAndRatio) {
  ImageTransformOptions o;
  for (auto [h, w] : {std::pair<int64_t, int64_t>{375, 500}, {500, 375}, {224, 224}, {60, 1000}}) {
    int fallbacks = 0;
    for (uint64_t seed = 0; seed < 500; ++seed) {
      Rng rng(seed);
      const CropBox b = random_resized_crop_box(h, w, o, rng);
      ASSERT_GE(b.top, 0);
      ASSERT_GE(b.left, 0);
      ASSERT_GT(b.height, 0);
      ASSERT_GT(b.width, 0);
      ASSERT_LE(b.top + b.height, h);
      ASSERT_LE(b.left + b.width, w);
      if (same(b, fallback_box(h, w))) {
        ++fallbacks;
        continue;
      }
      const double area = static_cast<double>(b.height * b.width) / static_cast<double>(h * w);
      const double ratio = static_cast<double>(b.width) / static_cast<double>(b.height);
      // Rounding w and h to integers moves the area and the ratio by up to 1/w + 1/h.
      const double slack = 1.0 / static_cast<double>(b.width) + 1.0 / static_cast<double>(b.height);
      EXPECT_LE(area, 1.0);
      EXPECT_GE(area, 0.08 * (1 - slack));
      EXPECT_GE(ratio, 0.75 * (1 - slack));
      EXPECT_LE(ratio, 4.0 / 3.0 * (1 + slack));
    }
    // A 1:16 image almost never fits a 3/4..4/3 crop of 8% of its area; a 4:3 one always does.
    if (h == 60) {
      EXPECT_GT(fallbacks, 400);
    }
    if (h == 375) {
      EXPECT_LT(fallbacks, 5);
    }
  }
}

TEST(RandomResizedCrop, FallbackClampsTheRatio) {
  ImageTransformOptions o;
  o.scale_min = o.scale_max = 1.0;  // the whole area of a 1:10 image never has a ratio in range
  Rng rng(1);
  const CropBox b = random_resized_crop_box(20, 200, o, rng);
  EXPECT_EQ(b.height, 20);
  EXPECT_EQ(b.width, 27);  // round(20 · 4/3)
  EXPECT_EQ(b.left, (200 - 27) / 2);
  EXPECT_EQ(b.top, 0);
}

TEST(TrainPlan, IsSeededByRunEpochAndIndex) {
  ImageTransformOptions o;
  o.seed = 5;
  const JpegHeader header{500, 375, false};
  const ImagePlan a = plan_train_image(header, o, 2, 17), b = plan_train_image(header, o, 2, 17);
  EXPECT_EQ(a.box.top, b.box.top);
  EXPECT_EQ(a.box.left, b.box.left);
  EXPECT_EQ(a.box.width, b.box.width);
  EXPECT_EQ(a.flip, b.flip);
  int differ_index = 0, differ_epoch = 0, differ_seed = 0, flips = 0;
  for (int64_t i = 0; i < 400; ++i) {
    const ImagePlan p = plan_train_image(header, o, 2, i);
    const ImagePlan q = plan_train_image(header, o, 3, i);
    ImageTransformOptions other = o;
    other.seed = 6;
    const ImagePlan r = plan_train_image(header, other, 2, i);
    differ_index += p.box.left != a.box.left || p.box.width != a.box.width;
    differ_epoch += p.box.left != q.box.left || p.box.width != q.box.width;
    differ_seed += p.box.left != r.box.left || p.box.width != r.box.width;
    flips += p.flip;
  }
  EXPECT_GT(differ_index, 350);
  EXPECT_GT(differ_epoch, 350);
  EXPECT_GT(differ_seed, 350);
  EXPECT_GT(flips, 140);  // about half of 400
  EXPECT_LT(flips, 260);
  o.flip = false;
  for (int64_t i = 0; i < 50; ++i) EXPECT_FALSE(plan_train_image(header, o, 2, i).flip);
}

TEST(TrainPlan, ScalesTheDecodeOnlyWhenTheCropKeepsEnoughPixels) {
  ImageTransformOptions o;
  for (int64_t i = 0; i < 300; ++i) {
    const ImagePlan p = plan_train_image({1000, 800, false}, o, 0, i);
    const double f = p.scale.factor();
    EXPECT_GE(static_cast<double>(p.box.width) * f, 224.0) << i;
    EXPECT_GE(static_cast<double>(p.box.height) * f, 224.0) << i;
    // The next smaller scale would have lost pixels (or there is none).
    const std::vector<JpegScale>& scales = jpeg_fast_scales();
    for (size_t k = 0; k + 1 < scales.size(); ++k)
      if (scales[k].num == p.scale.num && scales[k].denom == p.scale.denom) {
        const double g = scales[k + 1].factor();
        EXPECT_TRUE(static_cast<double>(p.box.width) * g < 224.0 || static_cast<double>(p.box.height) * g < 224.0);
      }
    // The resampling box is the crop in the scaled image.
    EXPECT_NEAR(p.x.box_begin, static_cast<double>(p.box.left) * f, 1e-9);
    EXPECT_NEAR(p.x.box_end, static_cast<double>(p.box.left + p.box.width) * f, 1e-9);
    EXPECT_EQ(p.x.out_size, 224);
    EXPECT_LE(p.x.clip_end, p.scale.apply(1000));
    EXPECT_LE(p.y.clip_end, p.scale.apply(800));
  }
  o.dct_scaling = false;
  EXPECT_EQ(plan_train_image({1000, 800, false}, o, 0, 0).scale.denom, 1);
}

TEST(EvalGeometry, ResizesTheShorterSideThenCropsTheCentre) {
  // 500×375 (W×H): shorter side 375 → 256, longer int(256·500/375) = 341.
  const EvalGeometry g = eval_geometry(375, 500, 256, 224);
  EXPECT_EQ(g.resized_height, 256);
  EXPECT_EQ(g.resized_width, 341);
  EXPECT_EQ(g.top, 16);
  EXPECT_EQ(g.left, 58);                                     // round(58.5) is 58 in Python: halves go to even
  const EvalGeometry t = eval_geometry(500, 375, 256, 224);  // portrait
  EXPECT_EQ(t.resized_height, 341);
  EXPECT_EQ(t.resized_width, 256);
  EXPECT_EQ(t.top, 58);
  const EvalGeometry same = eval_geometry(256, 300, 256, 224);  // already 256: unchanged
  EXPECT_EQ(same.resized_width, 300);
  EXPECT_EQ(same.left, 38);
  ImageTransformOptions o;
  EXPECT_EQ(o.eval_resize(), 256);
  o.size = 32;
  EXPECT_EQ(o.eval_resize(), 37);  // 32·256/224 = 36.6
  o.size = 299;
  EXPECT_EQ(o.eval_resize(), 342);  // Inception-v3: torchvision's reference resizes to 342
}

TEST(EvalPlan, UsesTheDctScaleThatKeepsTheResizedSize) {
  ImageTransformOptions o;
  const ImagePlan p = plan_eval_image({2000, 1500, false}, o);  // resized to 341×256
  EXPECT_GE(p.scale.apply(1500), 256);
  EXPECT_LT(p.scale.factor(), 1.0);
  EXPECT_EQ(p.y.out_size, 256);
  EXPECT_EQ(p.y.out_begin, 16);
  EXPECT_EQ(p.y.out_count, 224);
  EXPECT_EQ(p.x.out_size, 341);
  EXPECT_EQ(p.x.out_begin, 58);
  EXPECT_FALSE(p.flip);
  // 500×375 → 341×256: 1/2 would leave 250×188, so the full image is decoded.
  EXPECT_EQ(plan_eval_image({500, 375, false}, o).scale.denom, 1);
  const ImagePlan large = plan_eval_image({1200, 900, false}, o);  // → 341×256: 1/2 leaves 600×450
  EXPECT_EQ(large.scale.denom, 2);
  o.dct_scaling = false;
  EXPECT_EQ(plan_eval_image({500, 375, false}, o).scale.denom, 1);
}

TEST(Resample, SameSizeIsTheIdentityAndAConstantStaysConstant) {
  RgbImage image{7, 5, {}};
  for (int i = 0; i < 7 * 5 * 3; ++i) image.rgb.push_back(static_cast<uint8_t>(i * 37 % 256));
  ResampleScratch scratch;
  std::vector<uint8_t> out(7 * 5 * 3);
  resample_rgb(image, {0, 5, 0, 5, 5, 0, 5}, {0, 7, 0, 7, 7, 0, 7}, out.data(), scratch);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x)
      for (int c = 0; c < 3; ++c)
        ASSERT_EQ(out[static_cast<size_t>((c * 5 + y) * 7 + x)], image.rgb[static_cast<size_t>((y * 7 + x) * 3 + c)]);
  RgbImage flat{40, 30, std::vector<uint8_t>(40 * 30 * 3, 77)};
  std::vector<uint8_t> small(3 * 9 * 11);
  resample_rgb(flat, {2.5, 27.0, 2, 28, 9, 0, 9}, {1.0, 33.5, 1, 34, 11, 0, 11}, small.data(), scratch);
  for (uint8_t v : small) ASSERT_EQ(v, 77);
  // A window of a larger image that lacks rows the axis reads is refused, not read past.
  RgbImage window{40, 20, std::vector<uint8_t>(40 * 20 * 3, 77), 10, 0};
  EXPECT_THROW(resample_rgb(window, {2.5, 27.0, 2, 28, 9, 0, 9}, {1.0, 33.5, 1, 34, 11, 0, 11}, small.data(), scratch),
               InvalidArgument);
  window.height = 30;  // rows [10, 40) of 40: holds every row from 10 on, but the axis reads rows 2..9
  window.rgb.resize(40 * 30 * 3, 77);
  EXPECT_THROW(resample_rgb(window, {2.5, 27.0, 2, 28, 9, 0, 9}, {1.0, 33.5, 1, 34, 11, 0, 11}, small.data(), scratch),
               InvalidArgument);
}

TEST(RenderImage, DecodingOnlyWhatThePlanReadsGivesTheWholeDecodesBytes) {
  // A 4:2:0 photo-sized image: training crops at every DCT scale, and the evaluation crop.
  const std::vector<uint8_t> jpeg = encode_jpeg(testing::test_image(1003, 751, 3), 90);
  JpegDecoder decoder;
  const JpegHeader header = decoder.read_header(jpeg, "[test]", "a.jpg");
  ImageTransformOptions o;
  std::vector<ImagePlan> plans = {plan_eval_image(header, o)};
  for (int64_t index = 0; index < 24; ++index) plans.push_back(plan_train_image(header, o, 0, index));
  o.dct_scaling = false;
  plans.push_back(plan_eval_image(header, o));
  for (int64_t index = 0; index < 4; ++index) plans.push_back(plan_train_image(header, o, 0, index));
  RgbImage whole, window;
  ResampleScratch scratch;
  std::vector<uint8_t> expected(3 * 224 * 224), got(3 * 224 * 224);
  for (size_t i = 0; i < plans.size(); ++i) {
    const ImagePlan& plan = plans[i];
    decoder.decode(jpeg, header, plan.scale, whole, "[test]", "a.jpg");
    resample_rgb(whole, plan.y, plan.x, expected.data(), scratch);
    render_image(decoder, jpeg, header, plan, window, scratch, got.data(), "[test]", "a.jpg");
    EXPECT_LT(window.width * window.height, whole.width * whole.height) << "plan " << i;  // it decoded less
    EXPECT_EQ(got, expected) << "plan " << i << " at 1/" << plan.scale.denom;
  }
}

TEST(Normalize, MirrorsAndAppliesMeanAndStd) {
  ImageTransformOptions o;
  const std::vector<uint8_t> planar = {0, 255, 10, 20, 30, 40};  // 3 channels of 1×2
  std::vector<float> out(6);
  normalize_planar(planar.data(), 1, 2, true, o, out.data());
  EXPECT_NEAR(out[0], (255 / 255.0 - 0.485) / 0.229, 1e-5);
  EXPECT_NEAR(out[1], (0 / 255.0 - 0.485) / 0.229, 1e-5);
  EXPECT_NEAR(out[2], (20 / 255.0 - 0.456) / 0.224, 1e-5);
  EXPECT_NEAR(out[5], (30 / 255.0 - 0.406) / 0.225, 1e-5);
}

}  // namespace
}  // namespace bigbatch::data
