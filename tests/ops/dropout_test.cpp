// Reference dropout: the kept fraction and the exact 1/(1-p) scale, the mask's definition
// (logical NCHW index in the global batch), the same mask however a batch is split, backward
// with the forward's mask, streams, p = 0 as the identity, the gradient vs finite differences,
// and parameter errors.
#include "bigbatch/ops/dropout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "bigbatch/core/error.h"
#include "testing/gradcheck.h"

namespace bigbatch::ops {
namespace {

using testing::check_gradient;
using testing::dot;
using testing::nan_vector;
using testing::random_vector;

int64_t count_nonzero(const std::vector<double>& v) {
  int64_t k = 0;
  for (const double x : v) k += x != 0.0;
  return k;
}

// 10^6 ones: the kept fraction is a binomial proportion, within 5 standard deviations of 1 - p,
// and every kept value is exactly 1/(1 - p) (2 and 1.25: exact in binary).
TEST(Dropout, KeptFractionAndScale) {
  const Dims4 d{10, 10, 100, 100};
  const std::vector<double> ones(static_cast<size_t>(d.numel()), 1.0);
  for (const double p : {0.5, 0.2}) {
    SCOPED_TRACE("p " + std::to_string(p));
    auto dst = nan_vector(d.numel());
    dropout_forward<double>({p}, {dropout_stream(1, 2, 3), 0}, d, ones.data(), dst.data());
    const double kept = static_cast<double>(count_nonzero(dst)) / static_cast<double>(d.numel());
    const double sd = std::sqrt(p * (1 - p) / static_cast<double>(d.numel()));
    EXPECT_NEAR(kept, 1 - p, 5 * sd);
    const double scale = p == 0.5 ? 2.0 : 1.25;
    for (const double x : dst) ASSERT_TRUE(x == 0.0 || x == scale) << x;
  }
}

TEST(Dropout, ScaleIsExactForRandomValues) {
  const Dims4 d{3, 5, 7, 4};
  const auto src = random_vector<float>(d.numel(), 1, 0.5, 1.5);
  auto dst = nan_vector<float>(d.numel());
  dropout_forward<float>({0.2}, {7, 0}, d, src.data(), dst.data());
  for (size_t i = 0; i < src.size(); ++i) ASSERT_TRUE(dst[i] == 0.0f || dst[i] == src[i] * 1.25f) << i;
  const auto src_d = random_vector(d.numel(), 1, 0.5, 1.5);
  auto dst_d = nan_vector(d.numel());
  dropout_forward<double>({0.5}, {7, 0}, d, src_d.data(), dst_d.data());
  for (size_t i = 0; i < src_d.size(); ++i) ASSERT_TRUE(dst_d[i] == 0.0 || dst_d[i] == src_d[i] * 2.0) << i;
}

// The header's contract, written out: element (n, c, h, w) of a pass starting at example f is
// kept iff dropout_keeps(stream, (f + n)·C·H·W + (c·H + h)·W + w, threshold).
TEST(Dropout, MaskIsTheGlobalNchwIndex) {
  const Dims4 d{3, 5, 4, 3};
  const DropoutKey key{dropout_stream(9, 4, 2), 11};
  const std::vector<double> ones(static_cast<size_t>(d.numel()), 1.0);
  auto dst = nan_vector(d.numel());
  dropout_forward<double>({0.3}, key, d, ones.data(), dst.data());
  const uint32_t threshold = dropout_keep_threshold(0.3);
  int64_t i = 0;
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t c = 0; c < d.c; ++c)
      for (int64_t h = 0; h < d.h; ++h)
        for (int64_t w = 0; w < d.w; ++w, ++i) {
          const uint64_t index =
              static_cast<uint64_t>((key.first_example + n) * d.c * d.h * d.w + (c * d.h + h) * d.w + w);
          ASSERT_EQ(dst[static_cast<size_t>(i)] != 0.0, dropout_keeps(key.stream, index, threshold)) << i;
        }
}

// A step's 6 examples in one pass, in 2 + 4 and in 1 + 2 + 3 (workers, micro-batches).
TEST(Dropout, SameMaskHoweverTheBatchIsSplit) {
  const Dims4 d{6, 3, 5, 4};
  const int64_t per = d.c * d.spatial();
  const auto src = random_vector(d.numel(), 2, 0.5, 1.5);
  const uint64_t stream = dropout_stream(5, 100, 7);
  auto whole = nan_vector(d.numel()), diff_whole = nan_vector(d.numel());
  dropout_forward<double>({0.5}, {stream, 0}, d, src.data(), whole.data());
  dropout_backward<double>({0.5}, {stream, 0}, d, src.data(), diff_whole.data());
  for (const std::vector<int64_t>& parts : {std::vector<int64_t>{2, 4}, std::vector<int64_t>{1, 2, 3}}) {
    auto split = nan_vector(d.numel()), diff_split = nan_vector(d.numel());
    int64_t first = 0;
    for (const int64_t n : parts) {
      const Dims4 part{n, d.c, d.h, d.w};
      dropout_forward<double>({0.5}, {stream, first}, part, src.data() + first * per, split.data() + first * per);
      dropout_backward<double>({0.5}, {stream, first}, part, src.data() + first * per, diff_split.data() + first * per);
      first += n;
    }
    EXPECT_EQ(split, whole) << parts.size() << " parts";
    EXPECT_EQ(diff_split, diff_whole) << parts.size() << " parts";
  }
}

// With src and diff_dst free of zeros, diff_src is zero exactly where dst is, and elsewhere
// diff_dst·scale.
TEST(Dropout, BackwardUsesTheForwardMask) {
  const Dims4 d{4, 3, 6, 5};
  const auto src = random_vector<float>(d.numel(), 3, 0.5, 1.5),
             diff_dst = random_vector<float>(d.numel(), 4, 0.5, 1.5);
  const DropoutKey key{dropout_stream(1, 1, 1), 8};
  auto dst = nan_vector<float>(d.numel()), diff_src = nan_vector<float>(d.numel());
  dropout_forward<float>({0.5}, key, d, src.data(), dst.data());
  dropout_backward<float>({0.5}, key, d, diff_dst.data(), diff_src.data());
  int64_t dropped = 0;
  for (size_t i = 0; i < src.size(); ++i) {
    ASSERT_EQ(dst[i] == 0.0f, diff_src[i] == 0.0f) << i;
    if (dst[i] != 0.0f) {
      ASSERT_EQ(diff_src[i], diff_dst[i] * 2.0f) << i;
    }
    dropped += dst[i] == 0.0f;
  }
  EXPECT_GT(dropped, 0);
  EXPECT_LT(dropped, d.numel());
}

// Float and double draw the same mask (it depends on the key and index only).
TEST(Dropout, FloatAndDoubleShareTheMask) {
  const Dims4 d{2, 7, 3, 5};
  const auto src = random_vector(d.numel(), 5, 0.5, 1.5);
  const std::vector<float> src_f(src.begin(), src.end());
  auto dst = nan_vector(d.numel());
  auto dst_f = nan_vector<float>(d.numel());
  dropout_forward<double>({0.4}, {3, 2}, d, src.data(), dst.data());
  dropout_forward<float>({0.4}, {3, 2}, d, src_f.data(), dst_f.data());
  for (size_t i = 0; i < src.size(); ++i) ASSERT_EQ(dst[i] == 0.0, dst_f[i] == 0.0f) << i;
}

// Masks of different seeds, steps or nodes agree on about p² + (1 - p)² = 1/2 of the elements,
// as independent ones would.
TEST(Dropout, DifferentStreamsGiveDifferentMasks) {
  const Dims4 d{4, 16, 32, 32};
  const std::vector<double> ones(static_cast<size_t>(d.numel()), 1.0);
  auto mask = [&](uint64_t stream) {
    auto dst = nan_vector(d.numel());
    dropout_forward<double>({0.5}, {stream, 0}, d, ones.data(), dst.data());
    return dst;
  };
  const auto base = mask(dropout_stream(1, 2, 3));
  EXPECT_EQ(mask(dropout_stream(1, 2, 3)), base);  // a pure function of the key
  for (const uint64_t other :
       {dropout_stream(2, 2, 3), dropout_stream(1, 3, 3), dropout_stream(1, 2, 4), dropout_stream(1, 3, 2)}) {
    const auto m = mask(other);
    int64_t agree = 0;
    for (size_t i = 0; i < m.size(); ++i) agree += (m[i] == 0.0) == (base[i] == 0.0);
    const double fraction = static_cast<double>(agree) / static_cast<double>(d.numel());
    const double sd = 0.5 / std::sqrt(static_cast<double>(d.numel()));
    EXPECT_NEAR(fraction, 0.5, 5 * sd) << "stream " << other;
  }
  // A different first example is a different part of the same mask, not a repeat of example 0.
  auto shifted = nan_vector(d.numel());
  dropout_forward<double>({0.5}, {dropout_stream(1, 2, 3), 1}, d, ones.data(), shifted.data());
  EXPECT_NE(shifted, base);
}

// p = 0 copies bit for bit: NaN, infinities and -0 included; in place too.
TEST(Dropout, ZeroProbabilityIsTheIdentity) {
  const Dims4 d{2, 3, 1, 2};
  std::vector<float> src = {
      1.5f, -0.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), -3e-39f, 7};
  src.resize(static_cast<size_t>(d.numel()), 0.25f);
  auto dst = nan_vector<float>(d.numel()), diff_src = nan_vector<float>(d.numel());
  dropout_forward<float>({0.0}, {dropout_stream(1, 2, 3), 5}, d, src.data(), dst.data());
  EXPECT_EQ(std::memcmp(dst.data(), src.data(), src.size() * sizeof(float)), 0);
  dropout_backward<float>({0.0}, {dropout_stream(1, 2, 3), 5}, d, src.data(), diff_src.data());
  EXPECT_EQ(std::memcmp(diff_src.data(), src.data(), src.size() * sizeof(float)), 0);
  auto in_place = src;
  dropout_forward<float>({0.0}, {}, d, in_place.data(), in_place.data());
  EXPECT_EQ(std::memcmp(in_place.data(), src.data(), src.size() * sizeof(float)), 0);
}

