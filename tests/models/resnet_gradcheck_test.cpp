// Whole-network checks of a tiny resnet8 (1×8×8, batch 4, ghost BN groups of 2) through the
// reference executor in double: backward vs central differences, running statistics.
#include <gtest/gtest.h>

#include "bigbatch/models/registry.h"
#include "nn/network_gradcheck.h"

namespace bigbatch::models {
namespace {

TEST(ResnetGradcheck, Resnet8GradientsMatchFiniteDifferences) {
  const nn::Graph g = build_model({"resnet8", 1, 8, 8, 10});
  testing::NetworkGradcheck check(g, 4, 2, 2024);
  for (const char* name :
       {"conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv1.weight", "layer1.0.bn2.weight", "layer1.0.bn2.bias",
        "layer2.0.conv2.weight", "layer2.0.downsample.0.weight", "layer2.0.downsample.1.weight",
        "layer2.0.downsample.1.bias", "layer3.0.bn1.weight", "layer3.0.conv2.weight", "fc.weight", "fc.bias"})
    EXPECT_TRUE(check.check_param(name, 4));
  EXPECT_TRUE(check.check_input(6));
}

TEST(ResnetGradcheck, TrainingForwardUpdatesRunningStats) {
  const nn::Graph g = build_model({"resnet8", 1, 8, 8, 10});
  testing::NetworkGradcheck check(g, 4, 2, 7);
  check.loss();
  for (const ArenaEntry& e : g.buffer_layout()->entries()) {
    if (e.name.ends_with("num_batches_tracked")) {
      EXPECT_EQ(check.buffers().tensor(e.name).data<float>()[0], 1.0f) << e.name;
    }
  }
  // With equal groups the mean over groups of the group means is the batch mean.
  const std::vector<double>& x = check.executor().activation(1);  // conv1's output, 4×16×8×8
  const float* running_mean = check.buffers().tensor("bn1.running_mean").data<float>();
  const float* running_var = check.buffers().tensor("layer3.0.bn2.running_var").data<float>();
  for (int c = 0; c < 16; ++c) {
    double sum = 0;
    for (int n = 0; n < 4; ++n)
      for (int i = 0; i < 64; ++i) sum += x[static_cast<size_t>((n * 16 + c) * 64 + i)];
    EXPECT_NEAR(running_mean[c], 0.1 * sum / 256, 1e-6);
  }
  for (int c = 0; c < 64; ++c) EXPECT_NE(running_var[c], 1.0f);
}

}  // namespace
}  // namespace bigbatch::models
