// Initialisation statistics (RECIPE §6–7): He fan-out std, fc N(0, 0.01²), BN values,
// zero-γ on and off, and determinism for a seed.
#include "bigbatch/nn/init.h"

#include <gtest/gtest.h>

#include <cmath>

#include "testing/op_params.h"

namespace bigbatch::nn {
namespace {

struct Moments {
  double mean = 0, std = 0;
};

Moments moments(const Tensor& t) {
  const float* p = t.data<float>();
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < t.numel(); ++i) sum += p[i];
  const double mean = sum / static_cast<double>(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) sq += (p[i] - mean) * (p[i] - mean);
  return {mean, std::sqrt(sq / static_cast<double>(t.numel()))};
}

// conv(64→64, 3×3, bias) - BN - conv(64→128, 1×1) - BN(last in block) - pool - fc(128→100).
Graph test_graph() {
  Graph g;
  int x = g.input(64, 8, 8);
  x = g.batch_norm("bn1", g.conv2d("conv1", x, testing::conv_params(64, 64, 3, 1, 1, true)), true);
  x = g.batch_norm("bn2", g.conv2d("conv2", x, testing::conv_params(64, 128, 1, 1, 0)), false, true);
  g.set_output(g.linear("fc", g.global_avg_pool(x), testing::linear_params(128, 100)));
  return g;
}

TEST(Init, HeFanOutConvsSmallFcZeroBiasesAndBnDefaults) {
  const Graph g = test_graph();
  Arena params(g.parameter_layout()), buffers(g.buffer_layout());
  params.data()[0] = 7.0f;  // stale contents must be overwritten
  Rng rng(1);
  initialize(g, params, buffers, rng, {});

  const Moments w1 = moments(params.tensor("conv1.weight"));
  EXPECT_NEAR(w1.mean, 0.0, 0.01);
  EXPECT_NEAR(w1.std / std::sqrt(2.0 / (64 * 9)), 1.0, 0.03);
  const Moments w2 = moments(params.tensor("conv2.weight"));
  EXPECT_NEAR(w2.std / std::sqrt(2.0 / 128), 1.0, 0.03);
  const Moments fc = moments(params.tensor("fc.weight"));
  EXPECT_NEAR(fc.std / 0.01, 1.0, 0.03);

  auto all_equal = [](const Tensor& t, float v) {
    for (int64_t i = 0; i < t.numel(); ++i)
      if (t.data<float>()[i] != v) return false;
    return true;
  };
  EXPECT_TRUE(all_equal(params.tensor("conv1.bias"), 0.0f));
  EXPECT_TRUE(all_equal(params.tensor("fc.bias"), 0.0f));
  EXPECT_TRUE(all_equal(params.tensor("bn1.weight"), 1.0f));
  EXPECT_TRUE(all_equal(params.tensor("bn1.bias"), 0.0f));
  EXPECT_TRUE(all_equal(params.tensor("bn2.weight"), 0.0f));  // zero-γ: last BN of the block
  EXPECT_TRUE(all_equal(params.tensor("bn2.bias"), 0.0f));
  for (const char* bn : {"bn1", "bn2"}) {
    const std::string name = bn;
    EXPECT_TRUE(all_equal(buffers.tensor(name + ".running_mean"), 0.0f));
    EXPECT_TRUE(all_equal(buffers.tensor(name + ".running_var"), 1.0f));
    EXPECT_TRUE(all_equal(buffers.tensor(name + ".num_batches_tracked"), 0.0f));
  }
}

TEST(Init, ZeroGammaOffAndDeterministic) {
  const Graph g = test_graph();
  Arena a(g.parameter_layout()), b(g.parameter_layout()), buffers(g.buffer_layout());
  Rng r1(42), r2(42);
  initialize(g, a, buffers, r1, {.zero_gamma = false});
  initialize(g, b, buffers, r2, {.zero_gamma = true});
  EXPECT_EQ(a.tensor("bn2.weight").data<float>()[0], 1.0f);
  EXPECT_EQ(b.tensor("bn2.weight").data<float>()[0], 0.0f);
  // Same seed, same weights; the zero-γ choice draws nothing.
  for (const char* name : {"conv1.weight", "conv2.weight", "fc.weight"}) {
    const Tensor& x = a.tensor(name);
    const Tensor& y = b.tensor(name);
    for (int64_t i = 0; i < x.numel(); ++i) ASSERT_EQ(x.data<float>()[i], y.data<float>()[i]) << name;
  }
  Rng r3(43);
  initialize(g, b, buffers, r3, {});
  EXPECT_NE(a.tensor("conv1.weight").data<float>()[0], b.tensor("conv1.weight").data<float>()[0]);
}

TEST(Init, RejectsArenasOfAnotherLayout) {
  const Graph g = test_graph();
  Arena params(g.parameter_layout()), buffers(g.buffer_layout());
  Rng rng(0);
  EXPECT_THROW(initialize(g, buffers, params, rng, {}), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::nn