TEST(Dropout, InPlaceMatchesOutOfPlace) {
  const Dims4 d{3, 4, 5, 6};
  const auto src = random_vector(d.numel(), 6);
  auto dst = nan_vector(d.numel());
  auto in_place = src;
  dropout_forward<double>({0.3}, {42, 3}, d, src.data(), dst.data());
  dropout_forward<double>({0.3}, {42, 3}, d, in_place.data(), in_place.data());
  EXPECT_EQ(in_place, dst);
}

// dst is linear in src for a fixed key: central differences recover the mask·scale exactly
// (up to rounding), dropped elements included (gradient 0).
TEST(Dropout, GradientMatchesFiniteDifferences) {
  const Dims4 d{3, 5, 3, 4};
  for (const double p : {0.5, 0.2, 0.0}) {
    SCOPED_TRACE("p " + std::to_string(p));
    const DropoutKey key{dropout_stream(11, 12, 13), 4};
    auto src = random_vector(d.numel(), 7);
    const auto r = random_vector(d.numel(), 8);
    auto dst = nan_vector(d.numel()), diff_src = nan_vector(d.numel());
    auto loss = [&] {
      dropout_forward<double>({p}, key, d, src.data(), dst.data());
      return dot(dst.data(), r.data(), d.numel());
    };
    dropout_backward<double>({p}, key, d, r.data(), diff_src.data());
    EXPECT_TRUE(check_gradient(loss, src.data(), d.numel(), diff_src.data()));
  }
}

