// The straggler model: the expected maximum of p normals against its closed forms and a
// tabulated value, and what it does to a scaling sweep.
#include "bigbatch/sim/straggler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "bigbatch/core/error.h"
#include "bigbatch/sim/scaling.h"

namespace bigbatch::sim {
namespace {

TEST(Straggler, ExpectedMaximumOfNormals) {
  EXPECT_EQ(expected_max_of_normals(1), 0.0);
  EXPECT_NEAR(expected_max_of_normals(2), 1.0 / std::sqrt(std::numbers::pi), 1e-9);
  EXPECT_NEAR(expected_max_of_normals(3), 1.5 / std::sqrt(std::numbers::pi), 1e-9);
  // Tabulated (Harter 1961): 1.53875 for 10, 3.87 for 10,000 is sqrt(2 ln p)'s neighbourhood.
  EXPECT_NEAR(expected_max_of_normals(10), 1.53875, 1e-5);
  double previous = 0.0;
  for (int64_t p : {2, 8, 64, 256, 4096}) {
    EXPECT_GT(expected_max_of_normals(p), previous) << p;
    previous = expected_max_of_normals(p);
  }
  EXPECT_THROW(expected_max_of_normals(0), InvalidArgument);
  EXPECT_THROW(straggler_factor(4, -0.1), InvalidArgument);
  EXPECT_EQ(straggler_factor(256, 0.0), 1.0);
}

TEST(Straggler, TheStepWaitsForTheSlowestGpu) {
  Cluster cluster;
  cluster.gpus_per_server = 8;
  cluster.intra = {10e-6, 1.0 / 20e9};
  cluster.inter = {50e-6, 1.0 / 5e9};
  const std::vector<Bucket> buckets = {{1 << 20, 0.05, {0}}, {1 << 20, 0.1, {1}}};
  StepInputs inputs{.forward_s = 0.05, .backward_s = 0.1, .optimizer_s = 0.0, .overlap = true};
  const std::vector<int64_t> gpus = {1, 64};
  const auto even = simulate_scaling(buckets, inputs, cluster, gpus, {Algorithm::ring});
  inputs.straggler_spread = 0.05;
  const auto spread = simulate_scaling(buckets, inputs, cluster, gpus, {Algorithm::ring});
  EXPECT_EQ(spread[0].straggler_factor, 1.0);  // one GPU waits for nobody
  EXPECT_EQ(spread[0].step.iteration_s, even[0].step.iteration_s);
  EXPECT_NEAR(spread[1].straggler_factor, 1.0 + 0.05 * expected_max_of_normals(64), 1e-12);
  // The compute is the slowest GPU's; the communication did not change.
  EXPECT_NEAR(spread[1].step.iteration_s - spread[1].step.exposed_s,
              (even[1].step.iteration_s - even[1].step.exposed_s) * spread[1].straggler_factor, 1e-12);
  EXPECT_LT(spread[1].efficiency, even[1].efficiency);
}

}  // namespace
}  // namespace bigbatch::sim
