// The layers `bigbatch simulate` builds from a model graph: sizes and buckets equal to the real
// gradient reducer's plan, ready times spread over backward, or taken from a recorded profile.
#include "bigbatch/cli/simulate_inputs.h"

#include <gtest/gtest.h>

#include <string>

#include "bigbatch/comm/bucket_plan.h"
#include "bigbatch/core/error.h"
#include "bigbatch/models/registry.h"

namespace bigbatch::cli {
namespace {

nn::Graph resnet50() { return models::build_model({"resnet50", 3, 224, 224, 1000}); }

TEST(SimulateInputs, BucketsAreTheReducersBuckets) {
  for (const char* model : {"resnet50", "resnet20"}) {
    const nn::Graph graph = std::string(model) == "resnet50" ? resnet50() : models::build_model({model, 1, 28, 28, 10});
    const std::vector<sim::LayerGrad> layers = layers_from_spread(graph, 0.120, BackwardSpread::flops);
    int64_t total = 0;
    for (const sim::LayerGrad& l : layers) total += l.bytes;
    EXPECT_EQ(total, graph.parameter_layout()->total_elems() * 4) << model;
    for (int64_t cap : {int64_t{25} << 20, int64_t{1} << 20, int64_t{100}}) {
      const std::vector<comm::Bucket> real = comm::plan_buckets(graph.gradient_ranges(), graph.parameter_layout()->total_elems(), cap);
      const std::vector<sim::Bucket> modelled = sim::plan_buckets(layers, cap);
      ASSERT_EQ(modelled.size(), real.size()) << model << " cap " << cap;
      for (size_t b = 0; b < real.size(); ++b) {
        EXPECT_EQ(modelled[b].bytes, real[b].elems() * 4) << model << " bucket " << b;
        EXPECT_EQ(modelled[b].layers.size(), real[b].nodes.size()) << model << " bucket " << b;
      }
    }
  }
}

TEST(SimulateInputs, SpreadEndsWithBackwardAndNeverGoesBack) {
  const nn::Graph graph = resnet50();
  for (BackwardSpread spread : {BackwardSpread::flops, BackwardSpread::params}) {
    const std::vector<sim::LayerGrad> layers = layers_from_spread(graph, 0.120, spread);
    ASSERT_FALSE(layers.empty());
    EXPECT_EQ(layers.front().name, "fc");
    EXPECT_EQ(layers.back().name, "conv1");
    EXPECT_DOUBLE_EQ(layers.back().ready_s, 0.120);
    for (size_t i = 1; i < layers.size(); ++i) EXPECT_GE(layers[i].ready_s, layers[i - 1].ready_s) << i;
  }
  // By FLOPs the fc layer is a sliver of backward; by parameters it is 8% (2.05 M of 25.6 M).
  EXPECT_LT(layers_from_spread(graph, 0.120, BackwardSpread::flops).front().ready_s, 0.001);
  EXPECT_NEAR(layers_from_spread(graph, 0.120, BackwardSpread::params).front().ready_s, 0.120 * 2049000 / 25557032,
              0.0005);
  EXPECT_THROW(parse_backward_spread("time"), InvalidArgument);
}

TEST(SimulateInputs, RecordedProfileCoversEveryLayerAndRescales) {
  const sim::BackwardProfile p = sim::read_backward_profile(BIGBATCH_OVERLAP_DIR "/resnet50_b8.profile");
  const nn::Graph graph = resnet50();
  const std::vector<sim::LayerGrad> layers = layers_from_profile(graph, p, 0.120, "b8");
  EXPECT_EQ(layers.size(), layers_from_spread(graph, 1.0, BackwardSpread::flops).size());
  EXPECT_EQ(layers.back().name, "conv1");
  EXPECT_NEAR(layers.back().ready_s, 0.120, 1e-6);
  for (const sim::LayerGrad& l : layers) EXPECT_LE(l.ready_s, 0.120 + 1e-9) << l.name;
}

TEST(SimulateInputs, ProfileOfAnotherGraphIsAnError) {
  const nn::Graph graph = resnet50();
  sim::BackwardProfile p;
  p.model = "resnet50";
  p.backward_s = 1.0;
  p.events = {{0, 0.5}};  // node 0 is the input: no parameters
  EXPECT_THROW(layers_from_profile(graph, p, 1.0, "x"), InvalidArgument);
  p.events = {{graph.size() - 1, 0.5}};  // fc only: every other layer is missing
  try {
    layers_from_profile(graph, p, 1.0, "x.profile");
    FAIL() << "a profile missing layers was accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("x.profile: no gradient-ready event for node"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace bigbatch::cli
