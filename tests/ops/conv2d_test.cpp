// Reference conv2d: hand-computed cases, forward vs the textbook definition, every gradient
// vs finite differences, float vs double, and shape errors.
#include "bigbatch/ops/conv2d.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "bigbatch/core/error.h"
#include "testing/gradcheck.h"
#include "testing/op_params.h"

namespace bigbatch::ops {
namespace {

using testing::check_gradient;
using testing::conv_params;
using testing::dot;
using testing::expect_near_relative;
using testing::nan_vector;
using testing::random_vector;

struct ConvCase {
  Dims4 src;
  Conv2dParams p;
};

std::ostream& operator<<(std::ostream& os, const ConvCase& c) {
  return os << "src " << c.src.to_string() << " O" << c.p.out_channels << " k" << c.p.kernel_h << "x" << c.p.kernel_w
            << " s" << c.p.stride_h << "x" << c.p.stride_w << " p" << c.p.pad_h << "x" << c.p.pad_w
            << (c.p.bias ? " bias" : "");
}

int64_t weights_count(const Conv2dParams& p) { return p.out_channels * p.in_channels * p.kernel_h * p.kernel_w; }

// The definition, one output at a time with explicit bounds checks.
std::vector<double> naive_conv(const ConvCase& c, const std::vector<double>& src, const std::vector<double>& weights,
                               const std::vector<double>& bias) {
  const Dims4 d = conv2d_dst_dims(c.p, c.src);
  const Conv2dParams& p = c.p;
  std::vector<double> dst(static_cast<size_t>(d.numel()));
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t o = 0; o < d.c; ++o)
      for (int64_t oh = 0; oh < d.h; ++oh)
        for (int64_t ow = 0; ow < d.w; ++ow) {
          double sum = p.bias ? bias[o] : 0.0;
          for (int64_t ci = 0; ci < c.src.c; ++ci)
            for (int64_t kh = 0; kh < p.kernel_h; ++kh)
              for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
                const int64_t ih = oh * p.stride_h - p.pad_h + kh, iw = ow * p.stride_w - p.pad_w + kw;
                if (ih < 0 || ih >= c.src.h || iw < 0 || iw >= c.src.w) continue;
                sum += src[((n * c.src.c + ci) * c.src.h + ih) * c.src.w + iw] *
                       weights[((o * c.src.c + ci) * p.kernel_h + kh) * p.kernel_w + kw];
              }
          dst[((n * d.c + o) * d.h + oh) * d.w + ow] = sum;
        }
  return dst;
}

class Conv2dCases : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dCases, ForwardMatchesDefinition) {
  const ConvCase c = GetParam();
  const auto src = random_vector(c.src.numel(), 1), weights = random_vector(weights_count(c.p), 2);
  const auto bias = random_vector(c.p.out_channels, 3);
  const Dims4 d = conv2d_dst_dims(c.p, c.src);
  auto dst = nan_vector(d.numel());
  conv2d_forward(c.p, c.src, src.data(), weights.data(), c.p.bias ? bias.data() : nullptr, dst.data());
  const auto expected = naive_conv(c, src, weights, bias);
  expect_near_relative(dst.data(), expected.data(), d.numel(), 1e-12, 1e-12);
}

TEST_P(Conv2dCases, GradientsMatchFiniteDifferences) {
  const ConvCase c = GetParam();
  auto src = random_vector(c.src.numel(), 4), weights = random_vector(weights_count(c.p), 5);
  auto bias = random_vector(c.p.out_channels, 6);
  const Dims4 d = conv2d_dst_dims(c.p, c.src);
  const auto diff_dst = random_vector(d.numel(), 7);  // L = Σ dst·diff_dst
  auto dst = nan_vector(d.numel());
  auto loss = [&] {
    conv2d_forward(c.p, c.src, src.data(), weights.data(), c.p.bias ? bias.data() : nullptr, dst.data());
    return dot(dst.data(), diff_dst.data(), d.numel());
  };

  auto diff_src = nan_vector(c.src.numel()), diff_weights = nan_vector(weights_count(c.p));
  auto diff_bias = nan_vector(c.p.out_channels);
  conv2d_backward_data(c.p, c.src, diff_dst.data(), weights.data(), diff_src.data());
  conv2d_backward_weights(c.p, c.src, src.data(), diff_dst.data(), diff_weights.data(),
                          c.p.bias ? diff_bias.data() : nullptr);
  EXPECT_TRUE(check_gradient(loss, src.data(), c.src.numel(), diff_src.data())) << "diff_src";
  EXPECT_TRUE(check_gradient(loss, weights.data(), weights_count(c.p), diff_weights.data())) << "diff_weights";
  if (c.p.bias) {
    EXPECT_TRUE(check_gradient(loss, bias.data(), c.p.out_channels, diff_bias.data())) << "diff_bias";
  }
}

