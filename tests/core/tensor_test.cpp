#include "bigbatch/core/tensor.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace bigbatch {
namespace {

TEST(Tensor, ZerosAreAlignedAndZero) {
  Tensor t = Tensor::zeros({3, 5, 7});
  EXPECT_EQ(t.numel(), 105);
  EXPECT_EQ(t.nbytes(), 105u * 4u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % kStorageAlignment, 0u);
  for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(t.data<float>()[i], 0.0f);
}

TEST(Tensor, SliceAndReshapeShareStorage) {
  Tensor t = Tensor::zeros({4, 3});
  for (int i = 0; i < 12; ++i) t.data<float>()[i] = static_cast<float>(i);
  Tensor rows = t.slice(1, 3);
  EXPECT_EQ(rows.shape(), Shape({2, 3}));
  EXPECT_EQ(rows.data<float>()[0], 3.0f);
  rows.data<float>()[0] = 42.0f;
  EXPECT_EQ(t.data<float>()[3], 42.0f);
  Tensor flat = t.reshape({12});
  EXPECT_EQ(flat.data<float>()[3], 42.0f);
}

TEST(Tensor, BadViewsThrow) {
  Tensor t = Tensor::zeros({4, 3});
  EXPECT_THROW(t.reshape({5, 3}), InvalidArgument);
  EXPECT_THROW(t.slice(2, 5), InvalidArgument);
  EXPECT_THROW(t.data<uint16_t>(), InvalidArgument);
  EXPECT_THROW(Tensor::view_of(t.storage(), 40, {4}, DType::f32), InvalidArgument);
}

TEST(DType, Bf16RoundTripAndRounding) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(-3.5f)), -3.5f);
  // 1 + 2^-8 is halfway between two bf16 values; ties go to even (1.0).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 0x1.0p-8f)), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 0x1.8p-8f)), 1.0f + 0x1.0p-7f);
  float nan = bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()));
  EXPECT_NE(nan, nan);
  EXPECT_THROW(parse_dtype("f64"), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch
