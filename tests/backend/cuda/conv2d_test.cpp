// cuDNN convolution vs the reference loops (ops/conv2d.h): forward, backward data (overwrite
// and accumulate) and backward weights with bias, in f32/bf16/f16 and NCHW/NHWC.
#include "bigbatch/backend/cuda/conv2d.h"

#include <gtest/gtest.h>

#include "backend/cuda/cuda_test_util.h"
#include "testing/op_params.h"

namespace bigbatch::backend::cuda {
namespace {

using namespace testing;

// OIHW f32 host weights as the dtype and filter format of the layout.
DeviceBuffer upload_filter(const std::vector<double>& oihw, const ops::Conv2dParams& p, DType dtype, Layout layout) {
  DeviceBuffer f32 = upload_f32(oihw);
  DeviceBuffer out(oihw.size() * dtype_size(dtype));
  pack_weights(dtype, layout, {p.out_channels, p.in_channels, p.kernel_h, p.kernel_w}, f32.as<float>(), out.get(),
               nullptr);
  return out;
}

std::vector<double> download_filter(const DeviceBuffer& w, const ops::Conv2dParams& p, DType dtype, Layout layout) {
  CUDA_CHECK(cudaDeviceSynchronize());
  const ops::Dims4 oihw{p.out_channels, p.in_channels, p.kernel_h, p.kernel_w};
  DeviceBuffer f32(static_cast<size_t>(oihw.numel()) * sizeof(float));
  unpack_weights(dtype, layout, oihw, w.get(), f32.as<float>(), 1.0f, nullptr, nullptr);
  return download_f32(f32.as<float>(), oihw.numel());
}

void check_conv(const ops::Conv2dParams& p, const ops::Dims4& src_dims, const Case& c) {
  SCOPED_TRACE(std::string(dtype_name(c.dtype)) + " " + layout_name(c.layout));
  Context ctx;
  Conv2d conv(ctx, p, src_dims, c.dtype, c.layout, /*allow_tf32=*/false);
  const ops::Dims4 dst_dims = conv.dst_dims();
  ASSERT_EQ(dst_dims, ops::conv2d_dst_dims(p, src_dims));
  const int64_t wcount = p.out_channels * p.in_channels * p.kernel_h * p.kernel_w;
  const auto src = random_values(src_dims.numel(), 1, c.dtype);
  const auto weights = random_values(wcount, 2, c.dtype, -0.5, 0.5);
  const auto bias = random_values(p.out_channels, 3, c.dtype);
  const auto diff_dst = random_values(dst_dims.numel(), 4, c.dtype);
  const auto old_diff_src = random_values(src_dims.numel(), 5, c.dtype);
  DeviceBuffer ws(conv.workspace_bytes());

  DeviceArray d_src(src, src_dims, c.dtype, c.layout);
  DeviceBuffer d_w = upload_filter(weights, p, c.dtype, c.layout);
  DeviceArray d_bias(bias, c.dtype);
  DeviceArray d_dst(std::vector<double>(static_cast<size_t>(dst_dims.numel())), dst_dims, c.dtype, c.layout);
  conv.forward(d_src.get(), d_w.get(), d_bias.get(), d_dst.get(), ws.get());
  std::vector<double> dst(static_cast<size_t>(dst_dims.numel()));
  ops::conv2d_forward(p, src_dims, src.data(), weights.data(), bias.data(), dst.data());
  EXPECT_TRUE(close(dst, d_dst.download(), c.dtype)) << "forward";

  DeviceArray d_diff_dst(diff_dst, dst_dims, c.dtype, c.layout);
  DeviceArray d_diff_src(old_diff_src, src_dims, c.dtype, c.layout);
  std::vector<double> diff_src(static_cast<size_t>(src_dims.numel()));
  ops::conv2d_backward_data(p, src_dims, diff_dst.data(), weights.data(), diff_src.data());
  conv.backward_data(d_diff_dst.get(), d_w.get(), d_diff_src.get(), /*accumulate=*/true, ws.get());
  std::vector<double> accumulated = diff_src;
  for (size_t i = 0; i < accumulated.size(); ++i) accumulated[i] += old_diff_src[i];
  EXPECT_TRUE(close(accumulated, d_diff_src.download(), c.dtype)) << "backward_data, accumulate";
  conv.backward_data(d_diff_dst.get(), d_w.get(), d_diff_src.get(), /*accumulate=*/false, ws.get());
  EXPECT_TRUE(close(diff_src, d_diff_src.download(), c.dtype)) << "backward_data";

  std::vector<double> diff_w(static_cast<size_t>(wcount)), diff_b(static_cast<size_t>(p.out_channels));
  ops::conv2d_backward_weights(p, src_dims, src.data(), diff_dst.data(), diff_w.data(), diff_b.data());
  DeviceBuffer d_diff_w(static_cast<size_t>(wcount) * dtype_size(c.dtype));
  DeviceArray d_diff_b(std::vector<double>(static_cast<size_t>(p.out_channels)), c.dtype);
  conv.backward_weights(d_src.get(), d_diff_dst.get(), d_diff_w.get(), d_diff_b.get(), ws.get());
  EXPECT_TRUE(close(diff_w, download_filter(d_diff_w, p, c.dtype, c.layout), c.dtype)) << "backward_weights";
  if (p.bias) {
    EXPECT_TRUE(close(diff_b, d_diff_b.download(), c.dtype)) << "backward bias";
  }
}

TEST(CudaConv2dTest, Same3x3) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  for (const Case& c : all_cases()) check_conv(bigbatch::testing::conv_params(3, 8, 3, 1, 1), {2, 3, 9, 9}, c);
}

TEST(CudaConv2dTest, Strided3x3) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  for (const Case& c : all_cases()) check_conv(bigbatch::testing::conv_params(8, 16, 3, 2, 1), {2, 8, 9, 9}, c);
}

TEST(CudaConv2dTest, Pointwise1x1WithBias) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  for (const Case& c : all_cases()) check_conv(bigbatch::testing::conv_params(8, 4, 1, 1, 0, true), {3, 8, 5, 5}, c);
}

TEST(CudaConv2dTest, Strided7x7Stem) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  for (const Case& c : all_cases()) check_conv(bigbatch::testing::conv_params(3, 8, 7, 2, 3), {2, 3, 16, 16}, c);
}

}  // namespace
}  // namespace bigbatch::backend::cuda
