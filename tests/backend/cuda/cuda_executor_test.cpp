// The GPU executor vs the reference executor in double on whole networks (resnet8 with ghost
// BN, and a graph with every op kind and diff route): logits, every parameter gradient,
// running statistics and hook order over two training steps and an inference forward, in
// f32 (tight), TF32, bf16 and fp16 (loose), NCHW and NHWC, the GPU's arenas on the device.
#include "bigbatch/nn/cuda_executor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include "backend/cuda/cuda_test_util.h"
#include "bigbatch/backend/cuda/arena_ops.h"
#include "bigbatch/models/registry.h"
#include "nn/branch_graph.h"
#include "bigbatch/nn/device_arena.h"
#include "bigbatch/nn/init.h"
#include "bigbatch/nn/reference_executor.h"
#include "bigbatch/ops/softmax_cross_entropy.h"
#include "bigbatch/optim/sgd.h"

namespace bigbatch::nn {
namespace {

struct Mode {
  DType precision;
  bool tf32, nhwc;
  double tolerance;  // relative L2 bound per tensor; 0: f32, element-wise and tight
};

const char* name(const Mode& m) {
  if (m.tf32) return m.nhwc ? "tf32 nhwc" : "tf32";
  switch (m.precision) {
    case DType::f32:
      return m.nhwc ? "f32 nhwc" : "f32";
    case DType::bf16:
      return m.nhwc ? "bf16 nhwc" : "bf16";
    case DType::f16:
      return m.nhwc ? "f16 nhwc" : "f16";
  }
  return "?";
}

double relative_l2(const float* a, const float* b, int64_t n, double floor) {
  double diff = 0.0, norm = 0.0;
  for (int64_t i = 0; i < n; ++i) {
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

void expect_close(const std::string& what, const Tensor& actual, const Tensor& expected, const Mode& mode,
                  double floor) {
  const int64_t n = expected.numel();
  ASSERT_EQ(actual.numel(), n) << what;
  if (mode.tolerance == 0.0) {
    const double scale = std::max(max_abs(expected), floor);
    EXPECT_TRUE(testing::near_relative(actual.data<float>(), expected.data<float>(), n, 2e-3, 2e-4 * scale)) << what;
  } else {
    EXPECT_LT(relative_l2(actual.data<float>(), expected.data<float>(), n, floor * std::sqrt(double(n))),
              mode.tolerance)
        << what;
  }
}

// Off-default γ, β, fc weights, biases and running variances so every term shows (as the CPU
// executor's test).
void perturb(const Arena& arena, Rng& rng) {
  const ArenaLayout& layout = arena.layout();
  for (int i = 0; i < layout.size(); ++i) {
    float* p = arena.tensor(i).data<float>();
    for (int64_t j = 0; j < arena.tensor(i).numel(); ++j) {
      switch (layout.entry(i).role) {
        case TensorRole::bn_gamma:
          p[j] = static_cast<float>(0.7 + 0.6 * rng.uniform());
          break;
        case TensorRole::bn_beta:
          p[j] = static_cast<float>(0.2 * (rng.uniform() - 0.5));
          break;
        case TensorRole::fc_weight:
          p[j] = static_cast<float>(0.5 * (rng.uniform() - 0.5));
          break;
        case TensorRole::bias:
          p[j] = static_cast<float>(0.2 * (rng.uniform() - 0.5));
          break;
        case TensorRole::bn_running_var:
          p[j] = static_cast<float>(0.5 + rng.uniform());
          break;
        case TensorRole::bn_running_mean:
        case TensorRole::conv_weight:
          break;
      }
    }
  }
}

class Parity {
 public:
  Parity(Graph graph, int64_t batch, int64_t bn_group, const Mode& mode)
      : graph_(std::move(graph)),
        mode_(mode),
        params_(graph_.parameter_layout()),
        grads_ref_(graph_.parameter_layout()),
        grads_gpu_(graph_.parameter_layout()),
        buffers_ref_(graph_.buffer_layout()),
        buffers_gpu_(graph_.buffer_layout()),
        d_params_(make_arena(graph_.parameter_layout(), Device::cuda)),
        d_grads_(make_arena(graph_.parameter_layout(), Device::cuda)),
        d_buffers_(make_arena(graph_.buffer_layout(), Device::cuda)),
        rng_(7) {
    initialize(graph_, params_, buffers_ref_, rng_, {.zero_gamma = false});
    perturb(params_, rng_);
    perturb(buffers_ref_, rng_);
    copy_arena(d_params_, params_);
    copy_arena(d_buffers_, buffers_ref_);
    const ExecutorOptions options{batch, bn_group, mode.precision};
    reference_ = make_reference_executor<double>({&graph_, &params_, &grads_ref_, &buffers_ref_}, options);
    gpu_ = make_cuda_executor({&graph_, &d_params_, &d_grads_, &d_buffers_}, options,
                              {.device = 0, .tf32 = mode.tf32, .nhwc = mode.nhwc});
    const Node& in = graph_.input_node();
    src_ = Tensor::zeros(Shape{batch, in.c, in.h, in.w});
    diff_logits_ = Tensor::zeros(Shape{batch, graph_.output_columns()});
  }

  void check_step(uint64_t seed) {
    testing::fill_uniform(src_.data<float>(), src_.numel(), seed);
    testing::fill_uniform(diff_logits_.data<float>(), diff_logits_.numel(), seed + 1);
    std::vector<int> hooks_ref, hooks_gpu;
    reference_->forward(src_, true);
    gpu_->forward(src_, true);
    reference_->backward(diff_logits_, [&](int id) { hooks_ref.push_back(id); });
    gpu_->backward(diff_logits_, [&](int id) { hooks_gpu.push_back(id); });
    copy_arena(grads_gpu_, d_grads_);
    copy_arena(buffers_gpu_, d_buffers_);
    expect_close("logits", gpu_->logits(), reference_->logits(), mode_, 1e-3);
    EXPECT_EQ(hooks_gpu, hooks_ref);
    double largest = 0.0;
    for (int i = 0; i < grads_ref_.layout().size(); ++i) largest = std::max(largest, max_abs(grads_ref_.tensor(i)));
    for (int i = 0; i < grads_ref_.layout().size(); ++i)
      expect_close(grads_ref_.layout().entry(i).name, grads_gpu_.tensor(i), grads_ref_.tensor(i), mode_,
                   1e-2 * largest);
    for (int i = 0; i < buffers_ref_.layout().size(); ++i)
      expect_close(buffers_ref_.layout().entry(i).name, buffers_gpu_.tensor(i), buffers_ref_.tensor(i), mode_, 1e-3);
  }

  void check_inference(uint64_t seed) {
    testing::fill_uniform(src_.data<float>(), src_.numel(), seed);
    reference_->forward(src_, false);
    gpu_->forward(src_, false);
    expect_close("inference logits", gpu_->logits(), reference_->logits(), mode_, 1e-3);
  }

 private:
  Graph graph_;
  Mode mode_;
  Arena params_, grads_ref_, grads_gpu_, buffers_ref_, buffers_gpu_;  // host
  Arena d_params_, d_grads_, d_buffers_;                              // the GPU's
  Rng rng_;
  std::unique_ptr<Executor> reference_;
  std::unique_ptr<Executor> gpu_;
  Tensor src_, diff_logits_;
};

// Every op kind and diff route, as in the CPU executor's test.
Graph mixed_graph() {
  Graph g;
  const int x = g.input(3, 11, 11);
  ops::Conv2dParams c{
      .in_channels = 3, .out_channels = 8, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1, .bias = true};
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

const Mode kModes[] = {{DType::f32, false, false, 0.0},  {DType::f32, false, true, 0.0},
                       {DType::f32, true, false, 0.05},  {DType::bf16, false, false, 0.35},
                       {DType::bf16, false, true, 0.35}, {DType::f16, false, true, 0.1}};

void check_model(const std::function<Graph()>& build, int64_t batch, int64_t bn_group) {
  for (const Mode& mode : kModes) {
    SCOPED_TRACE(name(mode));
    Parity parity(build(), batch, bn_group, mode);
    {
      SCOPED_TRACE("step 1");
      parity.check_step(100);
    }
    {
      SCOPED_TRACE("step 2");
      parity.check_step(200);
    }
    SCOPED_TRACE("inference");
    parity.check_inference(300);
  }
}

TEST(CudaExecutorTest, Resnet8GhostBatchNorm) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  check_model([] { return models::build_model({"resnet8", 1, 16, 16, 10}); }, 8, 4);
}

TEST(CudaExecutorTest, MixedGraph) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  check_model(mixed_graph, 4, 2);
}

// Inception-v3's ops: concatenations, asymmetric kernels, both average-pool paddings, BN ε
// 0.001, dropout (the reference's mask, drawn on the GPU) and two heads.
TEST(CudaExecutorTest, BranchGraph) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  check_model([] { return testing::branch_graph(); }, 4, 2);
}

TEST(CudaExecutorTest, RejectsBadShapesAndHostArenas) {
  BIGBATCH_REQUIRE_CUDA_DEVICE();
  Graph g = models::build_model({"resnet8", 1, 16, 16, 10});
  const Arena params = make_arena(g.parameter_layout(), Device::cuda);
  const Arena grads = make_arena(g.parameter_layout(), Device::cuda);
  const Arena buffers = make_arena(g.buffer_layout(), Device::cuda);
  auto gpu = make_cuda_executor({&g, &params, &grads, &buffers}, {8, 4, DType::f32});
  EXPECT_THROW(gpu->forward(Tensor::zeros(Shape{4, 1, 16, 16}), true), InvalidArgument);
  EXPECT_THROW(gpu->backward(Tensor::zeros(Shape{8, 10})), InvalidArgument);  // no training forward yet
  EXPECT_THROW(make_cuda_executor({&g, &params, nullptr, &buffers}, {8, 3, DType::f32}), InvalidArgument);
  const Arena host_params(g.parameter_layout()), host_buffers(g.buffer_layout());
  EXPECT_THROW(make_cuda_executor({&g, &host_params, nullptr, &host_buffers}, {8, 4, DType::f32}), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::nn
