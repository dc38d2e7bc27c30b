// SGD with momentum (u-form, RECIPE §3) against hand-computed updates, the weight-decay
// rules by role, padding, thread-count independence and argument checks.
#include "bigbatch/optim/sgd.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bigbatch/core/rng.h"
#include "bigbatch/core/threading.h"

namespace bigbatch::optim {
namespace {

std::shared_ptr<ArenaLayout> small_layout() {
  auto layout = std::make_shared<ArenaLayout>();
  layout->add("conv1.weight", {2, 1, 1, 2}, TensorRole::conv_weight);
  layout->add("bn1.weight", {2}, TensorRole::bn_gamma);
  layout->add("bn1.bias", {2}, TensorRole::bn_beta);
  layout->add("fc.weight", {1, 2}, TensorRole::fc_weight);
  layout->add("fc.bias", {1}, TensorRole::bias);
  return layout;
}

void set(const Arena& arena, const char* name, std::vector<float> values) {
  const Tensor& t = arena.tensor(name);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(values.size())) << name;
  for (size_t i = 0; i < values.size(); ++i) t.data<float>()[i] = values[i];
}

void expect(const Arena& arena, const char* name, std::vector<float> values) {
  const Tensor& t = arena.tensor(name);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(values.size())) << name;
  for (size_t i = 0; i < values.size(); ++i) EXPECT_FLOAT_EQ(t.data<float>()[i], values[i]) << name << "[" << i << "]";
}

// m = 0.9, λ = 0.1; step 1 with lr 0.5, step 2 with lr 0.25 (u is not rescaled: u-form).
TEST(Sgd, MatchesHandComputedUpdatesWithDefaultDecayRules) {
  auto layout = small_layout();
  Arena params(layout), grads(layout);
  set(params, "conv1.weight", {1.0f, -2.0f, 0.5f, 4.0f});
  set(params, "bn1.weight", {1.0f, 2.0f});
  set(params, "bn1.bias", {0.0f, -1.0f});
  set(params, "fc.weight", {2.0f, -1.0f});
  set(params, "fc.bias", {3.0f});
  set(grads, "conv1.weight", {0.5f, 1.0f, -1.0f, 0.0f});
  set(grads, "bn1.weight", {0.5f, -0.5f});
  set(grads, "bn1.bias", {1.0f, 1.0f});
  set(grads, "fc.weight", {0.0f, 1.0f});
  set(grads, "fc.bias", {1.0f});

  Sgd sgd(layout, {.momentum = 0.9, .weight_decay = 0.1});
  sgd.step(params, grads, 0.5);
  // conv: u = g + 0.1·w = [0.6, 0.8, -0.95, 0.4]; w -= 0.5·u.
  expect(sgd.momentum_buffer(), "conv1.weight", {0.6f, 0.8f, -0.95f, 0.4f});
  expect(params, "conv1.weight", {0.7f, -2.4f, 0.975f, 3.8f});
  // BN γ, β and the bias: no decay, u = g.
  expect(params, "bn1.weight", {0.75f, 2.25f});
  expect(params, "bn1.bias", {-0.5f, -1.5f});
  // fc: u = [0.2, 0.9].
  expect(params, "fc.weight", {1.9f, -1.45f});
  expect(params, "fc.bias", {2.5f});

  set(grads, "conv1.weight", {1.0f, 0.0f, 0.0f, -1.0f});
  sgd.step(params, grads, 0.25);
  // conv: u = 0.9·u + g + 0.1·w = [1.61, 0.48, -0.7575, -0.26]; w -= 0.25·u.
  expect(sgd.momentum_buffer(), "conv1.weight", {1.61f, 0.48f, -0.7575f, -0.26f});
  expect(params, "conv1.weight", {0.2975f, -2.52f, 1.164375f, 3.865f});
  // γ: u = 0.9·[0.5, -0.5] + [0.5, -0.5] = [0.95, -0.95].
  expect(params, "bn1.weight", {0.5125f, 2.4875f});
  // bias: u = 0.9 + 1 = 1.9.
  expect(params, "fc.bias", {2.025f});
  // fc: u = 0.9·[0.2, 0.9] + [0, 1] + 0.1·[1.9, -1.45] = [0.37, 1.665].
  expect(params, "fc.weight", {1.8075f, -1.86625f});
  EXPECT_EQ(sgd.steps(), 2);
}

TEST(Sgd, SwitchDecaysBatchNormAndBiasToo) {
  auto layout = small_layout();
  Arena params(layout), grads(layout);
  set(params, "bn1.weight", {1.0f, 2.0f});
  set(params, "bn1.bias", {0.0f, -1.0f});
  set(params, "fc.bias", {3.0f});
  set(grads, "bn1.weight", {0.5f, -0.5f});
  set(grads, "fc.bias", {1.0f});

  EXPECT_FALSE(applies_weight_decay(TensorRole::bn_gamma, {}));
  EXPECT_TRUE(applies_weight_decay(TensorRole::bn_gamma, {.decay_bn_and_bias = true}));
  Sgd sgd(layout, {.momentum = 0.9, .weight_decay = 0.1, .decay_bn_and_bias = true});
  sgd.step(params, grads, 0.5);
  expect(params, "bn1.weight", {0.7f, 2.15f});  // u = [0.6, -0.3]
  expect(params, "bn1.bias", {0.0f, -0.95f});   // u = [0, -0.1]
  expect(params, "fc.bias", {2.35f});           // u = 1.3
}

