// LARS (RECIPE §9) in optim::Sgd against hand-computed updates over three steps on a tiny
// arena of every role, the zero-norm edge cases, the BN/bias switch, u-form = corrected v-form,
// thread-count independence, and plain SGD's bits unchanged by the LARS code.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bigbatch/core/error.h"
#include "bigbatch/core/rng.h"
#include "bigbatch/core/threading.h"
#include "bigbatch/optim/lars.h"
#include "bigbatch/optim/sgd.h"

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

void expect(const Arena& arena, const char* name, std::vector<double> values) {
  const Tensor& t = arena.tensor(name);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(values.size())) << name;
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_NEAR(t.data<float>()[i], values[i], 2e-6 * std::max(1.0, std::abs(values[i]))) << name << "[" << i << "]";
}

SgdOptions lars_options(double eta) {
  SgdOptions o;
  o.momentum = 0.9;
  o.weight_decay = 0.1;
  o.kind = OptimizerKind::lars;
  o.lars_eta = eta;
  return o;
}

TEST(LarsLocalLr, FormulaAndZeroNorms) {
  EXPECT_DOUBLE_EQ(lars_local_lr(0.03, 5.0, 1.0, 0.1), 0.03 * 5.0 / 1.5);
  EXPECT_DOUBLE_EQ(lars_local_lr(0.001, 2.0, 4.0, 0.0), 0.0005);
  EXPECT_EQ(lars_local_lr(0.001, 0.0, 4.0, 0.1), 1.0);  // ‖w‖ = 0: nothing to trust
  EXPECT_EQ(lars_local_lr(0.001, 2.0, 0.0, 0.1), 1.0);  // ‖g‖ = 0
  EXPECT_EQ(lars_local_lr(0.001, 0.0, 0.0, 0.0), 1.0);
}

TEST(LarsLocalLr, RolesAndSwitch) {
  EXPECT_TRUE(applies_lars(TensorRole::conv_weight, false));
  EXPECT_TRUE(applies_lars(TensorRole::fc_weight, false));
  for (TensorRole r : {TensorRole::bias, TensorRole::bn_gamma, TensorRole::bn_beta}) {
    EXPECT_FALSE(applies_lars(r, false)) << role_name(r);
    EXPECT_TRUE(applies_lars(r, true)) << role_name(r);
  }
  EXPECT_THROW(applies_lars(TensorRole::bn_running_var, true), InvalidArgument);
}

