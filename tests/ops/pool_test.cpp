// Reference pooling: hand-computed windows (floor mode, padding divisors, max ties), every
// gradient vs finite differences, float vs double, and shape errors.
#include "bigbatch/ops/pool.h"

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
using testing::dot;
using testing::expect_near_relative;
using testing::nan_vector;
using testing::pool_params;
using testing::random_vector;

enum class PoolKind { max, avg, avg_exclude_padding };

struct PoolCase {
  Dims4 src;
  PoolParams p;
};

std::ostream& operator<<(std::ostream& os, const PoolCase& c) {
  return os << "src " << c.src.to_string() << " k" << c.p.kernel_h << "x" << c.p.kernel_w << " s" << c.p.stride_h
            << "x" << c.p.stride_w << " p" << c.p.pad_h << "x" << c.p.pad_w;
}

// Runs forward or backward of one pooling kind, so the checks below are written once.
template <class T>
void pool_forward(PoolKind kind, PoolParams p, const Dims4& d, const T* src, T* dst) {
  switch (kind) {
    case PoolKind::max:
      return max_pool_forward(p, d, src, dst);
    case PoolKind::avg:
    case PoolKind::avg_exclude_padding:
      p.exclude_padding = kind == PoolKind::avg_exclude_padding;
      return avg_pool_forward(p, d, src, dst);
  }
}

template <class T>
void pool_backward(PoolKind kind, PoolParams p, const Dims4& d, const T* src, const T* diff_dst, T* diff_src) {
  switch (kind) {
    case PoolKind::max:
      return max_pool_backward(p, d, src, diff_dst, diff_src);
    case PoolKind::avg:
    case PoolKind::avg_exclude_padding:
      p.exclude_padding = kind == PoolKind::avg_exclude_padding;
      return avg_pool_backward(p, d, diff_dst, diff_src);
  }
}

class PoolCases : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolCases, GradientsMatchFiniteDifferences) {
  const PoolCase c = GetParam();
  const Dims4 d = pool_dst_dims(c.p, c.src);
  for (const PoolKind kind : {PoolKind::max, PoolKind::avg, PoolKind::avg_exclude_padding}) {
    SCOPED_TRACE("kind " + std::to_string(static_cast<int>(kind)));
    auto src = random_vector(c.src.numel(), 1);  // distinct values: no max ties
    const auto diff_dst = random_vector(d.numel(), 2);
    auto dst = nan_vector(d.numel()), diff_src = nan_vector(c.src.numel());
    auto loss = [&] {
      pool_forward(kind, c.p, c.src, src.data(), dst.data());
      return dot(dst.data(), diff_dst.data(), d.numel());
    };
    pool_backward(kind, c.p, c.src, src.data(), diff_dst.data(), diff_src.data());
    EXPECT_TRUE(check_gradient(loss, src.data(), c.src.numel(), diff_src.data())) << "diff_src";
  }
}