TEST(Sgd, ZeroMomentumIsPlainSgd) {
  auto layout = small_layout();
  Arena params(layout), grads(layout);
  set(params, "conv1.weight", {1.0f, -2.0f, 0.5f, 4.0f});
  set(grads, "conv1.weight", {0.5f, 1.0f, -1.0f, 0.0f});
  Sgd sgd(layout, {.momentum = 0.0, .weight_decay = 0.0});
  sgd.step(params, grads, 0.5);
  sgd.step(params, grads, 0.5);
  expect(params, "conv1.weight", {0.5f, -3.0f, 1.5f, 4.0f});
}

TEST(Sgd, PaddingStaysZero) {
  auto layout = small_layout();
  Arena params(layout), grads(layout);
  for (int i = 0; i < layout->size(); ++i) {
    params.tensor(i).fill(1.0f);
    grads.tensor(i).fill(1.0f);
  }
  Sgd sgd(layout, {});
  for (int s = 0; s < 3; ++s) sgd.step(params, grads, 0.1);
  int64_t covered = 0;
  for (int i = 0; i < layout->size(); ++i) {
    const ArenaEntry& e = layout->entry(i);
    for (int64_t k = e.offset + e.shape.numel(); k < e.offset + ArenaLayout::kArenaAlignElems; ++k) {
      EXPECT_EQ(params.data()[k], 0.0f) << e.name << " padding " << k;
      EXPECT_EQ(sgd.momentum_buffer().data()[k], 0.0f) << e.name << " padding " << k;
    }
    covered += e.shape.numel();
  }
  EXPECT_EQ(covered, layout->count());
}

// A ResNet-like layout of many odd-sized tensors: every thread count gives the same bits,
// and they match a scalar loop written from the formula.
TEST(Sgd, SameResultForAnyThreadCountAndMatchesScalarFormula) {
  auto layout = std::make_shared<ArenaLayout>();
  for (int i = 0; i < 40; ++i) {
    const int64_t c = 3 + 7 * i;
    layout->add("conv" + std::to_string(i) + ".weight", {c, 5, 3, 3}, TensorRole::conv_weight);
    layout->add("bn" + std::to_string(i) + ".weight", {c}, TensorRole::bn_gamma);
    layout->add("bn" + std::to_string(i) + ".bias", {c}, TensorRole::bn_beta);
  }
  layout->add("fc.weight", {10, 33}, TensorRole::fc_weight);
  layout->add("fc.bias", {10}, TensorRole::bias);

  Rng rng(7);
  Arena params0(layout), grads(layout);
  for (int i = 0; i < layout->size(); ++i) {
    const Tensor& w = params0.tensor(i);
    const Tensor& g = grads.tensor(i);
    for (int64_t k = 0; k < w.numel(); ++k) {
      w.data<float>()[k] = static_cast<float>(rng.normal());
      g.data<float>()[k] = static_cast<float>(rng.normal());
    }
  }

  // Reference: the formula tensor by tensor, three steps.
  const SgdOptions options{.momentum = 0.9, .weight_decay = 1e-3};
  Arena ref_w(layout), ref_u(layout);
  ref_w.copy_from(params0);
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < layout->size(); ++i) {
      const float decay = applies_weight_decay(layout->entry(i).role, options) ? 1e-3f : 0.0f;
      float* w = ref_w.tensor(i).data<float>();
      float* u = ref_u.tensor(i).data<float>();
      const float* g = grads.tensor(i).data<float>();
      for (int64_t k = 0; k < ref_w.tensor(i).numel(); ++k) {
        u[k] = 0.9f * u[k] + g[k] + decay * w[k];
        w[k] -= 0.05f * u[k];
      }
    }
  }

  const int saved = num_threads();
  Arena first(layout);
  for (int threads : {1, 2, 3, 5}) {
    set_num_threads(threads);
    Arena params(layout);
    params.copy_from(params0);
    Sgd sgd(layout, options);
    for (int s = 0; s < 3; ++s) sgd.step(params, grads, 0.05);
    for (int64_t k = 0; k < layout->total_elems(); ++k) {
      ASSERT_FLOAT_EQ(params.data()[k], ref_w.data()[k]) << "threads " << threads << " element " << k;
      ASSERT_FLOAT_EQ(sgd.momentum_buffer().data()[k], ref_u.data()[k]) << "threads " << threads << " element " << k;
    }
    if (threads == 1) first.copy_from(params);
    for (int64_t k = 0; k < layout->total_elems(); ++k)
      ASSERT_EQ(params.data()[k], first.data()[k]) << "threads " << threads << " element " << k;
  }
  set_num_threads(saved);
}


