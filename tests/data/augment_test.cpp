// Augmentation: geometry of crop and flip, the normalised writer, and determinism per
// (seed, epoch, example) whatever the batch composition or order.
#include "bigbatch/data/augment.h"

#include <gtest/gtest.h>

#include <set>

#include "bigbatch/core/error.h"

namespace bigbatch::data {
namespace {

// C×H×W image with distinct nonzero pixels: 1 + (c·H + y)·W + x.
std::vector<uint8_t> ramp(int64_t C, int64_t H, int64_t W) {
  std::vector<uint8_t> img(static_cast<size_t>(C * H * W));
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>(1 + i);
  return img;
}

Dataset small_dataset(int64_t n, int64_t C, int64_t H, int64_t W) {
  Dataset d;
  d.name = "small";
  d.channels = C;
  d.height = H;
  d.width = W;
  d.num_classes = 5;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t p = 0; p < C * H * W; ++p) d.pixels.push_back(static_cast<uint8_t>(i * 13 + p * 3));
    d.labels.push_back(static_cast<int32_t>(i % 5));
  }
  d.mean.assign(static_cast<size_t>(C), 0.25f);
  d.stddev.assign(static_cast<size_t>(C), 0.5f);
  return d;
}

TEST(Augment, FlipMirrorsRows) {
  const std::vector<uint8_t> src = ramp(2, 3, 5);
  std::vector<uint8_t> dst(src.size());
  apply_crop_flip(src.data(), 2, 3, 5, {0, 0, true}, dst.data());
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t y = 0; y < 3; ++y)
      for (int64_t x = 0; x < 5; ++x) EXPECT_EQ(dst[(c * 3 + y) * 5 + x], src[(c * 3 + y) * 5 + (4 - x)]);
}

TEST(Augment, CropShiftsWithZeroFill) {
  const std::vector<uint8_t> src = ramp(1, 4, 6);
  std::vector<uint8_t> dst(src.size());
  apply_crop_flip(src.data(), 1, 4, 6, {1, -2, false}, dst.data());
  for (int64_t y = 0; y < 4; ++y) {
    for (int64_t x = 0; x < 6; ++x) {
      // Output (y, x) shows source (y + 1, x − 2): the last row and first two columns are padding.
      const uint8_t expected = (y + 1 < 4 && x - 2 >= 0) ? src[(y + 1) * 6 + (x - 2)] : 0;
      EXPECT_EQ(dst[y * 6 + x], expected) << y << "," << x;
    }
  }
  // Crop then flip: output (y, x) shows cropped (y, W−1−x) = source (y + 1, W−1−x − 2).
  apply_crop_flip(src.data(), 1, 4, 6, {1, -2, true}, dst.data());
  EXPECT_EQ(dst[0 * 6 + 0], src[1 * 6 + 3]);
  EXPECT_EQ(dst[0 * 6 + 5], 0);
  EXPECT_EQ(dst[3 * 6 + 0], 0);
}

TEST(Augment, WriterIsCropFlipThenNormalise) {
  const Dataset d = small_dataset(6, 3, 8, 8);
  AugmentOptions o{AugmentKind::standard, 2, true, 11};
  const std::vector<int64_t> indices = {4, 0, 5};
  std::vector<float> dst(3 * 192);
  std::vector<int32_t> labels(3);
  write_augmented(d, o, 3, indices, dst, labels);
  EXPECT_EQ(labels, (std::vector<int32_t>{4, 0, 0}));
  std::vector<uint8_t> moved(192);
  for (size_t b = 0; b < 3; ++b) {
    apply_crop_flip(d.image(indices[b]), 3, 8, 8, draw_crop_flip(o, 3, indices[b]), moved.data());
    for (int64_t p = 0; p < 192; ++p) {
      const ChannelAffine a = channel_affine(d, p / 64);
      ASSERT_EQ(dst[b * 192 + static_cast<size_t>(p)],
                static_cast<float>(moved[static_cast<size_t>(p)]) * a.scale + a.shift);
    }
  }
  // The padding is a black pixel after normalisation: (0 − 0.25)/0.5.
  EXPECT_FLOAT_EQ(channel_affine(d, 0).shift, -0.5f);
}

