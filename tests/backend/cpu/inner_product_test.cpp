// InnerProduct (oneDNN) vs the reference linear layer: forward, backward_data,
// backward_weights from plain N×I and blocked N×C×H×W sources, f32 and bf16 (f32 logits).
#include "bigbatch/backend/cpu/inner_product.h"

#include <gtest/gtest.h>

#include "backend/cpu/kernel_test_util.h"

namespace bigbatch::backend::cpu {
namespace {

using namespace testing;

void check_linear(const memory::dims& src_dims, memory::format_tag tag, int64_t out, bool bias, bool bf16) {
  SCOPED_TRACE(::testing::Message() << "src rank " << src_dims.size() << " features " << product(src_dims) / src_dims[0]
                                    << " out " << out << " bias " << bias << (bf16 ? " bf16" : " f32"));
  const int64_t n = src_dims[0], in = product(src_dims) / n;
  ops::LinearParams p;
  p.in_features = in;
  p.out_features = out;
  p.bias = bias;
  const memory::desc md(src_dims, data_type(bf16), tag);
  const InnerProduct ip(p, md, data_type(bf16), memory::data_type::f32, true);
  const std::vector<double> src = random_values(n * in, 61, bf16);
  const std::vector<double> weights = random_values(out * in, 62, bf16, -0.5, 0.5);
  const std::vector<double> bias_v = random_values(out, 63, false);
  // diff_dst arrives in f32 (the loss's gradient); bf16 kernels round it on the way in.
  const std::vector<double> diff_dst = random_values(n * out, 64, bf16);
  std::vector<float> weights_f = to_float(weights), bias_f = to_float(bias_v);
  std::vector<float> diff_weights_f(weights.size()), diff_bias_f(bias_v.size());
  const memory src_m = upload(src, md), diff_src_m = make_memory(md);
  const memory dst_m = make_memory(ip.dst_md()), diff_dst_m = upload(diff_dst, ip.dst_md());
  const memory weights_m = plain_view(weights_f, ip.weights_plain_md().dims());
  const memory diff_weights_m = plain_view(diff_weights_f, ip.weights_plain_md().dims());
  const memory bias_m = bias ? plain_view(bias_f, {out}) : memory();
  const memory diff_bias_m = bias ? plain_view(diff_bias_f, {out}) : memory();
  StepList steps(make_scratchpad(ip.scratchpad_bytes()));
  ip.forward(steps, src_m, weights_m, bias_m, dst_m);
  ip.backward_weights(steps, src_m, diff_dst_m, diff_weights_m, diff_bias_m);
  ip.backward_data(steps, diff_dst_m, weights_m, diff_src_m);
  run(steps);
  std::vector<double> dst(static_cast<size_t>(n * out)), diff_src(src.size());
  std::vector<double> diff_weights(weights.size()), diff_bias(bias_v.size());
  ops::linear_forward(p, n, src.data(), weights.data(), bias ? bias_v.data() : nullptr, dst.data());
  ops::linear_backward_data(p, n, diff_dst.data(), weights.data(), diff_src.data());
  ops::linear_backward_weights(p, n, src.data(), diff_dst.data(), diff_weights.data(),
                               bias ? diff_bias.data() : nullptr);
  EXPECT_TRUE(close(dst, download(dst_m), bf16)) << "dst";
  EXPECT_TRUE(close(diff_src, download(diff_src_m), bf16)) << "diff_src";
  EXPECT_TRUE(close(diff_weights, diff_weights_f, bf16)) << "diff_weights";
  if (bias) {
    EXPECT_TRUE(close(diff_bias, diff_bias_f, bf16)) << "diff_bias";
  }
}

TEST(InnerProductTest, MatchesReference) {
  for (bool bf16 : {false, true}) {
    if (bf16 && !has_native_bf16()) continue;
    check_linear({8, 64, 1, 1}, memory::format_tag::nChw16c, 10, true, bf16);  // after global pooling
    check_linear({3, 19, 1, 1}, memory::format_tag::nChw16c, 7, true, bf16);   // padded channel block
    check_linear({1, 5, 3, 3}, memory::format_tag::nchw, 4, false, bf16);      // flatten, batch 1
    check_linear({5, 33}, memory::format_tag::ab, 12, true, bf16);
  }
}

}  // namespace
}  // namespace bigbatch::backend::cpu
