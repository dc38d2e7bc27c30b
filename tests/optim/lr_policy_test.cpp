// Tests of the learning-rate policy (RECIPE §1–2) against hand-computed values at every edge:
// warmup ends, decay epochs, cosine and poly midpoints and ends, for several global batches.
#include "bigbatch/optim/lr_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "bigbatch/core/error.h"

namespace bigbatch::optim {
namespace {

// Relative tolerance: the policy computes in double and the expected values are written out.
void expect_lr(const LrPolicy& policy, int64_t t, double expected) {
  double tolerance = 1e-12 * std::max(1.0, std::abs(expected));
  EXPECT_NEAR(policy.lr_at(t), expected, tolerance) << "at iteration " << t;
}

LrPolicyConfig imagenet(int64_t global_batch, int64_t iters_per_epoch) {
  LrPolicyConfig c;
  c.global_batch = global_batch;
  c.iters_per_epoch = iters_per_epoch;
  return c;
}

// kn = B₀: η = η₀ = 0.1, so there is no warmup. ceil(1281167/256) = 5005 iterations per epoch.
TEST(LrPolicy, Batch256StepHasNoWarmup) {
  LrPolicy p(imagenet(256, 5005));
  EXPECT_DOUBLE_EQ(p.scaled_lr(), 0.1);
  EXPECT_EQ(p.warmup_iters(), 0);
  EXPECT_EQ(p.total_iters(), 450450);
  expect_lr(p, 0, 0.1);
  expect_lr(p, 25024, 0.1);
  expect_lr(p, 25025, 0.1);
  expect_lr(p, 150149, 0.1);
  expect_lr(p, 150150, 0.01);
  expect_lr(p, 300299, 0.01);
  expect_lr(p, 300300, 0.001);
  expect_lr(p, 400399, 0.001);
  expect_lr(p, 400400, 0.0001);
  expect_lr(p, 450449, 0.0001);
}

// kn = 1024: η = 0.4; 1252 iterations per epoch, warmup 6260 iterations.
TEST(LrPolicy, Batch1024GradualWarmupAndStep) {
  LrPolicy p(imagenet(1024, 1252));
  EXPECT_DOUBLE_EQ(p.scaled_lr(), 0.4);
  EXPECT_EQ(p.warmup_iters(), 6260);
  expect_lr(p, 0, 0.1);
  expect_lr(p, 1, 0.1 + 0.3 / 6260);
  expect_lr(p, 3130, 0.25);
  expect_lr(p, 6259, 0.3999520766773163);  // 0.4 − 0.3/6260
  expect_lr(p, 6260, 0.4);
  expect_lr(p, 37559, 0.4);
  expect_lr(p, 37560, 0.04);
  expect_lr(p, 75119, 0.04);
  expect_lr(p, 75120, 0.004);
  expect_lr(p, 100159, 0.004);
  expect_lr(p, 100160, 0.0004);
}

// kn = 8192 (the paper's headline): η = 3.2; 157 iterations per epoch, warmup 785.
TEST(LrPolicy, Batch8192GradualWarmupAndStep) {
  LrPolicy p(imagenet(8192, 157));
  EXPECT_DOUBLE_EQ(p.scaled_lr(), 3.2);
  EXPECT_EQ(p.warmup_iters(), 785);
  EXPECT_EQ(p.total_iters(), 14130);
  expect_lr(p, 0, 0.1);
  expect_lr(p, 784, 3.196050955414013);  // 3.2 − 3.1/785
  expect_lr(p, 785, 3.2);
  expect_lr(p, 4709, 3.2);
  expect_lr(p, 4710, 0.32);
  expect_lr(p, 9419, 0.32);
  expect_lr(p, 9420, 0.032);
  expect_lr(p, 12559, 0.032);
  expect_lr(p, 12560, 0.0032);
  expect_lr(p, 14129, 0.0032);
  expect_lr(p, 14130, 0.0032);  // one past the end stays defined (momentum correction, RECIPE §3)
}

// kn = 3000: η = 0.1·3000/256 = 1.171875; ceil(1281167/3000) = 428 iterations per epoch, which
// does not divide the epoch: warmup still ends at exactly 5·428 = 2140 iterations.
TEST(LrPolicy, Batch3000UnevenEpochs) {
  LrPolicy p(imagenet(3000, 428));
  EXPECT_DOUBLE_EQ(p.scaled_lr(), 1.171875);
  EXPECT_EQ(p.warmup_iters(), 2140);
  EXPECT_EQ(p.total_iters(), 38520);
  expect_lr(p, 0, 0.1);
  expect_lr(p, 1070, 0.6359375);            // halfway: 0.1 + 1.071875/2
  expect_lr(p, 2139, 1.1713741238317756);   // 1.171875 − 1.071875/2140
  expect_lr(p, 2140, 1.171875);
  expect_lr(p, 12839, 1.171875);
  expect_lr(p, 12840, 0.1171875);
  expect_lr(p, 25679, 0.1171875);
  expect_lr(p, 25680, 0.01171875);
  expect_lr(p, 34239, 0.01171875);
  expect_lr(p, 34240, 0.001171875);
}

// Gradual warmup steps by the same amount every iteration (RECIPE §2).
TEST(LrPolicy, GradualWarmupIncrementIsConstant) {
  LrPolicy p(imagenet(8192, 157));
  double step = 3.1 / 785;
  for (int64_t t = 0; t < 785; ++t) EXPECT_NEAR(p.lr_at(t + 1) - p.lr_at(t), step, 1e-12) << t;
}

// kn < B₀ under linear scaling: η = 0.05 < η₀. Warmup starts at min(η₀, η) = η (RECIPE §2), so
// there is none: the main schedule runs from iteration 0, at η, never above it.
TEST(LrPolicy, NoWarmupAtOrBelowTheReferenceBatch) {
  LrPolicy p(imagenet(128, 10));
  EXPECT_DOUBLE_EQ(p.scaled_lr(), 0.05);
  EXPECT_EQ(p.warmup_iters(), 0);
  EXPECT_TRUE(p.warmup_skipped());
  for (int64_t t : {0, 25, 49, 50, 299}) expect_lr(p, t, 0.05);
  expect_lr(p, 300, 0.005);
  LrPolicyConfig c = imagenet(128, 10);
  c.warmup = LrWarmup::constant;
  LrPolicy constant(c);
  EXPECT_EQ(constant.warmup_iters(), 0);
  expect_lr(constant, 0, 0.05);
  // At kn = B₀, η = η₀: nothing to warm up to, and cosine spans every iteration.
  c = imagenet(256, 10);
  c.schedule = LrSchedule::cosine;
  LrPolicy at_b0(c);
  EXPECT_EQ(at_b0.warmup_iters(), 0);
  expect_lr(at_b0, 0, 0.1);
  expect_lr(at_b0, 450, 0.05);  // half of 900 iterations: (1 + cos(π/2))/2 = 1/2
  EXPECT_NE(at_b0.describe().find("no warmup (gradual asked, but eta <= eta0 at kn <= B0)"), std::string::npos);
  // Above B₀ warmup is as before.
  EXPECT_FALSE(LrPolicy(imagenet(512, 10)).warmup_skipped());
  EXPECT_EQ(LrPolicy(imagenet(512, 10)).warmup_iters(), 50);
}

TEST(LrPolicy, SqrtScaling) {
  LrPolicyConfig c = imagenet(1024, 1252);
  c.scaling = LrScaling::sqrt;
  LrPolicy p1024(c);
  EXPECT_DOUBLE_EQ(p1024.scaled_lr(), 0.2);  // 0.1·sqrt(4)
  expect_lr(p1024, 0, 0.1);
  expect_lr(p1024, 3130, 0.15);
  expect_lr(p1024, 6260, 0.2);
  expect_lr(p1024, 37560, 0.02);

  c = imagenet(8192, 157);
  c.scaling = LrScaling::sqrt;
  LrPolicy p8192(c);
  EXPECT_NEAR(p8192.scaled_lr(), 0.5656854249492381, 1e-15);  // 0.1·sqrt(32)
  expect_lr(p8192, 784, 0.5650921951085385);
  expect_lr(p8192, 785, 0.5656854249492381);
  expect_lr(p8192, 4710, 0.05656854249492381);

  c = imagenet(3000, 428);
  c.scaling = LrScaling::sqrt;
  EXPECT_NEAR(LrPolicy(c).scaled_lr(), 0.3423265984407289, 1e-15);  // 0.1·sqrt(11.71875)
}

TEST(LrPolicy, NoScalingKeepsBaseLr) {
  LrPolicyConfig c = imagenet(8192, 157);
  c.scaling = LrScaling::none;
  LrPolicy p(c);
  EXPECT_DOUBLE_EQ(p.scaled_lr(), 0.1);
  expect_lr(p, 0, 0.1);
  expect_lr(p, 400, 0.1);
  expect_lr(p, 785, 0.1);
  expect_lr(p, 4710, 0.01);
}

TEST(LrPolicy, ConstantWarmupJumps) {
  LrPolicyConfig c = imagenet(8192, 157);
  c.warmup = LrWarmup::constant;
  LrPolicy p(c);
  EXPECT_EQ(p.warmup_iters(), 785);
  expect_lr(p, 0, 0.1);
  expect_lr(p, 784, 0.1);
  expect_lr(p, 785, 3.2);
  expect_lr(p, 4710, 0.32);
}

TEST(LrPolicy, ZeroWarmupEpochsOrNoneStartAtScaledLr) {
  LrPolicyConfig c = imagenet(8192, 157);
  c.warmup_epochs = 0;
  LrPolicy zero(c);
  EXPECT_EQ(zero.warmup_iters(), 0);
  expect_lr(zero, 0, 3.2);
  expect_lr(zero, 4709, 3.2);
  expect_lr(zero, 4710, 0.32);

  c = imagenet(8192, 157);
  c.warmup = LrWarmup::none;  // W = 5 is then ignored
  LrPolicy none(c);
  EXPECT_EQ(none.warmup_iters(), 0);
  expect_lr(none, 0, 3.2);
  expect_lr(none, 784, 3.2);
}

TEST(LrPolicy, StepCustomFactorAndEpochs) {
  LrPolicyConfig c = imagenet(1024, 10);
  c.epochs = 20;
  c.warmup_epochs = 2;
  c.decay_epochs = {5, 15};
  c.decay_factor = 0.5;
  LrPolicy p(c);
  expect_lr(p, 49, 0.4);
  expect_lr(p, 50, 0.2);
  expect_lr(p, 149, 0.2);
  expect_lr(p, 150, 0.1);
  expect_lr(p, 199, 0.1);

  c.decay_epochs = {};  // constant after warmup
  LrPolicy flat(c);
  expect_lr(flat, 20, 0.4);
  expect_lr(flat, 199, 0.4);
}

// Cosine over the 800 post-warmup iterations of 10 epochs x 100, warmup 2 epochs.
TEST(LrPolicy, Cosine) {
  LrPolicyConfig c = imagenet(1024, 100);
  c.epochs = 10;
  c.warmup_epochs = 2;
  c.schedule = LrSchedule::cosine;
  LrPolicy p(c);
  EXPECT_EQ(p.warmup_iters(), 200);
  EXPECT_EQ(p.total_iters(), 1000);
  expect_lr(p, 199, 0.3985);  // 0.1 + 0.3·199/200
  expect_lr(p, 200, 0.4);
  expect_lr(p, 400, 0.3414213562373095);  // 0.2·(1 + cos(π/4))
  expect_lr(p, 600, 0.2);                 // midpoint
  expect_lr(p, 999, 1.5421237058887984e-06);  // 0.2·(1 − cos(π/800))
  expect_lr(p, 1000, 0.0);
  expect_lr(p, 5000, 0.0);

  c.final_lr = 0.004;
  LrPolicy floor(c);
  expect_lr(floor, 200, 0.4);
  expect_lr(floor, 600, 0.202);
  expect_lr(floor, 1000, 0.004);
}

TEST(LrPolicy, CosineUnevenEpochs) {
  LrPolicyConfig c = imagenet(3000, 428);
  c.schedule = LrSchedule::cosine;
  LrPolicy p(c);
  expect_lr(p, 2139, 1.1713741238317756);
  expect_lr(p, 2140, 1.171875);
  expect_lr(p, 20330, 0.5859375);  // 2140 + 36380/2
  expect_lr(p, 38520, 0.0);

  c.final_lr = 0.001;
  expect_lr(LrPolicy(c), 20330, 0.5864375);
}

TEST(LrPolicy, Poly) {
  LrPolicyConfig c = imagenet(1024, 100);
  c.epochs = 10;
  c.warmup_epochs = 2;
  c.schedule = LrSchedule::poly;
  LrPolicy p(c);  // p = 2
  expect_lr(p, 200, 0.4);
  expect_lr(p, 600, 0.1);  // 0.4·(1/2)²
  expect_lr(p, 999, 6.25e-07);  // 0.4·(1/800)²
  expect_lr(p, 1000, 0.0);

  c.poly_power = 1.0;
  LrPolicy linear(c);
  expect_lr(linear, 600, 0.2);
  expect_lr(linear, 800, 0.1);
  expect_lr(linear, 1000, 0.0);

  c = imagenet(3000, 428);
  c.schedule = LrSchedule::poly;
  LrPolicy uneven(c);
  expect_lr(uneven, 2140, 1.171875);
  expect_lr(uneven, 20330, 0.29296875);
  expect_lr(uneven, 38520, 0.0);
}

TEST(LrPolicy, ParsesNames) {
  EXPECT_EQ(parse_lr_scaling("linear"), LrScaling::linear);
  EXPECT_EQ(parse_lr_scaling("sqrt"), LrScaling::sqrt);
  EXPECT_EQ(parse_lr_scaling("none"), LrScaling::none);
  EXPECT_EQ(parse_lr_warmup("gradual"), LrWarmup::gradual);
  EXPECT_EQ(parse_lr_warmup("constant"), LrWarmup::constant);
  EXPECT_EQ(parse_lr_warmup("none"), LrWarmup::none);
  EXPECT_EQ(parse_lr_schedule("step"), LrSchedule::step);
  EXPECT_EQ(parse_lr_schedule("cosine"), LrSchedule::cosine);
  EXPECT_EQ(parse_lr_schedule("poly"), LrSchedule::poly);
  for (auto s : {LrScaling::linear, LrScaling::sqrt, LrScaling::none})
    EXPECT_EQ(parse_lr_scaling(lr_scaling_name(s)), s);
  for (auto w : {LrWarmup::gradual, LrWarmup::constant, LrWarmup::none})
    EXPECT_EQ(parse_lr_warmup(lr_warmup_name(w)), w);
  for (auto s : {LrSchedule::step, LrSchedule::cosine, LrSchedule::poly})
    EXPECT_EQ(parse_lr_schedule(lr_schedule_name(s)), s);
  EXPECT_EQ(parse_epoch_list("30,60,80"), (std::vector<int64_t>{30, 60, 80}));
  EXPECT_EQ(parse_epoch_list("30, 60"), (std::vector<int64_t>{30, 60}));
  EXPECT_TRUE(parse_epoch_list("").empty());
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "(no throw)";
}

TEST(LrPolicy, UnknownNamesThrow) {
  EXPECT_EQ(message_of([] { parse_lr_scaling("x"); }), "[lr] expected linear, sqrt or none, got 'x'");
  EXPECT_EQ(message_of([] { parse_lr_warmup("Gradual"); }), "[lr] expected gradual, constant or none, got 'Gradual'");
  EXPECT_EQ(message_of([] { parse_lr_schedule(""); }), "[lr] expected step, cosine or poly, got ''");
  for (const char* bad : {"30,,60", "30,", ",30", "thirty", "30.5", "30;60", " "})
    EXPECT_THROW(parse_epoch_list(bad), InvalidArgument) << "'" << bad << "'";
}

// Applies `edit` to a valid config and expects the constructor to throw "[lr] ...".
void expect_invalid(const std::function<void(LrPolicyConfig&)>& edit, const std::string& what) {
  LrPolicyConfig c = imagenet(1024, 100);
  edit(c);
  std::string message = message_of([&] { LrPolicy p(c); });
  EXPECT_EQ(message.rfind("[lr] ", 0), 0u) << what << ": " << message;
}

TEST(LrPolicy, InvalidConfigsThrow) {
  EXPECT_NO_THROW(LrPolicy p(imagenet(1024, 100)));
  expect_invalid([](LrPolicyConfig& c) { c.global_batch = 0; }, "kn = 0");
  expect_invalid([](LrPolicyConfig& c) { c.global_batch = -256; }, "kn < 0");
  expect_invalid([](LrPolicyConfig& c) { c.base_batch = 0; }, "B0 = 0");
  expect_invalid([](LrPolicyConfig& c) { c.base_lr = 0; }, "base lr 0");
  expect_invalid([](LrPolicyConfig& c) { c.base_lr = std::nan(""); }, "base lr NaN");
  expect_invalid([](LrPolicyConfig& c) { c.iters_per_epoch = 0; }, "no iterations per epoch");
  expect_invalid([](LrPolicyConfig& c) { c = LrPolicyConfig{}; c.global_batch = 1024; }, "iters_per_epoch unset");
  expect_invalid([](LrPolicyConfig& c) { c.epochs = -90; }, "negative epochs");
  expect_invalid([](LrPolicyConfig& c) { c.epochs = 0; }, "zero epochs");
  expect_invalid([](LrPolicyConfig& c) { c.warmup_epochs = -1; }, "negative warmup");
  expect_invalid([](LrPolicyConfig& c) { c.warmup_epochs = 90; }, "warmup as long as training");
  expect_invalid([](LrPolicyConfig& c) { c.decay_epochs = {30, 30, 80}; }, "repeated decay epoch");
  expect_invalid([](LrPolicyConfig& c) { c.decay_epochs = {60, 30, 80}; }, "decreasing decay epochs");
  expect_invalid([](LrPolicyConfig& c) { c.decay_epochs = {-30}; }, "negative decay epoch");
  expect_invalid([](LrPolicyConfig& c) { c.decay_epochs = {3, 30}; }, "decay inside warmup");
  expect_invalid([](LrPolicyConfig& c) { c.decay_epochs = {5, 30}; }, "decay at the end of warmup");
  expect_invalid([](LrPolicyConfig& c) { c.decay_epochs = {30, 91}; }, "decay past the end");
  expect_invalid([](LrPolicyConfig& c) { c.decay_factor = 0; }, "zero decay factor");
  expect_invalid([](LrPolicyConfig& c) { c.decay_factor = 10; }, "decay factor > 1");
  expect_invalid([](LrPolicyConfig& c) { c.schedule = LrSchedule::poly; c.poly_power = 0; }, "poly power 0");
  expect_invalid([](LrPolicyConfig& c) { c.schedule = LrSchedule::cosine; c.final_lr = -0.1; }, "final lr < 0");
  expect_invalid([](LrPolicyConfig& c) { c.schedule = LrSchedule::cosine; c.final_lr = 0.5; }, "final lr > eta");
  expect_invalid([](LrPolicyConfig& c) { c.epochs = int64_t{1} << 62; }, "overflowing iteration count");

  // With no warmup a decay at epoch 3 is fine; cosine ignores the decay epochs.
  LrPolicyConfig c = imagenet(1024, 100);
  c.warmup = LrWarmup::none;
  c.decay_epochs = {3, 30};
  EXPECT_NO_THROW(LrPolicy p(c));
  c = imagenet(1024, 100);
  c.schedule = LrSchedule::cosine;
  c.decay_epochs = {60, 30};
  EXPECT_NO_THROW(LrPolicy p(c));

  EXPECT_THROW(LrPolicy(imagenet(1024, 100)).lr_at(-1), InvalidArgument);
}

TEST(LrPolicy, DescribeIsOneLine) {
  std::string line = LrPolicy(imagenet(8192, 157)).describe();
  EXPECT_EQ(line,
            "lr: 0.1 x 8192/256 (linear) = 3.2; gradual warmup from 0.1 over 5 epochs (785 iters); step x0.1 at epochs "
            "30,60,80; 90 epochs x 157 iters = 14130 iters");
  LrPolicyConfig c = imagenet(1024, 100);
  c.warmup = LrWarmup::none;
  c.scaling = LrScaling::sqrt;
  c.schedule = LrSchedule::cosine;
  line = LrPolicy(c).describe();
  EXPECT_EQ(line, "lr: 0.1 x sqrt(1024/256) (sqrt) = 0.2; no warmup; cosine to 0; 90 epochs x 100 iters = 9000 iters");
}

}  // namespace
}  // namespace bigbatch::optim