// η_lars = 0.03, λ = 0.1, m = 0.9, u-form; lr 1, 0.5, 0.25. ℓ = 0.03·‖w‖/(‖g‖ + 0.1·‖w‖).
TEST(Lars, MatchesHandComputedUpdatesOverThreeSteps) {
  auto layout = small_layout();
  Arena params(layout), grads(layout);
  set(params, "conv1.weight", {3.0f, 4.0f, 0.0f, 0.0f});
  set(params, "bn1.weight", {1.0f, 2.0f});
  set(params, "bn1.bias", {0.0f, -1.0f});
  set(params, "fc.weight", {0.0f, 0.0f});  // ‖w‖ = 0: ℓ = 1
  set(params, "fc.bias", {3.0f});
  Sgd sgd(layout, lars_options(0.03));

  set(grads, "conv1.weight", {0.0f, 0.0f, 0.6f, 0.8f});
  set(grads, "bn1.weight", {0.5f, -0.5f});
  set(grads, "bn1.bias", {1.0f, 1.0f});
  set(grads, "fc.weight", {1.0f, 2.0f});
  set(grads, "fc.bias", {1.0f});
  sgd.step(params, grads, 1.0);
  // conv: ‖w‖ = 5, ‖g‖ = 1, ℓ = 0.03·5/1.5 = 0.1; u = ℓ·(g + 0.1·w) = [0.03, 0.04, 0.06, 0.08].
  EXPECT_NEAR(sgd.lars_local(0), 0.1, 1e-7);  // 0.6f, 0.8f are not exact
  expect(sgd.momentum_buffer(), "conv1.weight", {0.03, 0.04, 0.06, 0.08});
  expect(params, "conv1.weight", {2.97, 3.96, -0.06, -0.08});
  // BN γ/β and the bias: excluded (ℓ = 1) and not decayed: plain momentum SGD.
  EXPECT_EQ(sgd.lars_local(1), 1.0);
  EXPECT_EQ(sgd.lars_local(2), 1.0);
  EXPECT_EQ(sgd.lars_local(4), 1.0);
  expect(params, "bn1.weight", {0.5, 2.5});
  expect(params, "bn1.bias", {-1.0, -2.0});
  expect(params, "fc.bias", {2.0});
  // fc: ‖w‖ = 0, so ℓ = 1.
  EXPECT_EQ(sgd.lars_local(3), 1.0);
  expect(params, "fc.weight", {-1.0, -2.0});

  set(grads, "conv1.weight", {0.0f, 0.0f, 0.0f, 0.0f});  // ‖g‖ = 0: ℓ = 1, only decay moves w
  set(grads, "bn1.bias", {0.0f, 0.0f});
  set(grads, "fc.weight", {2.0f, -1.0f});
  sgd.step(params, grads, 0.5);
  // conv: u = 0.9·u + 0.1·w = [0.324, 0.432, 0.048, 0.064].
  EXPECT_EQ(sgd.lars_local(0), 1.0);
  expect(sgd.momentum_buffer(), "conv1.weight", {0.324, 0.432, 0.048, 0.064});
  expect(params, "conv1.weight", {2.808, 3.744, -0.084, -0.112});
  // fc: ‖w‖ = ‖g‖ = √5, ℓ = 0.03/1.1; u = 0.9·[1, 2] + ℓ·([2, −1] + 0.1·[−1, −2]).
  EXPECT_NEAR(sgd.lars_local(3), 0.03 / 1.1, 1e-9);
  expect(sgd.momentum_buffer(), "fc.weight", {0.9518181818, 1.767272727});
  expect(params, "fc.weight", {-1.475909091, -2.883636364});
  expect(params, "bn1.weight", {0.025, 2.975});
  expect(params, "bn1.bias", {-1.45, -2.45});
  expect(params, "fc.bias", {1.05});

  set(grads, "conv1.weight", {1.0f, 0.0f, 0.0f, 0.0f});
  set(grads, "bn1.weight", {0.0f, 1.0f});
  set(grads, "fc.weight", {0.0f, 1.0f});
  set(grads, "fc.bias", {-1.0f});
  sgd.step(params, grads, 0.25);
  // conv: ‖w‖ = √21.922, ‖g‖ = 1: ℓ = 0.03·4.68209/(1 + 0.468209) = 0.0956695.
  EXPECT_NEAR(sgd.lars_local(0), 0.09566946703, 1e-6);
  expect(sgd.momentum_buffer(), "conv1.weight", {0.4141334534, 0.4246186485, 0.04239637648, 0.05652850197});
  expect(params, "conv1.weight", {2.704466637, 3.637845338, -0.09459909412, -0.1261321255});
  EXPECT_NEAR(sgd.lars_local(3), 0.07340350694, 1e-6);
  expect(params, "fc.weight", {-1.687359759, -3.294331878});
  expect(params, "bn1.weight", {-0.18875, 2.93875});
  expect(params, "bn1.bias", {-1.6525, -2.6525});
  expect(params, "fc.bias", {0.8725});
  EXPECT_EQ(sgd.steps(), 3);
}

TEST(Lars, SwitchScalesBatchNormAndBiasToo) {
  auto layout = small_layout();
  Arena params(layout), grads(layout);
  set(params, "bn1.weight", {3.0f, 4.0f});  // ‖γ‖ = 5
  set(grads, "bn1.weight", {0.0f, 2.0f});   // ‖g‖ = 2; γ is not decayed: ℓ = 0.02·5/2 = 0.05
  set(params, "fc.bias", {0.0f});           // zero bias: ℓ = 1 even when switched on
  set(grads, "fc.bias", {1.0f});
  SgdOptions o = lars_options(0.02);
  o.lars_on_bn_and_bias = true;
  Sgd sgd(layout, o);
  sgd.step(params, grads, 1.0);
  EXPECT_NEAR(sgd.lars_local(1), 0.05, 1e-9);
  expect(params, "bn1.weight", {3.0, 3.9});
  EXPECT_EQ(sgd.lars_local(4), 1.0);
  expect(params, "fc.bias", {-1.0});
  EXPECT_EQ(sgd.lars_local(2), 1.0);  // β: both norms zero
}

// Random ResNet-like arena: LARS gives the same bits for any thread count, and the v-form with
// momentum correction gives the u-form's weights under a changing lr (the header's claim).
std::shared_ptr<ArenaLayout> resnet_like_layout() {
  auto layout = std::make_shared<ArenaLayout>();
  for (int i = 0; i < 12; ++i) {
    const int64_t c = 3 + 29 * i;  // the last convs exceed one norm chunk (16384 elements)
    layout->add("conv" + std::to_string(i) + ".weight", {c, 5, 3, 3}, TensorRole::conv_weight);
    layout->add("bn" + std::to_string(i) + ".weight", {c}, TensorRole::bn_gamma);
    layout->add("bn" + std::to_string(i) + ".bias", {c}, TensorRole::bn_beta);
  }
  layout->add("fc.weight", {10, 33}, TensorRole::fc_weight);
  layout->add("fc.bias", {10}, TensorRole::bias);
  return layout;
}