TEST(Dropout, ProbabilityOutsideRangeIsRejected) {
  const Dims4 d{1, 1, 1, 2};
  const std::vector<double> src = {1, 2};
  std::vector<double> dst(2);
  for (const double p : {-0.1, 1.0, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    SCOPED_TRACE("p " + std::to_string(p));
    EXPECT_THROW(check_dropout_params({p}), InvalidArgument);
    EXPECT_THROW(dropout_forward<double>({p}, {}, d, src.data(), dst.data()), InvalidArgument);
    EXPECT_THROW(dropout_backward<double>({p}, {}, d, src.data(), dst.data()), InvalidArgument);
  }
  try {
    check_dropout_params({1.0});
    ADD_FAILURE() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()).rfind("[dropout] expected 0 <= p < 1, got p 1", 0), 0u) << e.what();
  }
  EXPECT_NO_THROW(check_dropout_params({0.0}));
  EXPECT_NO_THROW(check_dropout_params({0.999}));
  EXPECT_THROW(dropout_forward<double>({0.5}, {1, -1}, d, src.data(), dst.data()), InvalidArgument);
  EXPECT_THROW(dropout_forward<double>({0.5}, {}, {1, -1, 1, 2}, src.data(), dst.data()), InvalidArgument);
}

// The threshold at p = 0 (keep all), 1/2, and just below 1 (clamped into 32 bits); the scale.
TEST(Dropout, ThresholdAtTheEnds) {
  EXPECT_EQ(dropout_keep_threshold(0.0), 0u);
  EXPECT_EQ(dropout_keep_threshold(0.5), 2147483648u);
  EXPECT_EQ(dropout_keep_threshold(std::nextafter(1.0, 0.0)), 4294967295u);
  EXPECT_DOUBLE_EQ(dropout_scale(0.5), 2.0);
  EXPECT_EQ(dropout_scale(0.2), 1.25);
}

}  // namespace
}  // namespace bigbatch::ops
