// GPU concatenation vs the reference (ops/concat.h): forward, and each input's backward
// (overwrite: exact copies; accumulate), every dtype and layout, odd channel counts, H != W.
#include "bigbatch/backend/cuda/concat.h"

#include <gtest/gtest.h>

#include "backend/cuda/cuda_test_util.h"

namespace bigbatch::backend::cuda {
namespace {

using namespace testing;

void check_concat(const std::vector<ops::Dims4>& sd, const Case& c) {
  SCOPED_TRACE(std::string(dtype_name(c.dtype)) + " " + layout_name(c.layout) + " batch " + std::to_string(sd[0].n));
  const ops::Dims4 dd = ops::concat_dst_dims(sd);
  std::vector<std::vector<double>> srcs, diff_srcs, olds;
  std::vector<const double*> src_ptrs;
  std::vector<double*> diff_ptrs;
  for (size_t i = 0; i < sd.size(); ++i) {
    srcs.push_back(random_values(sd[i].numel(), 70 + i, c.dtype));
    olds.push_back(random_values(sd[i].numel(), 80 + i, c.dtype));
    diff_srcs.emplace_back(static_cast<size_t>(sd[i].numel()));
  }
  for (size_t i = 0; i < sd.size(); ++i) {
    src_ptrs.push_back(srcs[i].data());
    diff_ptrs.push_back(diff_srcs[i].data());
  }
  const auto diff_dst = random_values(dd.numel(), 90, c.dtype);
  std::vector<double> dst(static_cast<size_t>(dd.numel()));
  ops::concat_forward<double>(sd, src_ptrs, dst.data());
  ops::concat_backward<double>(sd, diff_dst.data(), diff_ptrs);

  std::vector<DeviceArray> d_srcs;
  std::vector<const void*> d_src_ptrs;
  d_srcs.reserve(sd.size());
  for (size_t i = 0; i < sd.size(); ++i) {
    d_srcs.emplace_back(srcs[i], sd[i], c.dtype, c.layout);
    d_src_ptrs.push_back(d_srcs.back().get());
  }
  DeviceArray d_dst(std::vector<double>(dst.size()), dd, c.dtype, c.layout);
  concat_forward(c.dtype, c.layout, sd, d_src_ptrs, d_dst.get(), nullptr);
  EXPECT_EQ(d_dst.download(), dst) << "forward";

  DeviceArray d_diff_dst(diff_dst, dd, c.dtype, c.layout);
  for (size_t i = 0; i < sd.size(); ++i) {
    SCOPED_TRACE("input " + std::to_string(i));
    DeviceArray d_diff_src(olds[i], sd[i], c.dtype, c.layout);
    concat_backward(c.dtype, c.layout, sd, i, d_diff_dst.get(), d_diff_src.get(), true, nullptr);
    std::vector<double> accumulated = diff_srcs[i];
    for (size_t k = 0; k < accumulated.size(); ++k) accumulated[k] += olds[i][k];
    EXPECT_TRUE(close(accumulated, d_diff_src.download(), c.dtype)) << "backward, accumulate";
    concat_backward(c.dtype, c.layout, sd, i, d_diff_dst.get(), d_diff_src.get(), false, nullptr);
    EXPECT_EQ(d_diff_src.download(), diff_srcs[i]) << "backward";
  }
}

TEST(CudaConcatTest, MatchesReference) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  for (const Case& c : all_cases()) {
    for (const int64_t n : {1, 3}) check_concat({{n, 1, 5, 4}, {n, 3, 5, 4}, {n, 5, 5, 4}}, c);
    check_concat({{2, 4, 3, 7}, {2, 2, 3, 7}}, c);
  }
}

TEST(CudaConcatTest, ShapeErrorsThrow) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  const std::vector<ops::Dims4> bad = {{2, 3, 4, 4}, {2, 3, 4, 5}};
  const std::vector<const void*> two = {nullptr, nullptr};
  EXPECT_THROW(concat_forward(DType::f32, Layout::nchw, bad, two, nullptr, nullptr), InvalidArgument);
  const std::vector<ops::Dims4> good = {{2, 3, 4, 4}, {2, 1, 4, 4}};
  EXPECT_THROW(concat_backward(DType::f32, Layout::nhwc, good, 2, nullptr, nullptr, false, nullptr), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::backend::cuda