void fill_normal(const Arena& arena, uint64_t seed) {
  Rng rng(seed);
  for (const ArenaEntry& e : arena.layout().entries())
    for (int64_t k = 0; k < e.shape.numel(); ++k) arena.data()[e.offset + k] = static_cast<float>(rng.normal());
}

std::vector<float> run(const SgdOptions& options, const std::vector<double>& lrs) {
  auto layout = resnet_like_layout();
  Arena params(layout), grads(layout);
  fill_normal(params, 3);
  Sgd sgd(layout, options);
  for (size_t t = 0; t < lrs.size(); ++t) {
    fill_normal(grads, 50 + t);
    sgd.step(params, grads, lrs[t]);
  }
  return std::vector<float>(params.data(), params.data() + params.total_elems());
}

TEST(Lars, SameBitsForAnyThreadCount) {
  const std::vector<double> lrs = {1.0, 2.0, 3.0, 3.0};
  const int saved = num_threads();
  set_num_threads(1);
  const std::vector<float> one = run(lars_options(0.001), lrs);
  for (int threads : {2, 3, 5}) {
    set_num_threads(threads);
    EXPECT_EQ(run(lars_options(0.001), lrs), one) << threads << " threads";
  }
  set_num_threads(saved);
}

TEST(Lars, VFormWithCorrectionEqualsUForm) {
  const std::vector<double> lrs = {0.5, 1.0, 1.5, 2.0, 2.0, 1.2, 0.6, 0.2};  // warmup, then poly-like decay
  for (bool nesterov : {false, true}) {
    SgdOptions u = lars_options(0.5);  // ℓ ≈ 0.45: LARS tensors move as much as the others
    u.nesterov = nesterov;
    SgdOptions v = u;
    v.v_form = true;
    SgdOptions v_uncorrected = v;
    v_uncorrected.momentum_correction = false;
    const std::vector<float> wu = run(u, lrs), wv = run(v, lrs), wx = run(v_uncorrected, lrs);
    const std::vector<float> w0 = run(u, {});
    double worst = 0.0, moved = 0.0, uncorrected = 0.0;
    for (size_t i = 0; i < wu.size(); ++i) {
      worst = std::max(worst, static_cast<double>(std::abs(wu[i] - wv[i])));
      moved = std::max(moved, static_cast<double>(std::abs(wu[i] - w0[i])));
      uncorrected = std::max(uncorrected, static_cast<double>(std::abs(wu[i] - wx[i])));
    }
    EXPECT_GT(moved, 1e-3) << "nesterov " << nesterov;
    EXPECT_LT(worst, 1e-4 * moved) << "nesterov " << nesterov;
    EXPECT_GT(uncorrected, 1e-2 * moved) << "nesterov " << nesterov;
  }
}

// optimizer = sgd: the LARS fields are ignored and every bit is what the pre-LARS update
// formula gives (u ← m·u + g + λ·w; w ← w − lr·u, in this order of operations).
TEST(Lars, PlainSgdBitsUnchanged) {
  const std::vector<double> lrs = {0.1, 0.2, 0.3};
  SgdOptions sgd_options;
  sgd_options.weight_decay = 1e-3;
  sgd_options.lars_eta = 5.0;
  sgd_options.lars_on_bn_and_bias = true;
  const std::vector<float> got = run(sgd_options, lrs);

  auto layout = resnet_like_layout();
  Arena w(layout), u(layout), g(layout);
  fill_normal(w, 3);
  for (size_t t = 0; t < lrs.size(); ++t) {
    fill_normal(g, 50 + t);
    for (const ArenaEntry& e : layout->entries()) {
      const float decay = applies_weight_decay(e.role, sgd_options) ? 1e-3f : 0.0f;
      for (int64_t k = e.offset; k < e.offset + e.shape.numel(); ++k) {
        u.data()[k] = 0.9f * u.data()[k] + g.data()[k] + decay * w.data()[k];
        w.data()[k] -= static_cast<float>(lrs[t]) * u.data()[k];
      }
    }
  }
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], w.data()[i]) << "element " << i;
}

TEST(Lars, RejectsBadEta) {
  auto layout = small_layout();
  EXPECT_THROW(Sgd(layout, lars_options(0.0)), InvalidArgument);
  EXPECT_THROW(Sgd(layout, lars_options(std::nan(""))), InvalidArgument);
  EXPECT_EQ(parse_optimizer_kind("lars"), OptimizerKind::lars);
  EXPECT_STREQ(optimizer_kind_name(OptimizerKind::sgd), "sgd");
  try {
    parse_optimizer_kind("adam");
    FAIL() << "adam parsed";
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "[optim] expected sgd or lars, got 'adam'");
  }
}

}  // namespace
}  // namespace bigbatch::optim
