// The oneDNN CPU executor vs the reference executor in double, on whole networks: logits,
// every parameter gradient, running statistics, hook order; two training steps (buffers are
// reused) and an inference forward; f32 tightly, bf16 loosely; ghost BN groups.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/models/registry.h"
#include "bigbatch/nn/executor.h"
#include "bigbatch/nn/init.h"
#include "bigbatch/nn/reference_executor.h"
#include "nn/branch_graph.h"
#include "testing/gradcheck.h"

namespace bigbatch::nn {
namespace {

// ‖a - b‖ / max(‖b‖, floor): one number per tensor, robust to bf16's scattered roundings.
double relative_l2(const float* a, const float* b, int64_t count, double floor) {
  double diff = 0.0, norm = 0.0;
  for (int64_t i = 0; i < count; ++i) {
    diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    norm += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(norm), floor);
}

double max_abs(const Tensor& t) {
  double m = 0.0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(static_cast<double>(t.data<float>()[i])));
  return m;
}

// floor: a magnitude below which differences are noise (e.g. 1% of the largest gradient of
// the network: a conv bias feeding a BN has a true gradient of 0).
// bf16_tolerance: bound on the relative L2 error of each tensor in bf16. bf16 rounds every
// activation and diff, and BN's backward over few values amplifies that: merely rounding the
// f32 inputs and parameters to bf16 moves the tiny ResNet-18's first gradients by ~30%.
void expect_close(const char* what, const Tensor& actual, const Tensor& expected, DType precision, double floor,
                  double bf16_tolerance = 0.0) {
  const float* a = actual.data<float>();
  const float* e = expected.data<float>();
  const int64_t n = expected.numel();
  ASSERT_EQ(actual.numel(), n) << what;
  const double scale = std::max(max_abs(expected), floor);
  if (precision == DType::f32) {
    EXPECT_TRUE(testing::near_relative(a, e, n, 2e-3, 2e-4 * scale)) << what;
  } else {
    const double error = relative_l2(a, e, n, floor * std::sqrt(static_cast<double>(n)));
    EXPECT_LT(error, bf16_tolerance) << what;
    if (std::getenv("BIGBATCH_TEST_VERBOSE")) std::printf("%-32s %.4f\n", what, error);
  }
}

// Two executors over one graph: the reference in double and the CPU one, each with its own
// gradients and buffers, reading the same parameters.
class Parity {
 public:
  Parity(Graph graph, int64_t batch, int64_t bn_group, DType precision, uint64_t seed, double bf16_tolerance = 0.0)
      : graph_(std::move(graph)),
        precision_(precision),
        bf16_tolerance_(bf16_tolerance),
        params_(graph_.parameter_layout()),
        grads_ref_(graph_.parameter_layout()),
        grads_cpu_(graph_.parameter_layout()),
        buffers_ref_(graph_.buffer_layout()),
        buffers_cpu_(graph_.buffer_layout()),
        rng_(seed) {
    initialize(graph_, params_, buffers_ref_, rng_, {.zero_gamma = false});
    // Off-default γ, β and running statistics, so that every term of BN shows.
    for (const Arena* arena : {&params_, &buffers_ref_}) {
      const ArenaLayout& layout = arena->layout();
      for (int i = 0; i < layout.size(); ++i) {
        float* p = arena->tensor(i).data<float>();
        for (int64_t j = 0; j < arena->tensor(i).numel(); ++j) {
          switch (layout.entry(i).role) {
            case TensorRole::bn_gamma:
              p[j] = static_cast<float>(0.7 + 0.6 * rng_.uniform());
              break;
            case TensorRole::bn_beta:
              p[j] = static_cast<float>(0.2 * (rng_.uniform() - 0.5));
              break;
            case TensorRole::fc_weight:
              p[j] = static_cast<float>(0.5 * (rng_.uniform() - 0.5));
              break;
            case TensorRole::bias:
              p[j] = static_cast<float>(0.2 * (rng_.uniform() - 0.5));
              break;
            case TensorRole::bn_running_var:
              p[j] = static_cast<float>(0.5 + rng_.uniform());
              break;
            case TensorRole::bn_running_mean:
            case TensorRole::conv_weight:
              break;
          }
        }
      }
    }
    buffers_cpu_.copy_from(buffers_ref_);
    const ExecutorOptions options{batch, bn_group, precision};
    reference_ = make_reference_executor<double>({&graph_, &params_, &grads_ref_, &buffers_ref_}, options);
    cpu_ = make_cpu_executor({&graph_, &params_, &grads_cpu_, &buffers_cpu_}, options);
    const Node& in = graph_.input_node();
    src_ = Tensor::zeros(Shape{batch, in.c, in.h, in.w});
    diff_logits_ = Tensor::zeros(Shape{batch, graph_.output_columns()});
  }

