// GPU dropout vs the reference (ops/dropout.h): the same mask bit for bit in every dtype and
// layout (the index is the logical NCHW one), the scale, backward (overwrite and accumulate),
// a pass that starts mid-batch, and p = 0 as a copy.
#include "bigbatch/backend/cuda/dropout.h"

#include <gtest/gtest.h>

#include "backend/cuda/cuda_test_util.h"

namespace bigbatch::backend::cuda {
namespace {

using namespace testing;

// Positive values: exact in every dtype and never 0, so a 0 in dst means a dropped element.
void check_dropout(double p, const ops::Dims4& d, const ops::DropoutKey& key, const Case& c) {
  SCOPED_TRACE("p " + std::to_string(p) + " " + dtype_name(c.dtype) + " " + layout_name(c.layout));
  const auto src = random_values(d.numel(), 61, c.dtype, 0.25, 1.25);
  const auto diff_dst = random_values(d.numel(), 62, c.dtype, 0.25, 1.25);
  const auto old = random_values(d.numel(), 63, c.dtype);
  std::vector<double> dst(src.size()), diff_src(src.size());
  ops::dropout_forward<double>({p}, key, d, src.data(), dst.data());
  ops::dropout_backward<double>({p}, key, d, diff_dst.data(), diff_src.data());

  DeviceArray d_src(src, d, c.dtype, c.layout), d_dst(old, d, c.dtype, c.layout);
  dropout_forward(c.dtype, c.layout, d, p, key, d_src.get(), d_dst.get(), nullptr);
  const auto got = d_dst.download();
  EXPECT_TRUE(close(dst, got, c.dtype)) << "forward";
  int64_t mismatched = 0;
  for (size_t i = 0; i < dst.size(); ++i) mismatched += (dst[i] == 0.0) != (got[i] == 0.0);
  EXPECT_EQ(mismatched, 0) << "elements whose keep bit differs from the reference's";

  DeviceArray d_diff_dst(diff_dst, d, c.dtype, c.layout), d_diff_src(old, d, c.dtype, c.layout);
  dropout_backward(c.dtype, c.layout, d, p, key, d_diff_dst.get(), d_diff_src.get(), true, nullptr);
  std::vector<double> accumulated = diff_src;
  for (size_t i = 0; i < accumulated.size(); ++i) accumulated[i] += old[i];
  EXPECT_TRUE(close(accumulated, d_diff_src.download(), c.dtype)) << "backward, accumulate";
  dropout_backward(c.dtype, c.layout, d, p, key, d_diff_dst.get(), d_diff_src.get(), false, nullptr);
  const auto got_diff = d_diff_src.download();
  EXPECT_TRUE(close(diff_src, got_diff, c.dtype)) << "backward";
  for (size_t i = 0; i < dst.size(); ++i) ASSERT_EQ(got_diff[i] == 0.0, dst[i] == 0.0) << "backward mask " << i;
  if (p == 0.0) {
    EXPECT_EQ(got, src) << "p = 0 copies";
  }
}

TEST(CudaDropoutTest, SameMaskAsReference) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  const ops::Dims4 d{3, 5, 4, 6};  // C, H, W distinct: a layout mix-up moves the mask
  for (const Case& c : all_cases()) {
    for (const double p : {0.5, 0.2, 0.0}) check_dropout(p, d, {ops::dropout_stream(1, 2, 3), 0}, c);
    check_dropout(0.5, d, {ops::dropout_stream(1, 2, 4), 5}, c);  // a micro-batch starting at example 5
  }
}

// A larger NHWC array (thousands of blocks) whose pass starts at example 32 of the step.
TEST(CudaDropoutTest, LargeArrayMatchesReference) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  check_dropout(0.3, {16, 64, 33, 35}, {ops::dropout_stream(7, 8, 9), 32}, {DType::f32, Layout::nhwc});
}

TEST(CudaDropoutTest, ProbabilityOutsideRangeIsRejected) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  EXPECT_THROW(dropout_forward(DType::f32, Layout::nchw, {1, 1, 1, 1}, 1.0, {}, nullptr, nullptr, nullptr),
               InvalidArgument);
  EXPECT_THROW(dropout_backward(DType::f32, Layout::nchw, {1, 1, 1, 1}, -0.5, {}, nullptr, nullptr, false, nullptr),
               InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::backend::cuda
