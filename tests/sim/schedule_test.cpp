// The iteration timeline: bucket assignment (the reducer's rule), full overlap, no overlap, a
// communication-bound channel, and scaling efficiency.
#include "bigbatch/sim/schedule.h"

#include <gtest/gtest.h>

#include "bigbatch/core/error.h"
#include "bigbatch/sim/scaling.h"

namespace bigbatch::sim {
namespace {

std::vector<LayerGrad> layers(const std::vector<int64_t>& bytes, const std::vector<double>& ready) {
  std::vector<LayerGrad> out;
  for (size_t i = 0; i < bytes.size(); ++i) out.push_back({"layer" + std::to_string(i), bytes[i], ready[i]});
  return out;
}

TEST(PlanBuckets, ClosesBeforeTheCapAndIsolatesBigLayers) {
  // cap 30: [10 10 10] [25 5] [40] [5]
  const auto b = plan_buckets(layers({10, 10, 10, 25, 5, 40, 5}, {1, 2, 3, 4, 5, 6, 7}), 30);
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b[0].layers, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(b[1].layers, (std::vector<int>{3, 4}));
  EXPECT_EQ(b[2].layers, (std::vector<int>{5}));
  EXPECT_EQ(b[3].layers, (std::vector<int>{6}));
  EXPECT_EQ(b[0].bytes, 30);
  EXPECT_EQ(b[1].bytes, 30);
  EXPECT_EQ(b[1].ready_s, 5.0);
  EXPECT_EQ(b[2].bytes, 40);
}

TEST(PlanBuckets, ReadyIsTheLatestLayerAndCapZeroIsPerLayer) {
  const auto b = plan_buckets(layers({10, 10, 10}, {3, 1, 2}), 100);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].ready_s, 3.0);
  EXPECT_EQ(plan_buckets(layers({10, 10, 10}, {1, 2, 3}), 0).size(), 3u);
  EXPECT_THROW(plan_buckets(layers({10}, {1}), -1), InvalidArgument);
  EXPECT_THROW(plan_buckets(layers({-10}, {1}), 10), InvalidArgument);
}

// Buckets ready at 40, 80 and 120 ms (the end of backward), allreduces of 1 ms: all but the last
// hide behind backward, which is then the only communication the iteration waits for.
TEST(SimulateStep, FullOverlapLeavesOnlyTheLastBucket) {
  const auto b = plan_buckets(layers({10, 10, 10}, {0.040, 0.080, 0.120}), 10);
  const StepInputs in{0.060, 0.120, 0.005, true};
  const StepTime t = simulate_step(b, {0.001, 0.001, 0.002}, in);
  EXPECT_NEAR(t.comm_s, 0.004, 1e-15);
  EXPECT_NEAR(t.exposed_s, 0.002, 1e-15);
  EXPECT_NEAR(t.iteration_s, 0.060 + 0.120 + 0.002 + 0.005, 1e-15);
  EXPECT_EQ(t.start_s, (std::vector<double>{0.040, 0.080, 0.120}));
}

TEST(SimulateStep, NoOverlapIsTheSum) {
  const auto b = plan_buckets(layers({10, 10, 10}, {0.040, 0.080, 0.120}), 10);
  const StepTime t = simulate_step(b, {0.010, 0.020, 0.030}, {0.060, 0.120, 0.005, false});
  EXPECT_NEAR(t.exposed_s, 0.060, 1e-15);
  EXPECT_NEAR(t.iteration_s, 0.060 + 0.120 + 0.060 + 0.005, 1e-15);
  EXPECT_NEAR(t.start_s[0], 0.120, 1e-15);
  EXPECT_NEAR(t.start_s[2], 0.150, 1e-15);
}

// Allreduces longer than the gaps between buckets queue on the one channel.
TEST(SimulateStep, SlowChannelQueuesBuckets) {
  const auto b = plan_buckets(layers({10, 10, 10}, {0.010, 0.020, 0.100}), 10);
  const StepTime t = simulate_step(b, {0.050, 0.050, 0.050}, {0.0, 0.100, 0.0, true});
  EXPECT_NEAR(t.start_s[1], 0.060, 1e-15);  // waits for bucket 0, not for its own readiness
  EXPECT_NEAR(t.start_s[2], 0.110, 1e-15);
  EXPECT_NEAR(t.exposed_s, 0.060, 1e-15);
  EXPECT_NEAR(t.iteration_s, 0.160, 1e-15);
}

TEST(SimulateStep, RejectsInconsistentInput) {
  const auto b = plan_buckets(layers({10, 10}, {0.010, 0.200}), 10);
  EXPECT_THROW(simulate_step(b, {0.001}, {0, 0.300, 0, true}), InvalidArgument);
  EXPECT_THROW(simulate_step(b, {0.001, 0.001}, {0, 0.100, 0, true}), InvalidArgument);  // ready after backward
}

TEST(SimulateScaling, OneGpuIsFullEfficiencyAndCommunicationCostsEfficiency) {
  const auto b = plan_buckets(layers({50'000'000, 50'000'000}, {0.050, 0.100}), 60'000'000);
  Cluster c;
  c.gpus_per_server = 4;
  c.intra = {1e-5, 1.0 / 10e9};
  c.inter = {5e-5, 1.0 / 1e9};
  const StepInputs in{0.050, 0.100, 0.0, true};
  const auto rows = simulate_scaling(b, in, c, {1, 4, 16}, {Algorithm::ring, Algorithm::hier_hd});
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0].gpus, 1);
  EXPECT_EQ(rows[0].step.comm_s, 0.0);
  EXPECT_DOUBLE_EQ(rows[0].efficiency, 1.0);
  EXPECT_DOUBLE_EQ(rows[1].efficiency_vs_first, 1.0);
  EXPECT_EQ(rows[5].servers, 4);
  EXPECT_EQ(rows[5].algorithm, Algorithm::hier_hd);
  for (size_t i = 2; i < rows.size(); ++i) {
    EXPECT_LT(rows[i].efficiency, 1.0) << i;
    EXPECT_NEAR(rows[i].efficiency, 0.150 / rows[i].step.iteration_s, 1e-12) << i;
  }
  // 16 GPUs over 1 Gbit/s: the flat ring waits on the network far longer than hier-hd.
  EXPECT_LT(rows[4].efficiency, rows[5].efficiency);
  EXPECT_THROW(simulate_scaling(b, in, c, {6}, {Algorithm::hier_hd}), InvalidArgument);  // 6 on servers of 4
}

}  // namespace
}  // namespace bigbatch::sim
