// cuDNN pooling vs the reference (ops/pool.h): max and average (padding included and
// excluded), forward and backward (overwrite and accumulate), every dtype and layout.
#include "bigbatch/backend/cuda/pooling.h"

#include <gtest/gtest.h>

#include "backend/cuda/cuda_test_util.h"
#include "testing/op_params.h"

namespace bigbatch::backend::cuda {
namespace {

using namespace testing;

void check_pool(PoolKind kind, const ops::PoolParams& p, const ops::Dims4& sd, const Case& c) {
  SCOPED_TRACE(std::string(kind == PoolKind::max ? "max " : "avg ") + dtype_name(c.dtype) + " " +
               layout_name(c.layout));
  Context ctx;
  Pool pool(kind, p, sd, c.dtype, c.layout);
  const ops::Dims4 dd = pool.dst_dims();
  ASSERT_EQ(dd, ops::pool_dst_dims(p, sd));
  // Scrambled small integers (exact in every dtype) so that a window's maximum is unique.
  std::vector<double> src(static_cast<size_t>(sd.numel()));
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<double>((i * 7919) % src.size() % 251) - 125.0;
  const auto diff_dst = random_values(dd.numel(), 21, c.dtype);
  const auto old_diff = random_values(sd.numel(), 22, c.dtype);
  std::vector<double> dst(static_cast<size_t>(dd.numel())), diff_src(src.size());
  if (kind == PoolKind::max) {
    ops::max_pool_forward(p, sd, src.data(), dst.data());
    ops::max_pool_backward(p, sd, src.data(), diff_dst.data(), diff_src.data());
  } else {
    ops::avg_pool_forward(p, sd, src.data(), dst.data());
    ops::avg_pool_backward(p, sd, diff_dst.data(), diff_src.data());
  }
  DeviceArray d_src(src, sd, c.dtype, c.layout), d_dst(std::vector<double>(dst.size()), dd, c.dtype, c.layout);
  pool.forward(ctx.cudnn.get(), d_src.get(), d_dst.get());
  EXPECT_TRUE(close(dst, d_dst.download(), c.dtype)) << "forward";
  DeviceArray d_diff_dst(diff_dst, dd, c.dtype, c.layout), d_diff_src(old_diff, sd, c.dtype, c.layout);
  pool.backward(ctx.cudnn.get(), d_src.get(), d_dst.get(), d_diff_dst.get(), d_diff_src.get(), true);
  std::vector<double> accumulated = diff_src;
  for (size_t i = 0; i < accumulated.size(); ++i) accumulated[i] += old_diff[i];
  EXPECT_TRUE(close(accumulated, d_diff_src.download(), c.dtype)) << "backward, accumulate";
  pool.backward(ctx.cudnn.get(), d_src.get(), d_dst.get(), d_diff_dst.get(), d_diff_src.get(), false);
  EXPECT_TRUE(close(diff_src, d_diff_src.download(), c.dtype)) << "backward";
}

TEST(CudaPoolingTest, MaxOverlappingPadded) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  for (const Case& c : all_cases())
    check_pool(PoolKind::max, bigbatch::testing::pool_params(3, 2, 1), {2, 3, 9, 9}, c);
}

TEST(CudaPoolingTest, AverageIncludeAndExcludePadding) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  for (const Case& c : all_cases()) {
    check_pool(PoolKind::avg, bigbatch::testing::pool_params(3, 2, 1, false), {2, 3, 8, 8}, c);
    check_pool(PoolKind::avg, bigbatch::testing::pool_params(3, 2, 1, true), {2, 3, 8, 8}, c);
    check_pool(PoolKind::avg, bigbatch::testing::pool_params(2, 2, 0), {2, 4, 6, 6}, c);
  }
}

}  // namespace
}  // namespace bigbatch::backend::cuda
