// The trainer's step on its own: the fp16 loss scaler's rule, whole vs accumulated passes on
// the CPU (the same update), and the CPU's and the GPU's step against the same two steps
// written out with the reference executor (the GPU case skips without a device); precise BN's
// statistics against the ones written out.
#include "bigbatch/train/train_step.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "bigbatch/backend/cuda/device.h"
#include "bigbatch/core/error.h"
#include "bigbatch/core/rng.h"
#include "bigbatch/models/registry.h"
#include "bigbatch/nn/device_arena.h"
#include "bigbatch/nn/init.h"
#include "bigbatch/nn/reference_executor.h"
#include "bigbatch/ops/softmax_cross_entropy.h"
#include "testing/gradcheck.h"

namespace bigbatch::train {
namespace {

TEST(LossScaler, DisabledIsTheIdentity) {
  LossScaler off(false);
  Arena grads(models::build_model({"resnet8", 1, 16, 16, 10}).parameter_layout());
  grads.data()[0] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(off.scale(), 1.0f);
  EXPECT_TRUE(off.unscale(grads));  // no check at all: the loss test catches a bad step
  EXPECT_TRUE(std::isinf(grads.data()[0]));
}

TEST(LossScaler, UnscalesSkipsOnOverflowAndGrows) {
  auto layout = std::make_shared<ArenaLayout>();
  layout->add("w", Shape{4}, TensorRole::conv_weight);
  Arena grads(layout);
  LossScaler scaler(true);
  EXPECT_EQ(scaler.scale(), LossScaler::kInitialScale);
  grads.data()[0] = 2.0f * LossScaler::kInitialScale;
  EXPECT_TRUE(scaler.unscale(grads));
  EXPECT_EQ(grads.data()[0], 2.0f);
  grads.data()[1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(scaler.unscale(grads));
  EXPECT_EQ(scaler.scale(), LossScaler::kInitialScale / 2);
  EXPECT_EQ(scaler.skipped_steps(), 1);
  grads.zero();
  for (int i = 0; i < LossScaler::kGrowthInterval; ++i) ASSERT_TRUE(scaler.unscale(grads));
  EXPECT_EQ(scaler.scale(), LossScaler::kInitialScale);
  // Overflowing at scale 1 is fp16 failing this model: an error, not an endless skip.
  LossScaler low(true);
  grads.data()[0] = std::numeric_limits<float>::infinity();
  for (int i = 0; i < 16; ++i) ASSERT_FALSE(low.unscale(grads));
  EXPECT_EQ(low.scale(), 1.0f);
  EXPECT_THROW(low.unscale(grads), Error);
}

struct StepResult {
  Arena params, buffers;
  double loss = 0.0;
};

// Two steps of resnet8 on kn = 16 (n = 4) from seed-0 weights; micro 0 = one pass.
StepResult two_steps(Device device, int64_t micro) {
  const nn::Graph graph = models::build_model({"resnet8", 1, 16, 16, 10});
  StepPlan plan;
  plan.graph = &graph;
  plan.global_batch = plan.local_batch = 16;
  plan.micro_batch = micro;
  plan.bn_group = 4;
  plan.device.device = device;
  plan.sgd = {.momentum = 0.9, .weight_decay = 1e-4};
  TrainStep step(plan);
  StepResult run{Arena(graph.parameter_layout()), Arena(graph.buffer_layout())};
  Rng rng(0);
  nn::initialize(graph, run.params, run.buffers, rng, {.zero_gamma = false});
  nn::copy_arena(step.params(), run.params);
  nn::copy_arena(step.buffers(), run.buffers);
  Tensor images = Tensor::zeros({16, 1, 16, 16});
  bigbatch::testing::fill_uniform(images.data<float>(), images.numel(), 3);
  std::vector<int32_t> labels(16);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int32_t>((7 * i) % 10);
  for (int s = 0; s < 2; ++s) {
    int64_t correct = 0;
    run.loss = step.run(images, labels.data(), 0.1, s, correct);
    EXPECT_GE(correct, 0);
  }
  nn::copy_arena(run.params, step.params());
  nn::copy_arena(run.buffers, step.buffers());
  return run;
}

TEST(TrainStep, AccumulatedPassesGiveTheWholeStep) {
  const StepResult whole = two_steps(Device::cpu, 0), parts = two_steps(Device::cpu, 8);
  EXPECT_NEAR(parts.loss, whole.loss, 1e-6 * whole.loss);
  EXPECT_TRUE(bigbatch::testing::near_relative(parts.params.data(), whole.params.data(), whole.params.total_elems(),
                                               1e-4, 1e-6));
  EXPECT_TRUE(bigbatch::testing::near_relative(parts.buffers.data(), whole.buffers.data(), whole.buffers.total_elems(),
                                               1e-4, 1e-6));
}

TEST(TrainStep, RejectsAMicroBatchThatDoesNotDivide) { EXPECT_THROW(two_steps(Device::cpu, 6), InvalidArgument); }

// Precise BN on a graph whose batch norm sees the images themselves, so that the statistics it
// must find can be written out: per channel, the mean over batches and groups of n = 2 of each
// group's mean and unbiased variance. Whole and in passes of one group alike.
TEST(TrainStep, PreciseBnStatisticsAreTheMeansOfTheGroups) {
  nn::Graph graph;
  const int in = graph.input(2, 3, 3);
  const int bn = graph.batch_norm("bn", in, /*fuse_relu=*/false);
  graph.set_output(graph.linear("fc", graph.global_avg_pool(bn), {2, 3, true}));
  constexpr int64_t kBatch = 8, kGroup = 2, kBatches = 3, kChannels = 2, kPixels = 9;
  std::vector<Tensor> batches;
  for (int64_t b = 0; b < kBatches; ++b) {
    batches.push_back(Tensor::zeros({kBatch, kChannels, 3, 3}));
    bigbatch::testing::fill_uniform(batches.back().data<float>(), batches.back().numel(), 10 + b, -1.0 + b, 2.0 + b);
  }
  double mean[kChannels] = {}, var[kChannels] = {};
  for (const Tensor& t : batches)
    for (int64_t g = 0; g < kBatch / kGroup; ++g)
      for (int64_t c = 0; c < kChannels; ++c) {
        std::vector<double> v;
        for (int64_t i = g * kGroup; i < (g + 1) * kGroup; ++i)
          for (int64_t p = 0; p < kPixels; ++p) v.push_back(t.data<float>()[(i * kChannels + c) * kPixels + p]);
        double m = 0.0, ss = 0.0;
        for (double x : v) m += x / static_cast<double>(v.size());
        for (double x : v) ss += (x - m) * (x - m);
        const double groups = static_cast<double>(kBatches * (kBatch / kGroup));
        mean[c] += m / groups;
        var[c] += ss / static_cast<double>(v.size() - 1) / groups;
      }
  for (int64_t micro : {int64_t{0}, kGroup}) {
    SCOPED_TRACE(micro == 0 ? "whole" : "in passes of one group");
    StepPlan plan;
    plan.graph = &graph;
    plan.global_batch = plan.local_batch = kBatch;
    plan.micro_batch = micro;
    plan.bn_group = kGroup;
    TrainStep step(plan);
    Arena params(graph.parameter_layout()), buffers(graph.buffer_layout());
    Rng rng(0);
    nn::initialize(graph, params, buffers, rng, {});
    buffers.tensor("bn.running_mean").data<float>()[0] = 7.0f;  // replaced, not blended
    buffers.tensor("bn.num_batches_tracked").data<float>()[0] = 5.0f;
    nn::copy_arena(step.params(), params);
    nn::copy_arena(step.buffers(), buffers);
    step.recompute_bn_statistics(kBatches, [&](int64_t i) -> const Tensor& { return batches[static_cast<size_t>(i)]; });
    const float* rm = step.buffers().tensor("bn.running_mean").data<float>();
    const float* rv = step.buffers().tensor("bn.running_var").data<float>();
    for (int64_t c = 0; c < kChannels; ++c) {
      EXPECT_NEAR(rm[c], mean[c], 1e-6 * (1.0 + std::abs(mean[c])));
      EXPECT_NEAR(rv[c], var[c], 1e-6 * var[c]);
    }
    EXPECT_EQ(step.buffers().tensor("bn.num_batches_tracked").data<float>()[0], 5.0f);
    EXPECT_EQ(std::memcmp(step.params().data(), params.data(), sizeof(float) * params.total_elems()), 0);
  }
}

// The same two steps written out with the reference executor in double and optim::Sgd on the
// host: the truth for the GPU step, needing no oneDNN (a GPU machine may not have it).
StepResult reference_steps() {
  const nn::Graph graph = models::build_model({"resnet8", 1, 16, 16, 10});
  StepResult run{Arena(graph.parameter_layout()), Arena(graph.buffer_layout())};
  Arena grads(graph.parameter_layout());
  Rng rng(0);
  nn::initialize(graph, run.params, run.buffers, rng, {.zero_gamma = false});
  auto ref = nn::make_reference_executor<double>({&graph, &run.params, &grads, &run.buffers}, {16, 4, DType::f32});
  optim::Sgd sgd(graph.parameter_layout(), {.momentum = 0.9, .weight_decay = 1e-4});
  Tensor images = Tensor::zeros({16, 1, 16, 16});
  bigbatch::testing::fill_uniform(images.data<float>(), images.numel(), 3);
  std::vector<int32_t> labels(16);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int32_t>((7 * i) % 10);
  Tensor diff = Tensor::zeros({16, 10});
  for (int s = 0; s < 2; ++s) {
    ref->forward(images, true);
    const float* logits = ref->logits().data<float>();
    run.loss = ops::softmax_cross_entropy_forward<float>(16, 10, logits, labels.data(), 16.0);
    ops::softmax_cross_entropy_backward<float>(16, 10, logits, labels.data(), 16.0, diff.data<float>());
    ref->backward(diff);
    sgd.step(run.params, grads, 0.1);
  }
  return run;
}

TEST(TrainStep, TheCpuStepIsTheReferenceStep) {
  const StepResult cpu = two_steps(Device::cpu, 0), truth = reference_steps();
  EXPECT_NEAR(cpu.loss, truth.loss, 1e-5 * truth.loss);
  EXPECT_TRUE(
      bigbatch::testing::near_relative(cpu.params.data(), truth.params.data(), truth.params.total_elems(), 1e-4, 1e-6));
}

TEST(TrainStep, TheGpuStepIsTheReferenceStep) {
  if (backend::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  const StepResult truth = reference_steps();
  for (int64_t micro : {int64_t{0}, int64_t{8}}) {
    SCOPED_TRACE(micro == 0 ? "whole" : "accumulated");
    const StepResult& cpu = truth;
    const StepResult gpu = two_steps(Device::cuda, micro);
    EXPECT_NEAR(gpu.loss, cpu.loss, 1e-4 * cpu.loss);
    EXPECT_TRUE(
        bigbatch::testing::near_relative(gpu.params.data(), cpu.params.data(), cpu.params.total_elems(), 1e-3, 1e-5));
    EXPECT_TRUE(bigbatch::testing::near_relative(gpu.buffers.data(), cpu.buffers.data(), cpu.buffers.total_elems(),
                                                 1e-3, 1e-5));
  }
}

}  // namespace
}  // namespace bigbatch::train