TEST_P(PoolCases, FloatMatchesDouble) {
  const PoolCase c = GetParam();
  const Dims4 d = pool_dst_dims(c.p, c.src);
  const auto src = random_vector<float>(c.src.numel(), 3), diff_dst = random_vector<float>(d.numel(), 4);
  const std::vector<double> src_d(src.begin(), src.end()), diff_dst_d(diff_dst.begin(), diff_dst.end());
  for (const PoolKind kind : {PoolKind::max, PoolKind::avg, PoolKind::avg_exclude_padding}) {
    SCOPED_TRACE("kind " + std::to_string(static_cast<int>(kind)));
    auto dst = nan_vector<float>(d.numel()), diff_src = nan_vector<float>(c.src.numel());
    auto dst_d = nan_vector(d.numel()), diff_src_d = nan_vector(c.src.numel());
    pool_forward(kind, c.p, c.src, src.data(), dst.data());
    pool_forward(kind, c.p, c.src, src_d.data(), dst_d.data());
    pool_backward(kind, c.p, c.src, src.data(), diff_dst.data(), diff_src.data());
    pool_backward(kind, c.p, c.src, src_d.data(), diff_dst_d.data(), diff_src_d.data());
    expect_near_relative(dst.data(), dst_d.data(), d.numel(), 1e-6, 1e-6);
    expect_near_relative(diff_src.data(), diff_src_d.data(), c.src.numel(), 1e-6, 1e-6);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, PoolCases,
                         ::testing::Values(PoolCase{{2, 3, 7, 7}, pool_params(3, 2, 1)},  // ImageNet max pool
                                           PoolCase{{1, 2, 5, 6}, pool_params(2, 2, 0)},  // odd sizes, floor
                                           PoolCase{{2, 1, 6, 5}, pool_params(3, 1, 1)},  // overlapping windows
                                           PoolCase{{1, 2, 4, 3}, pool_params(1, 1, 0)},  // identity
                                           PoolCase{{2, 2, 8, 7}, pool_params(3, 3, 1)},
                                           PoolCase{{1, 1, 5, 7},
                                                    {.kernel_h = 2, .kernel_w = 3, .stride_h = 1, .stride_w = 2,
                                                     .pad_h = 1, .pad_w = 0}}));

TEST(Pool, MaxHandComputed) {
  const std::vector<double> src = {1, 5, 2, 0,  //
                                   3, 4, 8, 1,  //
                                   0, 9, 7, 6,  //
                                   2, 2, 3, 1};
  auto dst = nan_vector(4), diff_src = nan_vector(16);
  max_pool_forward(pool_params(2, 2, 0), {1, 1, 4, 4}, src.data(), dst.data());
  EXPECT_EQ(dst, (std::vector<double>{5, 8, 9, 7}));
  const std::vector<double> diff_dst = {1, 2, 3, 4};
  max_pool_backward(pool_params(2, 2, 0), {1, 1, 4, 4}, src.data(), diff_dst.data(), diff_src.data());
  EXPECT_EQ(diff_src, (std::vector<double>{0, 1, 0, 0, 0, 0, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0}));
}

TEST(Pool, MaxTiesRouteToFirstMaximum) {
  const std::vector<float> src = {7, 7, 7, 7, 7, 7, 7, 7, 7};
  auto diff_src = nan_vector<float>(9);
  const std::vector<float> diff_dst = {1, 10, 100, 1000};
  // Windows at (0,0), (0,1), (1,0), (1,1) of a 3x3 image, 2x2, stride 1: first maxima are
  // their top-left corners.
  max_pool_backward(pool_params(2, 1, 0), {1, 1, 3, 3}, src.data(), diff_dst.data(), diff_src.data());
  EXPECT_EQ(diff_src, (std::vector<float>{1, 10, 0, 100, 1000, 0, 0, 0, 0}));
}

TEST(Pool, MaxIgnoresPadding) {
  const std::vector<double> src = {-3, -1, -2, -4};
  auto dst = nan_vector(4);
  max_pool_forward(pool_params(3, 1, 1), {1, 1, 2, 2}, src.data(), dst.data());
  EXPECT_EQ(dst, (std::vector<double>{-1, -1, -1, -1}));
}

// 3x3 image 1..9, 3x3 windows with padding 1: the corner window covers 1, 2, 4, 5.
TEST(Pool, AvgPaddingDivisors) {
  const std::vector<double> src = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  auto dst = nan_vector(9);
  avg_pool_forward(pool_params(3, 1, 1, false), {1, 1, 3, 3}, src.data(), dst.data());
  EXPECT_DOUBLE_EQ(dst[0], 12.0 / 9.0);  // count_include_pad=True
  EXPECT_DOUBLE_EQ(dst[1], 21.0 / 9.0);
  EXPECT_DOUBLE_EQ(dst[4], 5.0);
  avg_pool_forward(pool_params(3, 1, 1, true), {1, 1, 3, 3}, src.data(), dst.data());
  EXPECT_DOUBLE_EQ(dst[0], 12.0 / 4.0);  // count_include_pad=False
  EXPECT_DOUBLE_EQ(dst[1], 21.0 / 6.0);
  EXPECT_DOUBLE_EQ(dst[4], 5.0);

  auto diff_src = nan_vector(9);
  const std::vector<double> ones(9, 1.0);
  avg_pool_backward(pool_params(3, 1, 1, true), {1, 1, 3, 3}, ones.data(), diff_src.data());
  // The corner pixel is in the windows centred on (0,0), (0,1), (1,0), (1,1): 1/size each.
  EXPECT_DOUBLE_EQ(diff_src[0], 1.0 / 4 + 1.0 / 6 + 1.0 / 6 + 1.0 / 9);
}

TEST(Pool, GlobalAverage) {
  const std::vector<double> src = {1, 2, 3, 4, 10, 20, 30, 40};
  auto dst = nan_vector(2), diff_src = nan_vector(8);
  global_avg_pool_forward({1, 2, 2, 2}, src.data(), dst.data());
  EXPECT_EQ(dst, (std::vector<double>{2.5, 25}));
  const std::vector<double> diff_dst = {4, 8};
  global_avg_pool_backward({1, 2, 2, 2}, diff_dst.data(), diff_src.data());
  EXPECT_EQ(diff_src, (std::vector<double>{1, 1, 1, 1, 2, 2, 2, 2}));

  const Dims4 d{3, 2, 5, 3};
  auto x = random_vector(d.numel(), 5);
  const auto weights = random_vector(d.n * d.c, 6);
  auto pooled = nan_vector(d.n * d.c), diff_x = nan_vector(d.numel());
  auto loss = [&] {
    global_avg_pool_forward(d, x.data(), pooled.data());
    return dot(pooled.data(), weights.data(), d.n * d.c);
  };
  global_avg_pool_backward(d, weights.data(), diff_x.data());
  EXPECT_TRUE(check_gradient(loss, x.data(), d.numel(), diff_x.data()));
}

TEST(Pool, DstDimsUseFloor) {
  EXPECT_EQ(pool_dst_dims(pool_params(2, 2, 0), {1, 3, 5, 5}), (Dims4{1, 3, 2, 2}));
  EXPECT_EQ(pool_dst_dims(pool_params(3, 2, 1), {1, 64, 112, 112}), (Dims4{1, 64, 56, 56}));
  EXPECT_EQ(pool_dst_dims(pool_params(3, 2, 1), {1, 64, 7, 6}), (Dims4{1, 64, 4, 3}));
}

TEST(Pool, ShapeErrorsThrow) {
  EXPECT_THROW(pool_dst_dims(pool_params(2, 2, 2), {1, 1, 8, 8}), InvalidArgument);  // pad > kernel / 2
  EXPECT_THROW(pool_dst_dims(pool_params(5, 1, 0), {1, 1, 4, 8}), InvalidArgument);  // kernel > input
  EXPECT_THROW(pool_dst_dims(pool_params(2, 0, 0), {1, 1, 4, 4}), InvalidArgument);
  try {
    pool_dst_dims(pool_params(2, 2, 2), {1, 1, 8, 8});
    ADD_FAILURE() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()).rfind("[pool] expected 0 <= pad <= kernel / 2, got pad 2x2", 0), 0u) << e.what();
  }
}

}  // namespace
}  // namespace bigbatch::ops