TEST(Augment, NoneIsPlainNormalisation) {
  const Dataset d = small_dataset(4, 1, 4, 4);
  const std::vector<int64_t> indices = {3, 1};
  std::vector<float> a(32), b(32);
  std::vector<int32_t> la(2), lb(2);
  write_augmented(d, AugmentOptions{}, 7, indices, a, la);
  write_normalized(d, indices, b, lb);
  EXPECT_EQ(a, b);
  EXPECT_EQ(la, lb);
  EXPECT_NEAR(a[0], (d.image(3)[0] / 255.0 - 0.25) / 0.5, 1e-6);
}

TEST(Augment, DependsOnlyOnSeedEpochAndExample) {
  const Dataset d = small_dataset(8, 3, 8, 8);
  const AugmentOptions o{AugmentKind::standard, 3, true, 5};
  // The same examples in another order and another batch split give the same images.
  const std::vector<int64_t> forward = {0, 1, 2, 3, 4, 5, 6, 7}, backward = {7, 6, 5, 4, 3, 2, 1, 0};
  std::vector<float> all(8 * 192), reversed(8 * 192), half(4 * 192);
  std::vector<int32_t> labels(8), half_labels(4);
  write_augmented(d, o, 2, forward, all, labels);
  write_augmented(d, o, 2, backward, reversed, labels);
  for (size_t b = 0; b < 8; ++b)
    EXPECT_TRUE(std::equal(all.begin() + b * 192, all.begin() + (b + 1) * 192, reversed.begin() + (7 - b) * 192));
  write_augmented(d, o, 2, std::span(forward).subspan(4), half, half_labels);
  EXPECT_TRUE(std::equal(half.begin(), half.end(), all.begin() + 4 * 192));

  // Transforms vary with the epoch and the example, and cover every offset and both flips.
  std::set<int64_t> dys, dxs;
  int flips = 0, same_next_epoch = 0;
  for (int64_t i = 0; i < 2000; ++i) {
    const CropFlip t = draw_crop_flip(o, 0, i), u = draw_crop_flip(o, 0, i), v = draw_crop_flip(o, 1, i);
    EXPECT_TRUE(t.dy == u.dy && t.dx == u.dx && t.flip == u.flip);
    same_next_epoch += (t.dy == v.dy && t.dx == v.dx && t.flip == v.flip);
    dys.insert(t.dy);
    dxs.insert(t.dx);
    flips += t.flip;
  }
  EXPECT_EQ(dys, (std::set<int64_t>{-3, -2, -1, 0, 1, 2, 3}));
  EXPECT_EQ(dxs, dys);
  EXPECT_NEAR(flips, 1000, 120);
  EXPECT_LT(same_next_epoch, 100);  // chance is 1/98
  const CropFlip none = draw_crop_flip(AugmentOptions{}, 0, 5);
  EXPECT_TRUE(none.dy == 0 && none.dx == 0 && !none.flip);
}

TEST(Augment, ParsesFlagAndRejectsBadPadding) {
  EXPECT_EQ(parse_augment_kind("standard"), AugmentKind::standard);
  EXPECT_EQ(parse_augment_kind("none"), AugmentKind::none);
  EXPECT_STREQ(augment_kind_name(AugmentKind::standard), "standard");
  EXPECT_THROW(parse_augment_kind("heavy"), InvalidArgument);
  const Dataset d = small_dataset(2, 1, 4, 4);
  std::vector<float> dst(16);
  std::vector<int32_t> labels(1);
  const std::vector<int64_t> index = {0};
  EXPECT_THROW(write_augmented(d, AugmentOptions{AugmentKind::standard, 4, true, 0}, 0, index, dst, labels),
               InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::data