namespace bigbatch::optim {
namespace {

TEST(PaperSchedule, ScalesWarmupAndDecaysToTheRun) {
  const auto check = [](int64_t epochs, int64_t warmup, std::vector<int64_t> decays) {
    const PaperSchedule s = paper_schedule_for(epochs);
    EXPECT_EQ(s.warmup_epochs, warmup) << epochs << " epochs";
    EXPECT_EQ(s.decay_epochs, decays) << epochs << " epochs";
  };
  check(90, 5, {30, 60, 80});  // the paper's own
  check(180, 10, {60, 120, 160});
  check(45, 3, {15, 30, 40});  // 2.5 rounds up
  check(10, 1, {3, 7, 9});
  check(5, 1, {2, 3, 4});      // warmup never rounds to nothing
  check(2, 1, {2});            // decays onto the warmup or each other are dropped
  check(1, 0, {1});            // no room for a warmup
}

TEST(PaperSchedule, EveryScaledScheduleIsValid) {
  for (int64_t epochs = 1; epochs <= 200; ++epochs) {
    const PaperSchedule s = paper_schedule_for(epochs);
    LrPolicyConfig c;
    c.global_batch = 1024;
    c.iters_per_epoch = 10;
    c.epochs = epochs;
    c.warmup_epochs = s.warmup_epochs;
    c.decay_epochs = s.decay_epochs;
    EXPECT_NO_THROW(LrPolicy{c}) << epochs << " epochs";
  }
}

}  // namespace
}  // namespace bigbatch::optim
