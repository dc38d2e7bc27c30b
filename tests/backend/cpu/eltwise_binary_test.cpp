// Relu, Add (with and without fused ReLU), Reorder and Accumulate vs the reference ops, in
// blocked and plain layouts, f32 and bf16, including in-place use.
#include <gtest/gtest.h>

#include "backend/cpu/kernel_test_util.h"
#include "bigbatch/backend/cpu/binary.h"
#include "bigbatch/backend/cpu/eltwise.h"
#include "bigbatch/backend/cpu/reorder.h"
#include "bigbatch/ops/add.h"
#include "bigbatch/ops/relu.h"

namespace bigbatch::backend::cpu {
namespace {

using namespace testing;

const memory::dims kShapes[] = {{1, 3, 5, 7}, {4, 16, 6, 6}, {3, 19, 4, 3}};

TEST(ReluTest, MatchesReference) {
  for (bool bf16 : {false, true}) {
    if (bf16 && !has_native_bf16()) continue;
    for (const memory::dims& dims : kShapes) {
      for (memory::format_tag tag : {memory::format_tag::nChw16c, memory::format_tag::nchw}) {
        SCOPED_TRACE(::testing::Message() << dims[1] << " channels, tag " << static_cast<int>(tag) << " bf16 " << bf16);
        const memory::desc md(dims, data_type(bf16), tag);
        const Relu relu(md);
        const int64_t count = product(dims);
        const std::vector<double> src = random_values(count, 21, bf16), diff_dst = random_values(count, 22, bf16);
        const memory src_m = upload(src, md), dst_m = make_memory(md), diff_m = upload(diff_dst, md);
        const memory inplace_m = upload(src, md);
        StepList steps(make_scratchpad(relu.scratchpad_bytes()));
        relu.forward(steps, src_m, dst_m);
        relu.forward(steps, inplace_m, inplace_m);
        relu.backward(steps, dst_m, diff_m, diff_m);  // in place
        run(steps);
        std::vector<double> dst(src.size()), diff_src(src.size());
        ops::relu_forward(count, src.data(), dst.data());
        ops::relu_backward(count, dst.data(), diff_dst.data(), diff_src.data());
        EXPECT_TRUE(close(dst, download(dst_m), bf16));
        EXPECT_TRUE(close(dst, download(inplace_m), bf16));
        EXPECT_TRUE(close(diff_src, download(diff_m), bf16));
      }
    }
  }
}

TEST(AddTest, MatchesReferenceWithAndWithoutRelu) {
  for (bool bf16 : {false, true}) {
    if (bf16 && !has_native_bf16()) continue;
    for (const memory::dims& dims : kShapes) {
      for (bool fuse : {false, true}) {
        for (memory::format_tag tag1 : {memory::format_tag::nChw16c, memory::format_tag::nchw}) {
          SCOPED_TRACE(::testing::Message() << dims[1] << " channels, relu " << fuse << " bf16 " << bf16 << " tag1 "
                                            << static_cast<int>(tag1));
          const memory::desc md(dims, data_type(bf16), memory::format_tag::nChw16c);
          const memory::desc md1(dims, data_type(bf16), tag1);
          const Add add(md, md1, fuse);
          EXPECT_EQ(add.fuse_relu(), fuse);
          const int64_t count = product(dims);
          const std::vector<double> a = random_values(count, 31, bf16), b = random_values(count, 32, bf16);
          const std::vector<double> diff_dst = random_values(count, 33, bf16);
          const memory a_m = upload(a, md), b_m = upload(b, md1), diff_m = upload(diff_dst, md);
          // In place on src0 where the kernel allows it, as the executor does.
          const memory dst_m = add.supports_in_place() ? upload(a, md) : make_memory(md);
          StepList steps(make_scratchpad(add.scratchpad_bytes()));
          add.forward(steps, add.supports_in_place() ? dst_m : a_m, b_m, dst_m);
          add.backward_relu(steps, dst_m, diff_m, diff_m);
          run(steps);
          std::vector<double> sum(a.size()), dst(a.size()), diff_src(a.size());
          ops::add_forward(count, a.data(), b.data(), sum.data());
          if (fuse) {
            ops::relu_forward(count, sum.data(), dst.data());
            ops::relu_backward(count, dst.data(), diff_dst.data(), diff_src.data());
          } else {
            dst = sum;
            diff_src = diff_dst;
          }
          EXPECT_TRUE(close(dst, download(dst_m), bf16));
          EXPECT_TRUE(close(diff_src, download(diff_m), bf16));
        }
      }
    }
  }
}

TEST(ReorderTest, RoundTripsAndAccumulates) {
  const memory::dims dims = {3, 19, 4, 5};
  const memory::desc plain(dims, memory::data_type::f32, memory::format_tag::nchw);
  const memory::desc blocked(dims, memory::data_type::f32, memory::format_tag::nChw16c);
  const Reorder to_blocked(plain, blocked);
  const Accumulate accumulate(blocked, plain);
  const std::vector<double> x = random_values(product(dims), 41, false), y = random_values(product(dims), 42, false);
  const memory x_m = upload(x, plain), y_m = upload(y, plain), z_m = make_memory(blocked);
  StepList steps(make_scratchpad(std::max(to_blocked.scratchpad_bytes(), accumulate.scratchpad_bytes())));
  to_blocked.forward(steps, x_m, z_m);
  accumulate.forward(steps, z_m, y_m);
  run(steps);
  std::vector<double> sum(x.size());
  for (size_t i = 0; i < x.size(); ++i) sum[i] = x[i] + y[i];
  EXPECT_TRUE(close(sum, download(z_m), false));
}

}  // namespace
}  // namespace bigbatch::backend::cpu