// Runs `lrs` steps with gradients that depend only on the step, from the same weights.
std::vector<float> run_schedule(const SgdOptions& options, const std::vector<double>& lrs) {
  auto layout = small_layout();
  Arena params(layout), grads(layout);
  Rng rng(5);
  for (int64_t i = 0; i < params.total_elems(); ++i) params.data()[i] = static_cast<float>(rng.normal());
  Sgd sgd(layout, options);
  for (size_t t = 0; t < lrs.size(); ++t) {
    Rng g(100 + t);
    for (const ArenaEntry& e : layout->entries())
      for (int64_t i = 0; i < e.shape.numel(); ++i) grads.data()[e.offset + i] = static_cast<float>(g.normal());
    sgd.step(params, grads, lrs[t]);
  }
  return std::vector<float>(params.data(), params.data() + params.total_elems());
}

// A warmup from 0.1 to 0.4, then two step decays (RECIPE §2): η changes almost every step.
const std::vector<double> kWarmupAndDecays = {0.1, 0.175, 0.25, 0.325, 0.4, 0.4, 0.4, 0.04, 0.04, 0.004, 0.004};

double max_relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(a[i] - b[i]) / std::max(1e-3, static_cast<double>(std::abs(a[i]))));
  return worst;
}

// RECIPE §3, Remark 2: the v-form with the momentum correction η_t/η_{t−1} gives the u-form's
// weights whatever the schedule; without it, it does not once η changes.
TEST(Sgd, VFormWithCorrectionEqualsUFormAndDiffersWithout) {
  for (bool nesterov : {false, true}) {
    SgdOptions u;
    u.nesterov = nesterov;
    SgdOptions v = u;
    v.v_form = true;
    SgdOptions v_uncorrected = v;
    v_uncorrected.momentum_correction = false;
    const std::vector<float> wu = run_schedule(u, kWarmupAndDecays);
    const std::vector<float> wv = run_schedule(v, kWarmupAndDecays);
    const std::vector<float> wx = run_schedule(v_uncorrected, kWarmupAndDecays);
    EXPECT_LT(max_relative_difference(wu, wv), 1e-5) << "nesterov " << nesterov;
    EXPECT_GT(max_relative_difference(wu, wx), 1e-2) << "nesterov " << nesterov;
  }
  // With a constant η the correction is 1 and both v-forms agree.
  SgdOptions v;
  v.v_form = true;
  SgdOptions v_uncorrected = v;
  v_uncorrected.momentum_correction = false;
  const std::vector<double> constant(8, 0.3);
  EXPECT_EQ(run_schedule(v, constant), run_schedule(v_uncorrected, constant));
}

// Nesterov, u-form, one step from u = 0: w ← w − lr·(d + m·d) with d = g + λ·w.
TEST(Sgd, NesterovFirstStepByHand) {
  auto layout = small_layout();
  Arena params(layout), grads(layout);
  set(params, "fc.weight", {1.0f, -2.0f});
  set(grads, "fc.weight", {0.5f, 0.25f});
  SgdOptions o;
  o.nesterov = true;
  o.weight_decay = 0.1;
  Sgd sgd(layout, o);
  sgd.step(params, grads, 0.5);
  const float d0 = 0.5f + 0.1f * 1.0f, d1 = 0.25f + 0.1f * -2.0f;
  expect(params, "fc.weight", {1.0f - 0.5f * (d0 + 0.9f * d0), -2.0f - 0.5f * (d1 + 0.9f * d1)});
  EXPECT_EQ(sgd.prev_lr(), 0.5);
}

TEST(Sgd, RejectsBadArguments) {
  auto layout = small_layout();
  EXPECT_THROW(Sgd(layout, {.momentum = 1.0}), InvalidArgument);
  EXPECT_THROW(Sgd(layout, {.momentum = -0.1}), InvalidArgument);
  EXPECT_THROW(Sgd(layout, {.weight_decay = -1e-4}), InvalidArgument);
  EXPECT_THROW(Sgd(nullptr, {}), InvalidArgument);

  auto with_buffer = small_layout();
  with_buffer->add("bn1.running_mean", {2}, TensorRole::bn_running_mean);
  EXPECT_THROW(Sgd(with_buffer, {}), InvalidArgument);

  Sgd sgd(layout, {});
  Arena params(layout), grads(layout);
  EXPECT_THROW(sgd.step(params, grads, -0.1), InvalidArgument);
  EXPECT_THROW(sgd.step(params, grads, std::nan("")), InvalidArgument);
  auto other = std::make_shared<ArenaLayout>();
  other->add("fc.weight", {10, 10}, TensorRole::fc_weight);
  Arena wrong(other);
  EXPECT_THROW(sgd.step(params, wrong, 0.1), InvalidArgument);
  EXPECT_THROW(sgd.step(wrong, grads, 0.1), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::optim
