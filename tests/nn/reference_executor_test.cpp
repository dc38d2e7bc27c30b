// The reference executor on a small hand-built graph that uses every op kind and a fan-out:
// gradients vs central differences in double, hooks, running statistics, inference.
#include "bigbatch/nn/reference_executor.h"

#include <gtest/gtest.h>

#include <cmath>

#include "nn/branch_graph.h"
#include "nn/network_gradcheck.h"
#include "testing/op_params.h"

namespace bigbatch::nn {
namespace {

using testing::conv_params;
using testing::linear_params;
using testing::pool_params;

// input 2×6×6 → conv(bias) → BN+ReLU ─┬→ conv → BN ──────────┐
//                                     └→ relu → (add fan-in) ← add(+ReLU) → max_pool → conv
// → BN → relu → avg_pool → add(x, x) → global pool → fc: node "a" is read three times.
Graph small_graph() {
  Graph g;
  const int x = g.input(2, 6, 6);
  const int a = g.batch_norm("bn0", g.conv2d("conv0", x, conv_params(2, 3, 3, 1, 1, true)), true);
  const int b = g.batch_norm("bn1", g.conv2d("conv1", a, conv_params(3, 3, 3, 1, 1, false)), false, true);
  const int s = g.add(b, g.relu(a), true);
  const int m = g.max_pool(s, pool_params(3, 2, 1));
  const int c = g.relu(g.batch_norm("bn2", g.conv2d("conv2", m, conv_params(3, 4, 1, 1, 0, false)), false));
  const int p = g.avg_pool(c, pool_params(2, 1, 0));
  const int d = g.add(p, p, false);
  g.set_output(g.linear("fc", g.global_avg_pool(d), linear_params(4, 3)));
  return g;
}

TEST(ReferenceExecutor, GradientsMatchFiniteDifferences) {
  const Graph g = small_graph();
  testing::NetworkGradcheck check(g, 4, 2, 11);
  for (const ArenaEntry& e : g.parameter_layout()->entries()) EXPECT_TRUE(check.check_param(e.name, 12));
  EXPECT_TRUE(check.check_input(24));
}

// Concatenations, asymmetric kernels, both average-pool paddings, BN ε 0.001, dropout (its
// mask fixed by the draw) and two heads: finite differences through all of them.
TEST(ReferenceExecutor, BranchGraphGradientsMatchFiniteDifferences) {
  const Graph g = testing::branch_graph();
  testing::NetworkGradcheck check(g, 3, 3, 5);
  check.executor().set_dropout_draw({.seed = 9, .step = 4, .first_example = 6});
  for (const ArenaEntry& e : g.parameter_layout()->entries()) EXPECT_TRUE(check.check_param(e.name, 8));
  EXPECT_TRUE(check.check_input(24));
}

// Dropout is the identity at evaluation, and in training zeroes about p of its elements and
// scales the rest by 1/(1 − p); the mask follows the draw.
TEST(ReferenceExecutor, DropoutFollowsTheDraw) {
  Graph g;
  const int x = g.input(64, 1, 1);
  const int d = g.dropout(x, {0.5});
  g.set_output(g.linear("fc", d, linear_params(64, 2)));
  Arena params(g.parameter_layout()), buffers(g.buffer_layout());
  auto identity_fc = [&] {
    float* w = params.tensor(0).data<float>();  // fc.weight: 2 x 64, picks elements 0 and 1
    for (int i = 0; i < 128; ++i) w[i] = (i == 0 || i == 65) ? 1.0f : 0.0f;
  };
  identity_fc();
  ReferenceExecutor<double> ex({&g, &params, nullptr, &buffers}, {4, 0, DType::f32});
  Tensor src = Tensor::zeros(Shape{4, 64, 1, 1});
  src.fill(1.0f);
  ex.forward(src, false);
  for (int64_t i = 0; i < 4 * 64; ++i) EXPECT_EQ(ex.activation(d)[static_cast<size_t>(i)], 1.0);
  ex.set_dropout_draw({.seed = 1, .step = 0, .first_example = 0});
  ex.forward(src, true);
  const std::vector<double> first = ex.activation(d);
  int64_t kept = 0;
  for (double v : first) {
    EXPECT_TRUE(v == 0.0 || v == 2.0) << v;
    kept += v == 2.0;
  }
  EXPECT_GT(kept, 4 * 64 / 4);
  EXPECT_LT(kept, 3 * 4 * 64 / 4);
  ex.forward(src, true);
  EXPECT_EQ(ex.activation(d), first);  // the same draw, the same mask
  ex.set_dropout_draw({.seed = 1, .step = 1, .first_example = 0});
  ex.forward(src, true);
  EXPECT_NE(ex.activation(d), first);  // the next step draws anew
}

TEST(ReferenceExecutor, WritesF32GradsAndCallsHooksInReverse) {
  const Graph g = small_graph();
  testing::NetworkGradcheck check(g, 4, 2, 5);
  check.grads().tensor(0).fill(123.0f);
  std::vector<int> fired;
  check.forward_backward([&](int id) { fired.push_back(id); });
  std::vector<int> expected;
  for (int id = g.size() - 1; id >= 0; --id)
    if (g.node(id).weights >= 0 || g.node(id).gamma >= 0) expected.push_back(id);
  EXPECT_EQ(fired, expected);
  for (int i = 0; i < g.parameter_layout()->size(); ++i) {
    const std::vector<double>& grad = check.executor().grad(i);
    const float* f = check.grads().tensor(i).data<float>();
    for (size_t j = 0; j < grad.size(); ++j) ASSERT_EQ(f[j], static_cast<float>(grad[j])) << i;
  }
}

TEST(ReferenceExecutor, TrainingUpdatesRunningStatsPerGhostGroup) {
  const Graph g = small_graph();
  testing::NetworkGradcheck check(g, 4, 2, 3);
  check.loss();
  // bn0 reads conv0 (node 1): 2 groups of 2 examples, 3 channels of 6×6.
  const std::vector<double>& x = check.executor().activation(1);
  const float* mean = check.buffers().tensor("bn0.running_mean").data<float>();
  const float* var = check.buffers().tensor("bn0.running_var").data<float>();
  for (int c = 0; c < 3; ++c) {
    double mean_sum = 0, var_sum = 0;
    for (int group = 0; group < 2; ++group) {
      double s = 0, sq = 0;
      for (int n = 2 * group; n < 2 * group + 2; ++n)
        for (int i = 0; i < 36; ++i) s += x[static_cast<size_t>((n * 3 + c) * 36 + i)];
      const double m = s / 72;
      for (int n = 2 * group; n < 2 * group + 2; ++n)
        for (int i = 0; i < 36; ++i) sq += std::pow(x[static_cast<size_t>((n * 3 + c) * 36 + i)] - m, 2);
      mean_sum += m;
      var_sum += sq / 71;
    }
    EXPECT_NEAR(mean[c], 0.1 * mean_sum / 2, 1e-6);
    EXPECT_NEAR(var[c], 0.9 + 0.1 * var_sum / 2, 1e-6);
  }
  EXPECT_EQ(check.buffers().tensor("bn0.num_batches_tracked").data<float>()[0], 1.0f);
  check.loss();
  EXPECT_EQ(check.buffers().tensor("bn2.num_batches_tracked").data<float>()[0], 2.0f);
}

TEST(ReferenceExecutor, InferenceUsesRunningStatsAndLeavesThemAlone) {
  const Graph g = small_graph();
  testing::NetworkGradcheck check(g, 4, 2, 8);
  float* mean = check.buffers().tensor("bn0.running_mean").data<float>();
  float* var = check.buffers().tensor("bn0.running_var").data<float>();
  for (int c = 0; c < 3; ++c) {
    mean[c] = 0.25f * static_cast<float>(c);
    var[c] = 0.5f + static_cast<float>(c);
  }
  ReferenceExecutor<double>& ex = check.executor();
  ex.forward(check.src(), false);
  const std::vector<double>& x = ex.activation(1);
  const std::vector<double>& y = ex.activation(2);
  const float* gamma = check.params().tensor("bn0.weight").data<float>();
  const float* beta = check.params().tensor("bn0.bias").data<float>();
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t c = (i / 36) % 3;
    const double expected = std::max(0.0, gamma[c] * (x[i] - mean[c]) / std::sqrt(var[c] + 1e-5) + beta[c]);
    ASSERT_NEAR(y[i], expected, 1e-12) << i;
  }
  EXPECT_EQ(mean[1], 0.25f);
  EXPECT_EQ(check.buffers().tensor("bn0.num_batches_tracked").data<float>()[0], 0.0f);
  // Logits in f32 are the T logits rounded.
  EXPECT_EQ(ex.logits().data<float>()[5], static_cast<float>(ex.logits_t()[5]));
  EXPECT_THROW(ex.backward(ex.logits(), {}), InvalidArgument);  // no training forward to go back through
}

TEST(ReferenceExecutor, RejectsBadOptionsAndInputs) {
  const Graph g = small_graph();
  Arena params(g.parameter_layout()), grads(g.parameter_layout()), buffers(g.buffer_layout());
  const ExecutorBindings bindings{&g, &params, &grads, &buffers};
  EXPECT_THROW(make_reference_executor<float>(bindings, {6, 4, DType::f32}), InvalidArgument);
  EXPECT_THROW(make_reference_executor<float>({&g, &buffers, &grads, &buffers}, {4, 2, DType::f32}), InvalidArgument);
  auto ex = make_reference_executor<float>(bindings, {4, 2, DType::f32});
  EXPECT_THROW(ex->forward(Tensor::zeros(Shape{2, 2, 6, 6}), true), InvalidArgument);
  Graph no_output;
  no_output.input(1, 2, 2);
  EXPECT_THROW(make_reference_executor<double>({&no_output, &params, &grads, &buffers}, {4, 2, DType::f32}),
               InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::nn