// float runs the same double-accumulating loops: results agree to float rounding.
TEST_P(Conv2dCases, FloatMatchesDouble) {
  const ConvCase c = GetParam();
  const Dims4 d = conv2d_dst_dims(c.p, c.src);
  const auto src = random_vector<float>(c.src.numel(), 8), weights = random_vector<float>(weights_count(c.p), 9);
  const auto bias = random_vector<float>(c.p.out_channels, 10), diff_dst = random_vector<float>(d.numel(), 11);
  const std::vector<double> src_d(src.begin(), src.end()), weights_d(weights.begin(), weights.end());
  const std::vector<double> bias_d(bias.begin(), bias.end()), diff_dst_d(diff_dst.begin(), diff_dst.end());

  auto dst = nan_vector<float>(d.numel()), diff_src = nan_vector<float>(c.src.numel());
  auto diff_w = nan_vector<float>(weights_count(c.p)), diff_b = nan_vector<float>(c.p.out_channels);
  auto dst_d = nan_vector(d.numel()), diff_src_d = nan_vector(c.src.numel());
  auto diff_w_d = nan_vector(weights_count(c.p)), diff_b_d = nan_vector(c.p.out_channels);
  conv2d_forward(c.p, c.src, src.data(), weights.data(), bias.data(), dst.data());
  conv2d_forward(c.p, c.src, src_d.data(), weights_d.data(), bias_d.data(), dst_d.data());
  conv2d_backward_data(c.p, c.src, diff_dst.data(), weights.data(), diff_src.data());
  conv2d_backward_data(c.p, c.src, diff_dst_d.data(), weights_d.data(), diff_src_d.data());
  conv2d_backward_weights(c.p, c.src, src.data(), diff_dst.data(), diff_w.data(), diff_b.data());
  conv2d_backward_weights(c.p, c.src, src_d.data(), diff_dst_d.data(), diff_w_d.data(), diff_b_d.data());
  expect_near_relative(dst.data(), dst_d.data(), d.numel(), 1e-6, 1e-6);
  expect_near_relative(diff_src.data(), diff_src_d.data(), c.src.numel(), 1e-6, 1e-6);
  expect_near_relative(diff_w.data(), diff_w_d.data(), weights_count(c.p), 1e-6, 1e-6);
  if (c.p.bias) expect_near_relative(diff_b.data(), diff_b_d.data(), c.p.out_channels, 1e-6, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Conv2dCases,
    ::testing::Values(ConvCase{{1, 1, 5, 5}, conv_params(1, 1, 3, 1, 1, true)},    // batch 1, 3x3 same
                      ConvCase{{2, 3, 7, 6}, conv_params(3, 4, 3, 2, 1, false)},   // odd sizes, stride 2
                      ConvCase{{3, 2, 5, 7}, conv_params(2, 3, 1, 1, 0, true)},    // 1x1
                      ConvCase{{2, 3, 8, 8}, conv_params(3, 2, 1, 2, 0, false)},   // 1x1 stride 2 (shortcut)
                      ConvCase{{1, 2, 6, 5}, conv_params(2, 3, 3, 2, 0, true)},    // 3x3 stride 2, no pad
                      ConvCase{{2, 2, 4, 5}, conv_params(2, 2, 3, 1, 0, false)},   // valid conv
                      ConvCase{{1, 3, 11, 9}, conv_params(3, 2, 7, 2, 3, true)},   // ImageNet stem, small
                      ConvCase{{2, 2, 5, 6},
                               {.in_channels = 2, .out_channels = 3, .kernel_h = 3, .kernel_w = 2, .stride_h = 1,
                                .stride_w = 2, .pad_h = 1, .pad_w = 0, .bias = true}}));  // rectangular

// 1..9 in a 3x3 image, all-ones 3x3 kernel, padding 1: each output is its 3x3 neighbourhood's sum.
TEST(Conv2d, HandComputedNeighbourhoodSums) {
  const std::vector<double> src = {1, 2, 3, 4, 5, 6, 7, 8, 9}, weights(9, 1.0), bias = {0.5};
  Conv2dParams p = conv_params(1, 1, 3, 1, 1, true);
  auto dst = nan_vector(9);
  conv2d_forward(p, {1, 1, 3, 3}, src.data(), weights.data(), bias.data(), dst.data());
  const std::vector<double> expected = {12.5, 21.5, 16.5, 27.5, 45.5, 33.5, 24.5, 39.5, 28.5};
  EXPECT_EQ(dst, expected);

  p.stride_h = p.stride_w = 2;  // the four corners' neighbourhoods
  ASSERT_EQ(conv2d_dst_dims(p, {1, 1, 3, 3}), (Dims4{1, 1, 2, 2}));
  conv2d_forward(p, {1, 1, 3, 3}, src.data(), weights.data(), bias.data(), dst.data());
  EXPECT_EQ(std::vector<double>(dst.begin(), dst.begin() + 4), (std::vector<double>{12.5, 16.5, 24.5, 28.5}));
}

TEST(Conv2d, HandComputedCrossCorrelation) {
  // Not flipped: out(0,0) = 1·1 + 2·2 + 4·3 + 5·4.
  const std::vector<float> src = {1, 2, 3, 4, 5, 6, 7, 8, 9}, weights = {1, 2, 3, 4};
  auto dst = nan_vector<float>(4);
  conv2d_forward(conv_params(1, 1, 2, 1, 0, false), {1, 1, 3, 3}, src.data(), weights.data(),
                 static_cast<const float*>(nullptr), dst.data());
  EXPECT_EQ(dst, (std::vector<float>{37, 47, 67, 77}));
}

TEST(Conv2d, DstDimsUseFloor) {
  EXPECT_EQ(conv2d_dst_dims(conv_params(3, 8, 3, 2, 1, false), {4, 3, 32, 32}), (Dims4{4, 8, 16, 16}));
  EXPECT_EQ(conv2d_dst_dims(conv_params(3, 8, 3, 2, 1, false), {4, 3, 7, 6}), (Dims4{4, 8, 4, 3}));
  EXPECT_EQ(conv2d_dst_dims(conv_params(3, 64, 7, 2, 3, false), {1, 3, 224, 224}), (Dims4{1, 64, 112, 112}));
}

TEST(Conv2d, ShapeErrorsThrow) {
  EXPECT_THROW(conv2d_dst_dims(conv_params(3, 8, 3, 1, 1, false), {2, 4, 8, 8}), InvalidArgument);
  EXPECT_THROW(conv2d_dst_dims(conv_params(3, 8, 5, 1, 0, false), {2, 3, 4, 8}), InvalidArgument);
  EXPECT_THROW(conv2d_dst_dims(conv_params(3, 8, 3, 0, 1, false), {2, 3, 8, 8}), InvalidArgument);
  try {
    conv2d_dst_dims(conv_params(3, 8, 3, 1, 1, false), {2, 4, 8, 8});
    ADD_FAILURE() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()).rfind("[conv2d] expected src with 3 channels, got src 2x4x8x8", 0), 0u)
        << e.what();
  }
  const std::vector<double> src(64), weights(9);
  std::vector<double> out(64);
  EXPECT_THROW(conv2d_forward(conv_params(1, 1, 3, 1, 1, true), {1, 1, 8, 8}, src.data(), weights.data(),
                              static_cast<const double*>(nullptr), out.data()),
               InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::ops
