// Pool (oneDNN) vs the reference: max, average (with and without padding in the count) and
// global average; forward and backward, odd sizes, blocked layouts, f32 and bf16.
#include "bigbatch/backend/cpu/pooling.h"

#include <gtest/gtest.h>

#include "backend/cpu/kernel_test_util.h"

namespace bigbatch::backend::cpu {
namespace {

using namespace testing;

struct PoolCase {
  int64_t n, c, h, w, k, stride, pad;
};

void check_pool(PoolKind kind, const PoolCase& pc, bool exclude_padding, bool bf16) {
  SCOPED_TRACE(::testing::Message() << "kind " << static_cast<int>(kind) << " " << pc.n << "x" << pc.c << "x" << pc.h
                                    << "x" << pc.w << " k" << pc.k << " s" << pc.stride << " p" << pc.pad << " exclude "
                                    << exclude_padding << (bf16 ? " bf16" : " f32"));
  const ops::PoolParams p{pc.k, pc.k, pc.stride, pc.stride, pc.pad, pc.pad, exclude_padding};
  const ops::Dims4 src_dims{pc.n, pc.c, pc.h, pc.w};
  const memory::desc md({pc.n, pc.c, pc.h, pc.w}, data_type(bf16), memory::format_tag::nChw16c);
  const Pool pool(kind, p, src_dims, md);
  const ops::Dims4 dst_dims = pool.dst_dims();
  const std::vector<double> src = random_values(src_dims.numel(), 51, bf16);
  const std::vector<double> diff_dst = random_values(dst_dims.numel(), 52, bf16);
  const memory src_m = upload(src, md), dst_m = make_memory(pool.dst_md());
  const memory diff_dst_m = upload(diff_dst, pool.dst_md()), diff_src_m = make_memory(md);
  StepList steps(make_scratchpad(pool.scratchpad_bytes()));
  pool.forward(steps, src_m, dst_m);
  pool.backward(steps, diff_dst_m, diff_src_m);
  run(steps);
  std::vector<double> dst(static_cast<size_t>(dst_dims.numel())), diff_src(src.size());
  switch (kind) {
    case PoolKind::max:
      ops::max_pool_forward(p, src_dims, src.data(), dst.data());
      ops::max_pool_backward(p, src_dims, src.data(), diff_dst.data(), diff_src.data());
      break;
    case PoolKind::avg:
      ops::avg_pool_forward(p, src_dims, src.data(), dst.data());
      ops::avg_pool_backward(p, src_dims, diff_dst.data(), diff_src.data());
      break;
    case PoolKind::global_avg:
      ops::global_avg_pool_forward(src_dims, src.data(), dst.data());
      ops::global_avg_pool_backward(src_dims, diff_dst.data(), diff_src.data());
      break;
  }
  EXPECT_TRUE(close(dst, download(dst_m), bf16)) << "dst";
  EXPECT_TRUE(close(diff_src, download(diff_src_m), bf16)) << "diff_src";
}

const PoolCase kCases[] = {
    {2, 16, 8, 8, 3, 2, 1},  // ImageNet stem max-pool shape
    {1, 5, 7, 9, 3, 2, 1},   // odd sizes, batch 1
    {3, 19, 6, 5, 2, 2, 0},  // floor mode drops the last column
    {2, 8, 5, 5, 3, 1, 1},
};

TEST(PoolTest, MaxMatchesReference) {
  for (bool bf16 : {false, true}) {
    if (bf16 && !has_native_bf16()) continue;
    for (const PoolCase& c : kCases) check_pool(PoolKind::max, c, false, bf16);
  }
}

TEST(PoolTest, AvgMatchesReference) {
  for (bool bf16 : {false, true}) {
    if (bf16 && !has_native_bf16()) continue;
    for (const PoolCase& c : kCases)
      for (bool exclude : {false, true}) check_pool(PoolKind::avg, c, exclude, bf16);
  }
}

TEST(PoolTest, GlobalAvgMatchesReference) {
  for (bool bf16 : {false, true}) {
    if (bf16 && !has_native_bf16()) continue;
    for (const PoolCase& c : kCases) check_pool(PoolKind::global_avg, c, false, bf16);
  }
}

}  // namespace
}  // namespace bigbatch::backend::cpu
