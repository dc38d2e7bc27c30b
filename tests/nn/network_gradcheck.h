// Whole-network finite differences through the reference executor in double, with the
// scalar loss L = Σ logits·R (so dL/dlogits = R). Parameters live in an f32 arena, so they
// and the input are first rounded to multiples of 2^-18 and stepped by 2^-16: every
// perturbed value is then exact in f32 and the difference quotient sees the true step.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "bigbatch/nn/init.h"
#include "bigbatch/nn/reference_executor.h"
#include "testing/gradcheck.h"

namespace bigbatch::testing {

class NetworkGradcheck {
 public:
  static constexpr double kGrid = 1.0 / (1 << 18);
  static constexpr double kStep = 1.0 / (1 << 16);

  // Initialises with zero-γ off, then moves γ and β off 1 and 0 so no BN is degenerate.
  NetworkGradcheck(const nn::Graph& graph, int64_t batch, int64_t bn_group, uint64_t seed)
      : graph_(graph),
        params_(graph.parameter_layout()),
        grads_(graph.parameter_layout()),
        buffers_(graph.buffer_layout()) {
    Rng rng(seed);
    nn::initialize(graph, params_, buffers_, rng, {.zero_gamma = false});
    const ArenaLayout& layout = params_.layout();
    for (int i = 0; i < layout.size(); ++i) {
      const Tensor& t = params_.tensor(i);
      float* p = t.data<float>();
      for (int64_t j = 0; j < t.numel(); ++j) {
        if (layout.entry(i).role == TensorRole::bn_gamma) p[j] = static_cast<float>(1.0 + 0.3 * (rng.uniform() - 0.5));
        if (layout.entry(i).role == TensorRole::bn_beta) p[j] = static_cast<float>(0.2 * (rng.uniform() - 0.5));
        p[j] = quantize(p[j]);
      }
    }
    const nn::Node& in = graph.input_node();
    src_ = Tensor::zeros(Shape{batch, in.c, in.h, in.w});
    float* s = src_.data<float>();
    fill_uniform(s, src_.numel(), seed + 1);
    for (int64_t j = 0; j < src_.numel(); ++j) s[j] = quantize(s[j]);
    r_ = random_vector(batch * graph.output_columns(), seed + 2);
    executor_ = std::make_unique<nn::ReferenceExecutor<double>>(
        nn::ExecutorBindings{&graph_, &params_, &grads_, &buffers_}, nn::ExecutorOptions{batch, bn_group, DType::f32});
  }

  nn::ReferenceExecutor<double>& executor() { return *executor_; }
  const Arena& params() const { return params_; }
  const Arena& grads() const { return grads_; }
  const Arena& buffers() const { return buffers_; }
  const Tensor& src() const { return src_; }

  double loss() {
    executor_->forward(src_, true);
    return dot(executor_->logits_t().data(), r_.data(), static_cast<int64_t>(r_.size()));
  }

  void forward_backward(const nn::GradsReadyHook& hook = {}) {
    loss();
    executor_->backward_t(r_, hook);
  }

  // Central differences on up to max_checks entries of the named parameter.
  ::testing::AssertionResult check_param(const std::string& name, int64_t max_checks) {
    const int index = params_.layout().find(name);
    if (index < 0) return ::testing::AssertionFailure() << "no parameter " << name;
    forward_backward();
    const std::vector<double> analytic = executor_->grad(index);
    return check_values(params_.tensor(index), analytic.data(), max_checks) << " (parameter " << name << ")";
  }

  ::testing::AssertionResult check_input(int64_t max_checks) {
    forward_backward();
    const std::vector<double> analytic = executor_->diff_src();
    return check_values(src_, analytic.data(), max_checks) << " (input)";
  }

 private:
  static float quantize(double v) { return static_cast<float>(std::round(v / kGrid) * kGrid); }

  ::testing::AssertionResult check_values(const Tensor& t, const double* analytic, int64_t max_checks) {
    float* p = t.data<float>();
    std::vector<double> x(p, p + t.numel());
    auto loss_at_x = [&] {
      for (int64_t j = 0; j < t.numel(); ++j) p[j] = static_cast<float>(x[static_cast<size_t>(j)]);
      return loss();
    };
    GradcheckOptions options{.eps = kStep, .rtol = 1e-5, .atol = 1e-7, .max_checks = max_checks};
    ::testing::AssertionResult result = check_gradient(loss_at_x, x.data(), t.numel(), analytic, options);
    loss_at_x();  // restores the arena from the unperturbed x
    return result;
  }

  const nn::Graph& graph_;
  Arena params_, grads_, buffers_;
  Tensor src_;
  std::vector<double> r_;
  std::unique_ptr<nn::ReferenceExecutor<double>> executor_;
};

}  // namespace bigbatch::testing
