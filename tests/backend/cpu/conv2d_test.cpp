// Conv2d (oneDNN) vs the reference convolution: forward, backward_data, backward_weights over
// fixed and random shapes (odd sizes, batch 1, strides 1 and 2, 1×1 and 3×3), f32 and bf16.
#include "bigbatch/backend/cpu/conv2d.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/kernel_test_util.h"
#include "bigbatch/core/rng.h"

namespace bigbatch::backend::cpu {
namespace {

using namespace testing;

struct ConvCase {
  int64_t n, c, h, w, o, k, stride, pad;
  bool bias;
};

enum class SrcLayout { any, plain, blocked };

void check_conv(const ConvCase& cc, bool bf16, SrcLayout layout, ConvAlgorithm algorithm = ConvAlgorithm::direct,
                bool staging = false) {
  SCOPED_TRACE(::testing::Message() << "n" << cc.n << " c" << cc.c << " " << cc.h << "x" << cc.w << " o" << cc.o << " k"
                                    << cc.k << " s" << cc.stride << " p" << cc.pad << " bias" << cc.bias
                                    << (bf16 ? " bf16" : " f32") << " layout " << static_cast<int>(layout)
                                    << " algorithm " << static_cast<int>(algorithm));
  ops::Conv2dParams p;
  p.in_channels = cc.c;
  p.out_channels = cc.o;
  p.kernel_h = p.kernel_w = cc.k;
  p.stride_h = p.stride_w = cc.stride;
  p.pad_h = p.pad_w = cc.pad;
  p.bias = cc.bias;
  const ops::Dims4 src_dims{cc.n, cc.c, cc.h, cc.w};
  const ops::Dims4 dst_dims = ops::conv2d_dst_dims(p, src_dims);
  const memory::data_type dt = data_type(bf16);
  const memory::desc src_md = layout == SrcLayout::any ? any_md(src_dims, dt)
                              : layout == SrcLayout::plain
                                  ? nchw_md(src_dims, dt)
                                  : memory::desc({cc.n, cc.c, cc.h, cc.w}, dt, memory::format_tag::nChw16c);
  Conv2d conv(p, src_dims, dt, src_md, true, algorithm);
  // A staging buffer that the weights reorders of another layer would also use: poisoned
  // between the steps below, so nothing may rely on its contents surviving a step.
  std::vector<float> staging_buffer(conv.staging_bytes() / sizeof(float) + 1);
  if (staging) conv.set_staging(staging_buffer.data());
  SCOPED_TRACE(conv.implementation());

  const std::vector<double> src = random_values(src_dims.numel(), 1, bf16);
  const std::vector<double> weights = random_values(cc.o * cc.c * cc.k * cc.k, 2, bf16, -0.5, 0.5);
  const std::vector<double> bias = random_values(cc.o, 3, false);
  const std::vector<double> diff_dst = random_values(dst_dims.numel(), 4, bf16);

  std::vector<float> weights_f = to_float(weights), bias_f = to_float(bias);
  std::vector<float> diff_weights_f(weights.size()), diff_bias_f(bias.size());
  const memory src_m = upload(src, conv.src_md());
  const memory dst_m = make_memory(conv.dst_md());
  const memory diff_dst_m = upload(diff_dst, conv.dst_md());
  const memory diff_src_m = make_memory(conv.src_md());
  const memory weights_m = plain_view(weights_f, conv.weights_plain_md().dims());
  const memory bias_m = cc.bias ? plain_view(bias_f, {cc.o}) : memory();
  const memory diff_weights_m = plain_view(diff_weights_f, conv.weights_plain_md().dims());
  const memory diff_bias_m = cc.bias ? plain_view(diff_bias_f, {cc.o}) : memory();

  StepList steps(make_scratchpad(conv.scratchpad_bytes()));
  auto poison = [&] { std::fill(staging_buffer.begin(), staging_buffer.end(), std::nanf("")); };
  conv.forward(steps, src_m, weights_m, bias_m, dst_m);
  if (staging) steps.add_host(poison);
  conv.backward_weights(steps, src_m, diff_dst_m, diff_weights_m, diff_bias_m);
  if (staging) steps.add_host(poison);
  conv.backward_data(steps, diff_dst_m, weights_m, diff_src_m);
  run(steps);

  std::vector<double> dst_ref(static_cast<size_t>(dst_dims.numel())), diff_src_ref(src.size());
  std::vector<double> diff_weights_ref(weights.size()), diff_bias_ref(bias.size());
  ops::conv2d_forward(p, src_dims, src.data(), weights.data(), cc.bias ? bias.data() : nullptr, dst_ref.data());
  ops::conv2d_backward_data(p, src_dims, diff_dst.data(), weights.data(), diff_src_ref.data());
  ops::conv2d_backward_weights(p, src_dims, src.data(), diff_dst.data(), diff_weights_ref.data(),
                               cc.bias ? diff_bias_ref.data() : nullptr);
  EXPECT_TRUE(close(dst_ref, download(dst_m), bf16)) << "dst";
  EXPECT_TRUE(close(diff_src_ref, download(diff_src_m), bf16)) << "diff_src";
  EXPECT_TRUE(close(diff_weights_ref, diff_weights_f, bf16)) << "diff_weights";
  if (cc.bias) {
    EXPECT_TRUE(close(diff_bias_ref, diff_bias_f, bf16)) << "diff_bias";
  }
}

const ConvCase kCases[] = {
    {1, 1, 28, 28, 16, 3, 1, 1, false},                                      // a network's first layer, batch 1
    {2, 16, 8, 8, 16, 3, 1, 1, false},   {3, 5, 9, 11, 7, 3, 2, 1, true},    // odd everything
    {2, 16, 14, 14, 32, 1, 2, 0, false},                                     // projection shortcut: right padding -1
    {4, 32, 5, 5, 17, 3, 2, 1, true},    {2, 3, 13, 13, 8, 7, 2, 3, false},  // ImageNet stem shape, small
    {4, 8, 6, 6, 8, 1, 1, 0, false},                                         // 1×1 on a padded channel block
};

std::vector<ConvCase> random_cases() {
  Rng rng(42);
  std::vector<ConvCase> cases;
  for (int i = 0; i < 6; ++i) {
    ConvCase c;
    c.n = 1 + static_cast<int64_t>(rng.below(4));
    c.c = 1 + static_cast<int64_t>(rng.below(40));
    c.o = 1 + static_cast<int64_t>(rng.below(40));
    c.k = rng.below(2) ? 3 : 1;
    c.stride = 1 + static_cast<int64_t>(rng.below(2));
    c.pad = c.k / 2;
    c.h = c.k + static_cast<int64_t>(rng.below(12));
    c.w = c.k + static_cast<int64_t>(rng.below(12));
    c.bias = rng.below(2) == 1;
    cases.push_back(c);
  }
  return cases;
}

TEST(Conv2dTest, MatchesReferenceF32) {
  for (const ConvCase& c : kCases) check_conv(c, false, SrcLayout::any);
  for (const ConvCase& c : random_cases()) check_conv(c, false, SrcLayout::any);
}

// As inside a network: src in the blocked layout of the layer before.
TEST(Conv2dTest, MatchesReferenceF32BlockedSrc) {
  for (const ConvCase& c : kCases) check_conv(c, false, SrcLayout::blocked);
  for (const ConvCase& c : random_cases()) check_conv(c, false, SrcLayout::blocked);
}

TEST(Conv2dTest, MatchesReferenceWithSharedStaging) {
  for (const ConvCase& c : kCases) check_conv(c, false, SrcLayout::blocked, ConvAlgorithm::direct, true);
  if (has_native_bf16())
    for (const ConvCase& c : kCases) check_conv(c, true, SrcLayout::blocked, ConvAlgorithm::direct, true);
}

// Winograd where oneDNN has it (3×3 stride 1, f32, whole channel blocks), direct elsewhere;
// tuned picks either per direction.
TEST(Conv2dTest, MatchesReferenceF32WinogradAndTuned) {
  const ConvCase cases[] = {{2, 16, 8, 8, 16, 3, 1, 1, false}, {3, 32, 7, 9, 48, 3, 1, 1, true},
                            {1, 64, 5, 5, 64, 3, 1, 1, false}, {4, 8, 6, 6, 8, 3, 1, 1, false},
                            {2, 8, 11, 11, 8, 3, 1, 1, true},  {4, 3, 11, 11, 8, 3, 1, 1, true}};
  for (const ConvCase& c : cases) {
    check_conv(c, false, SrcLayout::blocked, ConvAlgorithm::winograd);
    check_conv(c, false, SrcLayout::blocked, ConvAlgorithm::tuned);
  }
  check_conv(kCases[2], false, SrcLayout::any, ConvAlgorithm::winograd);  // falls back to direct
}

TEST(Conv2dTest, MatchesReferenceF32PlainSrc) {
  for (const ConvCase& c : kCases) check_conv(c, false, SrcLayout::plain);
}

TEST(Conv2dTest, MatchesReferenceBf16) {
  if (!has_native_bf16()) GTEST_SKIP() << "no native bf16 on this CPU";
  for (const ConvCase& c : kCases) check_conv(c, true, SrcLayout::any);
  for (const ConvCase& c : random_cases()) check_conv(c, true, SrcLayout::blocked);
}

TEST(Conv2dTest, BadShapeThrowsInvalidArgument) {
  ops::Conv2dParams p;
  p.in_channels = 3;
  p.out_channels = 4;
  p.kernel_h = p.kernel_w = 5;
  EXPECT_THROW(Conv2d(p, {1, 3, 2, 2}, memory::data_type::f32, any_md({1, 3, 2, 2}, memory::data_type::f32), true),
               InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::backend::cpu