  // One training step on both, then every comparison.
  void check_step(uint64_t seed) {
    testing::fill_uniform(src_.data<float>(), src_.numel(), seed);
    testing::fill_uniform(diff_logits_.data<float>(), diff_logits_.numel(), seed + 1);
    grads_cpu_.zero();
    std::vector<int> hooks_ref, hooks_cpu;
    reference_->forward(src_, true);
    cpu_->forward(src_, true);
    reference_->backward(diff_logits_, [&](int id) { hooks_ref.push_back(id); });
    cpu_->backward(diff_logits_, [&](int id) { hooks_cpu.push_back(id); });
    expect_close("logits", cpu_->logits(), reference_->logits(), precision_, 1e-3, bf16_tolerance_);
    EXPECT_EQ(hooks_cpu, hooks_ref);
    double largest = 0.0;
    for (int i = 0; i < grads_ref_.layout().size(); ++i) largest = std::max(largest, max_abs(grads_ref_.tensor(i)));
    for (int i = 0; i < grads_ref_.layout().size(); ++i)
      expect_close(grads_ref_.layout().entry(i).name.c_str(), grads_cpu_.tensor(i), grads_ref_.tensor(i), precision_,
                   1e-2 * largest, bf16_tolerance_);
    for (int i = 0; i < buffers_ref_.layout().size(); ++i)
      expect_close(buffers_ref_.layout().entry(i).name.c_str(), buffers_cpu_.tensor(i), buffers_ref_.tensor(i),
                   precision_, 1e-3, bf16_tolerance_);
  }

  void check_inference(uint64_t seed) {
    testing::fill_uniform(src_.data<float>(), src_.numel(), seed);
    reference_->forward(src_, false);
    cpu_->forward(src_, false);
    expect_close("inference logits", cpu_->logits(), reference_->logits(), precision_, 1e-3, bf16_tolerance_);
  }

  Executor& cpu() { return *cpu_; }
  void set_dropout_draw(const DropoutDraw& draw) {
    reference_->set_dropout_draw(draw);
    cpu_->set_dropout_draw(draw);
  }
  const Tensor& src() const { return src_; }
  const Tensor& diff_logits() const { return diff_logits_; }

