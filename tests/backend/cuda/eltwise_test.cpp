// The small kernels vs the reference ops and host loops: ReLU, add (+ReLU), diff copy and
// accumulation, global average pooling, layout and type conversions, filter packing.
#include "bigbatch/backend/cuda/eltwise.h"

#include <gtest/gtest.h>

#include "backend/cuda/cuda_test_util.h"
#include "bigbatch/ops/add.h"
#include "bigbatch/ops/pool.h"
#include "bigbatch/ops/relu.h"

namespace bigbatch::backend::cuda {
namespace {

using namespace testing;

TEST(CudaEltwiseTest, ReluAddAndDiffRouting) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  const int64_t n = 1000;
  for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const auto a = random_values(n, 41, dtype), b = random_values(n, 42, dtype), old = random_values(n, 43, dtype);
    std::vector<double> relu(n), sum(n), sum_relu(n), diff(n);
    ops::relu_forward(n, a.data(), relu.data());
    ops::add_forward(n, a.data(), b.data(), sum.data());
    ops::relu_forward(n, sum.data(), sum_relu.data());
    ops::relu_backward(n, relu.data(), b.data(), diff.data());
    DeviceArray d_a(a, dtype), d_b(b, dtype), d_out(old, dtype);
    relu_forward(dtype, n, d_a.get(), d_out.get(), nullptr);
    EXPECT_TRUE(close(relu, d_out.download(), dtype)) << "relu";
    DeviceArray d_relu(relu, dtype);
    relu_backward(dtype, n, d_relu.get(), d_b.get(), d_out.get(), false, nullptr);
    EXPECT_TRUE(close(diff, d_out.download(), dtype)) << "relu backward";
    add_forward(dtype, n, d_a.get(), d_b.get(), d_out.get(), false, nullptr);
    EXPECT_TRUE(close(sum, d_out.download(), dtype)) << "add";
    add_forward(dtype, n, d_a.get(), d_b.get(), d_out.get(), true, nullptr);
    EXPECT_TRUE(close(sum_relu, d_out.download(), dtype)) << "add relu";
    copy_diff(dtype, n, d_a.get(), d_out.get(), false, nullptr);
    EXPECT_TRUE(close(a, d_out.download(), dtype)) << "copy";
    copy_diff(dtype, n, d_b.get(), d_out.get(), true, nullptr);
    EXPECT_TRUE(close(sum, d_out.download(), dtype)) << "accumulate";
  }
}

TEST(CudaEltwiseTest, GlobalAveragePooling) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  const ops::Dims4 d{3, 5, 4, 6};
  for (const Case& c : all_cases()) {
    SCOPED_TRACE(std::string(dtype_name(c.dtype)) + " " + layout_name(c.layout));
    const auto src = random_values(d.numel(), 44, c.dtype), dd = random_values(d.n * d.c, 45, c.dtype);
    const auto old = random_values(d.numel(), 46, c.dtype);
    std::vector<double> dst(static_cast<size_t>(d.n * d.c)), ds(static_cast<size_t>(d.numel()));
    ops::global_avg_pool_forward(d, src.data(), dst.data());
    ops::global_avg_pool_backward(d, dd.data(), ds.data());
    DeviceArray d_src(src, d, c.dtype, c.layout), d_dst(std::vector<double>(dst.size()), c.dtype);
    global_avg_pool_forward(c.dtype, c.layout, d, d_src.get(), d_dst.get(), nullptr);
    EXPECT_TRUE(close(dst, d_dst.download(), c.dtype)) << "forward";
    DeviceArray d_dd(dd, c.dtype), d_ds(old, d, c.dtype, c.layout);
    global_avg_pool_backward(c.dtype, c.layout, d, d_dd.get(), d_ds.get(), true, nullptr);
    for (size_t i = 0; i < ds.size(); ++i) ds[i] += old[i];
    EXPECT_TRUE(close(ds, d_ds.download(), c.dtype)) << "backward, accumulate";
  }
}

TEST(CudaEltwiseTest, InputConversionMatchesHostPermutation) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  const ops::Dims4 d{2, 3, 5, 4};
  const auto src = random_values(d.numel(), 47, DType::bf16);
  DeviceBuffer f32 = upload_f32(src);
  for (const Case& c : all_cases()) {
    SCOPED_TRACE(std::string(dtype_name(c.dtype)) + " " + layout_name(c.layout));
    DeviceArray out(std::vector<double>(src.size()), d, c.dtype, c.layout);  // downloads through c.layout
    convert_input(c.dtype, c.layout, d, f32.as<float>(), out.get(), nullptr);
    EXPECT_TRUE(close(src, out.download(), c.dtype));
  }
}

TEST(CudaEltwiseTest, FilterPackRoundTripAndOverflowFlag) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  const ops::Dims4 oihw{4, 3, 3, 2};
  const auto w = random_values(oihw.numel(), 48, DType::bf16);
  DeviceBuffer f32 = upload_f32(w), back(f32.bytes()), flag(sizeof(int));
  for (const Case& c : all_cases()) {
    SCOPED_TRACE(std::string(dtype_name(c.dtype)) + " " + layout_name(c.layout));
    DeviceBuffer packed(static_cast<size_t>(oihw.numel()) * dtype_size(c.dtype));
    pack_weights(c.dtype, c.layout, oihw, f32.as<float>(), packed.get(), nullptr);
    unpack_weights(c.dtype, c.layout, oihw, packed.get(), back.as<float>(), 0.5f, flag.as<int>(), nullptr);
    std::vector<double> half(w);
    for (double& x : half) x *= 0.5;
    EXPECT_TRUE(close(half, download_f32(back.as<float>(), oihw.numel()), c.dtype));
    // OHWI really is O, KH, KW, I: element (o=1, i=2, y=1, x=0) sits at ((1·3+1)·2+0)·3+2.
    if (c.layout == Layout::nhwc && c.dtype == DType::f32) {
      std::vector<float> host(static_cast<size_t>(oihw.numel()));
      CUDA_CHECK(cudaMemcpy(host.data(), packed.get(), packed.bytes(), cudaMemcpyDeviceToHost));
      EXPECT_EQ(host[((1 * 3 + 1) * 2 + 0) * 3 + 2], static_cast<float>(w[((1 * 3 + 2) * 3 + 1) * 2 + 0]));
    }
  }
  int overflow = 0;
  CUDA_CHECK(cudaMemcpy(&overflow, flag.get(), sizeof overflow, cudaMemcpyDeviceToHost));
  EXPECT_EQ(overflow, 0);
  const std::vector<double> inf{1.0, 1e30};
  DeviceBuffer big = upload_f32(inf), half(inf.size() * 2);
  convert_from_f32(DType::f16, 2, big.as<float>(), half.get(), 1.0f, nullptr);
  convert_to_f32(DType::f16, 2, half.get(), big.as<float>(), 1.0f, flag.as<int>(), nullptr);
  CUDA_CHECK(cudaMemcpy(&overflow, flag.get(), sizeof overflow, cudaMemcpyDeviceToHost));
  EXPECT_EQ(overflow, 1) << "1e30 overflows fp16";
}

}  // namespace
}  // namespace bigbatch::backend::cuda
