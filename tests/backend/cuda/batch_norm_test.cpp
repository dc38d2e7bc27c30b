// Ghost batch norm kernels vs the reference (ops/batch_norm.h): training forward (dst, saved
// statistics, running statistics), backward (overwrite and accumulate, dγ, dβ) and inference,
// with and without fused ReLU, whole batch and ghost groups, every dtype and layout.
#include "bigbatch/backend/cuda/batch_norm.h"

#include <gtest/gtest.h>

#include "backend/cuda/cuda_test_util.h"

namespace bigbatch::backend::cuda {
namespace {

using namespace testing;

void check_bn(int64_t group_size, bool relu, const ops::Dims4& d, const Case& c) {
  SCOPED_TRACE(std::string(dtype_name(c.dtype)) + " " + layout_name(c.layout) + " group " + std::to_string(group_size) +
               (relu ? " relu" : ""));
  ops::BatchNormParams p{.channels = d.c, .group_size = group_size, .eps = 1e-5, .momentum = 0.1, .fuse_relu = relu};
  const int64_t groups = ops::batch_norm_groups(p, d);
  // Shifted inputs: the variance must not come from E[x²] − E[x]² cancellation.
  const auto src = random_values(d.numel(), 11, c.dtype, 2.0, 4.0);
  const auto gamma = random_values(d.c, 12, DType::f32, 0.5, 1.5);
  const auto beta = random_values(d.c, 13, DType::f32, -0.2, 0.2);
  const auto diff_dst = random_values(d.numel(), 14, c.dtype);
  const auto old_diff = random_values(d.numel(), 15, c.dtype);
  std::vector<double> rm = random_values(d.c, 16, DType::f32), rv = random_values(d.c, 17, DType::f32, 0.5, 2.0);

  DeviceBuffer d_gamma = upload_f32(gamma), d_beta = upload_f32(beta), d_rm = upload_f32(rm), d_rv = upload_f32(rv);
  DeviceArray d_src(src, d, c.dtype, c.layout), d_dst(old_diff, d, c.dtype, c.layout);
  Context ctx;
  BatchNorm bn(p, d, c.dtype, c.layout);
  ASSERT_EQ(bn.groups(), groups);
  bn.forward_training(d_src.get(), d_gamma.as<float>(), d_beta.as<float>(), d_dst.get(), d_rm.as<float>(),
                      d_rv.as<float>(), ctx.stream);

  std::vector<double> dst(static_cast<size_t>(d.numel())), mean(static_cast<size_t>(groups * d.c)), invstd(mean.size());
  ops::batch_norm_forward_training(p, d, src.data(), gamma.data(), beta.data(), dst.data(), mean.data(), invstd.data(),
                                   rm.data(), rv.data());
  const std::vector<double> got_dst = d_dst.download();
  EXPECT_TRUE(close(dst, got_dst, c.dtype)) << "dst";
  // Statistics are f32 whatever the dtype: only the inputs were rounded.
  EXPECT_TRUE(close(mean, download_f32(bn.save_mean(), groups * d.c), DType::f32)) << "save_mean";
  EXPECT_TRUE(close(invstd, download_f32(bn.save_invstd(), groups * d.c), DType::f32)) << "save_invstd";
  EXPECT_TRUE(close(rm, download_f32(d_rm.as<float>(), d.c), DType::f32)) << "running_mean";
  EXPECT_TRUE(close(rv, download_f32(d_rv.as<float>(), d.c), DType::f32)) << "running_var";

  // Backward reads the device's own dst (its ReLU mask), as the executor does.
  std::vector<double> diff_src(static_cast<size_t>(d.numel())), dg(static_cast<size_t>(d.c)), db(dg.size());
  ops::batch_norm_backward(p, d, src.data(), got_dst.data(), diff_dst.data(), gamma.data(), mean.data(), invstd.data(),
                           diff_src.data(), dg.data(), db.data());
  DeviceArray d_diff_dst(diff_dst, d, c.dtype, c.layout), d_diff_src(old_diff, d, c.dtype, c.layout);
  DeviceBuffer d_dg(static_cast<size_t>(d.c) * sizeof(float)), d_db(d_dg.bytes());
  bn.backward(d_src.get(), d_dst.get(), d_diff_dst.get(), d_gamma.as<float>(), d_diff_src.get(), /*accumulate=*/true,
              d_dg.as<float>(), d_db.as<float>(), ctx.stream);
  std::vector<double> accumulated = diff_src;
  for (size_t i = 0; i < accumulated.size(); ++i) accumulated[i] += old_diff[i];
  EXPECT_TRUE(close(accumulated, d_diff_src.download(), c.dtype)) << "diff_src, accumulate";
  EXPECT_TRUE(close(dg, download_f32(d_dg.as<float>(), d.c), c.dtype)) << "diff_gamma";
  EXPECT_TRUE(close(db, download_f32(d_db.as<float>(), d.c), c.dtype)) << "diff_beta";
  bn.backward(d_src.get(), d_dst.get(), d_diff_dst.get(), d_gamma.as<float>(), d_diff_src.get(), false,
              d_dg.as<float>(), d_db.as<float>(), ctx.stream);
  EXPECT_TRUE(close(diff_src, d_diff_src.download(), c.dtype)) << "diff_src";

  ops::batch_norm_forward_inference(p, d, src.data(), gamma.data(), beta.data(), rm.data(), rv.data(), dst.data());
  bn.forward_inference(d_src.get(), d_gamma.as<float>(), d_beta.as<float>(), d_rm.as<float>(), d_rv.as<float>(),
                       d_dst.get(), ctx.stream);
  EXPECT_TRUE(close(dst, d_dst.download(), c.dtype)) << "inference";
}

TEST(CudaBatchNormTest, WholeBatch) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  for (const Case& c : all_cases()) check_bn(0, false, {4, 5, 6, 6}, c);
}

TEST(CudaBatchNormTest, GhostGroupsWithRelu) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  for (const Case& c : all_cases()) check_bn(2, true, {8, 40, 3, 3}, c);
}

TEST(CudaBatchNormTest, GhostGroupsOnePixel) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  for (const Case& c : all_cases()) check_bn(4, false, {12, 7, 1, 1}, c);
}

TEST(CudaBatchNormTest, ManyValuesPerChannelUsesSeveralChunks) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  // 2 groups of 16×40×40 = 25600 values per channel: more than one reduction chunk.
  check_bn(16, true, {32, 3, 40, 40}, {DType::f32, Layout::nchw});
  check_bn(16, true, {32, 3, 40, 40}, {DType::f32, Layout::nhwc});
}

TEST(CudaBatchNormTest, RejectsBadGroups) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  ops::BatchNormParams p{.channels = 3, .group_size = 3};
  EXPECT_THROW((void)BatchNorm(p, {8, 3, 2, 2}, DType::f32, Layout::nchw), InvalidArgument);
  p.group_size = 1;
  EXPECT_THROW((void)BatchNorm(p, {8, 3, 1, 1}, DType::f32, Layout::nchw), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::backend::cuda