 private:
  Graph graph_;
  DType precision_;
  double bf16_tolerance_;
  Arena params_, grads_ref_, grads_cpu_, buffers_ref_, buffers_cpu_;
  Rng rng_;
  std::unique_ptr<Executor> reference_, cpu_;
  Tensor src_, diff_logits_;
};

Graph model(const char* name, int64_t channels, int64_t size, int64_t classes) {
  return models::build_model({name, channels, size, size, classes});
}

void check_model(Graph graph, int64_t batch, int64_t bn_group, DType precision, double bf16_tolerance = 0.0) {
  Parity parity(std::move(graph), batch, bn_group, precision, 7, bf16_tolerance);
  parity.set_dropout_draw({.seed = 3, .step = 11, .first_example = 8});
  {
    SCOPED_TRACE("step 1");
    parity.check_step(100);
  }
  {
    SCOPED_TRACE("step 2 (planned buffers reused)");
    parity.check_step(200);
  }
  SCOPED_TRACE("inference");
  parity.check_inference(300);
}

TEST(CpuExecutorTest, Resnet8GhostBatchNormF32) { check_model(model("resnet8", 1, 16, 10), 8, 4, DType::f32); }

TEST(CpuExecutorTest, Resnet8GhostBatchNormBf16) {
  if (!backend::cpu::has_native_bf16()) GTEST_SKIP() << "no native bf16 on this CPU";
  check_model(model("resnet8", 1, 16, 10), 8, 4, DType::bf16, 0.35);
}

TEST(CpuExecutorTest, TinyResnet18F32) { check_model(model("resnet18", 3, 64, 7), 2, 0, DType::f32); }

TEST(CpuExecutorTest, TinyResnet18Bf16) {
  if (!backend::cpu::has_native_bf16()) GTEST_SKIP() << "no native bf16 on this CPU";
  check_model(model("resnet18", 3, 64, 7), 2, 0, DType::bf16, 0.6);
}

// Every op kind and every diff route: standalone ReLU, max and average pooling, a non-fused
// add, fan-out into convs and adds, an add of a node with itself, a conv with bias.
Graph mixed_graph() {
  Graph g;
  const int x = g.input(3, 11, 11);
  ops::Conv2dParams c;
  c.in_channels = 3;
  c.out_channels = 8;
  c.kernel_h = c.kernel_w = 3;
  c.pad_h = c.pad_w = 1;
  c.bias = true;
  const int c1 = g.conv2d("c1", x, c);
  const int r1 = g.relu(g.batch_norm("b1", c1, false));
  const int m1 = g.max_pool(r1, {3, 3, 2, 2, 1, 1, false});
  c.in_channels = 8;
  c.bias = false;
  const int b2 = g.batch_norm("b2", g.conv2d("c2", m1, c), true);
  const int a1 = g.add(b2, m1, false);
  c.kernel_h = c.kernel_w = 1;
  c.pad_h = c.pad_w = 0;
  const int a2 = g.add(g.conv2d("c3", a1, c), a1, true);
  const int p1 = g.avg_pool(a2, {2, 2, 2, 2, 0, 0, false});
  const int a3 = g.add(p1, p1, false);
  const int gp = g.global_avg_pool(a3);
  g.set_output(g.linear("fc", gp, {8, 5, true}));
  return g;
}

TEST(CpuExecutorTest, MixedGraphF32) { check_model(mixed_graph(), 4, 2, DType::f32); }

TEST(CpuExecutorTest, MixedGraphBf16) {
  if (!backend::cpu::has_native_bf16()) GTEST_SKIP() << "no native bf16 on this CPU";
  check_model(mixed_graph(), 4, 0, DType::bf16, 0.2);
}

// Concatenations (oneDNN concat, backward as reorders of views), asymmetric kernels, both
// average-pool paddings, BN ε 0.001, dropout (the reference's mask, multiplied by oneDNN) and
// two heads; odd channel counts (4, 5, 2, 6, 17) so that no slice falls on a channel block.
TEST(CpuExecutorTest, BranchGraphF32) { check_model(testing::branch_graph(), 4, 2, DType::f32); }

TEST(CpuExecutorTest, BranchGraphBatchOne) { check_model(testing::branch_graph(3, 7, 4), 1, 0, DType::f32); }

TEST(CpuExecutorTest, BranchGraphBf16) {
  if (!backend::cpu::has_native_bf16()) GTEST_SKIP() << "no native bf16 on this CPU";
  // The deepest BN biases see bf16's roundings of every layer above (b2a.bn.bias: 0.21 here).
  check_model(testing::branch_graph(), 4, 0, DType::bf16, 0.3);
}

// Channel counts that are multiples of the blocks oneDNN picks, as in Inception-v3 (64 + 96
// + 32): the concat keeps a blocked layout and its slices are blocked views.
TEST(CpuExecutorTest, BlockedConcatF32) {
  Graph g;
  const int x = g.input(16, 5, 5);
  ops::Conv2dParams p;
  p.in_channels = 16;
  p.kernel_h = p.kernel_w = 1;
  std::vector<int> branches;
  for (int64_t out : {64, 96, 32}) {
    p.out_channels = out;
    branches.push_back(g.batch_norm("bn" + std::to_string(out), g.conv2d("conv" + std::to_string(out), x, p), true));
  }
  const int cat = g.concat(branches);
  g.set_output(g.linear("fc", g.global_avg_pool(cat), {192, 3, true}));
  check_model(std::move(g), 2, 0, DType::f32);
}

// Inputs in padded blocked layouts (4 and 6 channels in blocks of 16): a blocked output's slices
// would start inside a block, so the concat's output is plain (NCHW here, by DNNL_VERBOSE).
TEST(CpuExecutorTest, UnalignedBlockedConcatF32) {
  Graph g;
  const int x = g.input(3, 9, 9);
  ops::Conv2dParams p;
  p.in_channels = 3;
  p.out_channels = 6;
  p.kernel_h = p.kernel_w = 3;
  p.pad_h = p.pad_w = 1;
  const int stem = g.batch_norm("stem.bn", g.conv2d("stem.conv", x, p), true);
  p.in_channels = 6;
  p.out_channels = 4;
  p.kernel_h = p.kernel_w = 1;
  p.pad_h = p.pad_w = 0;
  const int b1 = g.batch_norm("b1.bn", g.conv2d("b1.conv", stem, p), true);
  const int cat = g.concat({b1, g.avg_pool(stem, {3, 3, 1, 1, 1, 1, false})});
  g.set_output(g.linear("fc", g.global_avg_pool(cat), {10, 3, true}));
  check_model(std::move(g), 2, 0, DType::f32);
}

TEST(CpuExecutorTest, RejectsBadShapes) {
  Parity parity(model("resnet8", 1, 16, 10), 8, 4, DType::f32, 1);
  EXPECT_THROW(parity.cpu().forward(Tensor::zeros(Shape{4, 1, 16, 16}), true), InvalidArgument);
  EXPECT_THROW(parity.cpu().backward(Tensor::zeros(Shape{8, 3})), InvalidArgument);
  Graph g = model("resnet8", 1, 16, 10);
  Arena params(g.parameter_layout()), buffers(g.buffer_layout());
  EXPECT_THROW(make_cpu_executor({&g, &params, nullptr, &buffers}, {8, 3, DType::f32}), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::nn
