// Graph builders: extents, torchvision names and roles in the layouts, FLOPs, consumers and
// the "[graph]" errors for malformed networks.
#include "bigbatch/nn/graph.h"

#include <gtest/gtest.h>

#include <string>

#include "bigbatch/core/error.h"
#include "testing/op_params.h"

namespace bigbatch::nn {
namespace {

using testing::conv_params;
using testing::linear_params;
using testing::pool_params;

template <class F>
void expect_graph_error(F&& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected InvalidArgument containing '" << fragment << "'";
  } catch (const InvalidArgument& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("[graph]", 0), 0u) << what;
    EXPECT_NE(what.find(fragment), std::string::npos) << what;
  }
}

TEST(Graph, InfersExtentsAndRegistersTorchvisionNames) {
  Graph g;
  const int x = g.input(3, 32, 32);
  const int c = g.conv2d("conv1", x, conv_params(3, 8, 3, 2, 1, true));
  const int b = g.batch_norm("bn1", c, true, true);
  const int m = g.max_pool(b, pool_params(3, 2, 1));
  const int p = g.global_avg_pool(m);
  const int fc = g.linear("fc", p, linear_params(8, 5));
  g.set_output(fc);

  EXPECT_EQ(g.node(c).c, 8);
  EXPECT_EQ(g.node(c).h, 16);
  EXPECT_EQ(g.node(c).w, 16);
  EXPECT_EQ(g.node(m).h, 8);
  EXPECT_EQ(g.node(p).c, 8);
  EXPECT_EQ(g.node(p).h, 1);
  EXPECT_EQ(g.num_classes(), 5);
  EXPECT_TRUE(g.node(b).fuse_relu);
  EXPECT_TRUE(g.node(b).last_bn_in_block);
  const auto& bn = std::get<ops::BatchNormParams>(g.node(b).params);
  EXPECT_EQ(bn.channels, 8);
  EXPECT_EQ(bn.eps, 1e-5);
  EXPECT_EQ(bn.momentum, 0.1);
  EXPECT_TRUE(bn.fuse_relu);

  const ArenaLayout& params = *g.parameter_layout();
  ASSERT_EQ(params.size(), 6);
  const char* names[] = {"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "fc.weight", "fc.bias"};
  const TensorRole roles[] = {TensorRole::conv_weight, TensorRole::bias,      TensorRole::bn_gamma,
                              TensorRole::bn_beta,     TensorRole::fc_weight, TensorRole::bias};
  const Shape shapes[] = {{8, 3, 3, 3}, {8}, {8}, {8}, {5, 8}, {5}};
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(params.entry(i).name, names[i]);
    EXPECT_EQ(params.entry(i).role, roles[i]) << names[i];
    EXPECT_EQ(params.entry(i).shape, shapes[i]) << names[i];
  }
  EXPECT_EQ(g.node(c).weights, 0);
  EXPECT_EQ(g.node(c).bias, 1);
  EXPECT_EQ(g.node(b).gamma, 2);
  EXPECT_EQ(g.node(b).beta, 3);
  EXPECT_EQ(g.node(fc).weights, 4);

  const ArenaLayout& buffers = *g.buffer_layout();
  ASSERT_EQ(buffers.size(), 3);
  EXPECT_EQ(buffers.entry(0).name, "bn1.running_mean");
  EXPECT_EQ(buffers.entry(1).name, "bn1.running_var");
  EXPECT_EQ(buffers.entry(1).role, TensorRole::bn_running_var);
  EXPECT_EQ(buffers.entry(2).name, "bn1.num_batches_tracked");
  EXPECT_EQ(buffers.entry(2).shape.rank(), 0);
  EXPECT_EQ(buffers.entry(2).shape.numel(), 1);
  EXPECT_EQ(g.node(b).running_mean, 0);
  EXPECT_EQ(g.node(b).num_batches_tracked, 2);
}

TEST(Graph, ForwardFlopsCountConvAndLinearOnly) {
  Graph g;
  const int x = g.input(3, 8, 8);
  const int c = g.conv2d("conv", x, conv_params(3, 4, 3, 1, 1));
  const int b = g.batch_norm("bn", c, true);
  const int p = g.global_avg_pool(b);
  g.set_output(g.linear("fc", p, linear_params(4, 10)));
  EXPECT_EQ(g.forward_flops_per_example(), 2 * (4 * 8 * 8 * 3 * 3 * 3 + 4 * 10));
}

TEST(Graph, ConsumersListsEveryReader) {
  Graph g;
  const int x = g.input(2, 4, 4);
  const int a = g.conv2d("a", x, conv_params(2, 2, 3, 1, 1));
  const int r = g.relu(a);
  const int s = g.add(r, x, true);
  const int t = g.add(s, s, false);
  EXPECT_EQ(g.consumers(x), (std::vector<int>{a, s}));
  EXPECT_EQ(g.consumers(r), (std::vector<int>{s}));
  EXPECT_EQ(g.consumers(s), (std::vector<int>{t}));
  EXPECT_TRUE(g.consumers(t).empty());
  EXPECT_EQ(g.node(t).inputs, (std::vector<int>{s, s}));
}

TEST(Graph, RejectsMalformedNetworks) {
  {
    Graph g;
    expect_graph_error([&] { g.relu(0); }, "does not exist");
    expect_graph_error([&] { g.input(0, 4, 4); }, "positive");
    g.input(3, 4, 4);
    expect_graph_error([&] { g.input(3, 4, 4); }, "first node");
  }
  Graph g;
  const int x = g.input(3, 4, 4);
  expect_graph_error([&] { g.conv2d("c", x, conv_params(4, 8, 3, 1, 1)); }, "in_channels 4");
  expect_graph_error([&] { g.conv2d("c", x, conv_params(3, 8, 7, 1, 0)); }, "conv2d 'c'");
  expect_graph_error([&] { g.conv2d("c", x, conv_params(3, 8, 3, 0, 1)); }, "stride");
  expect_graph_error([&] { g.conv2d("", x, conv_params(3, 8, 3, 1, 1)); }, "name");
  expect_graph_error([&] { g.conv2d("c", 7, conv_params(3, 8, 3, 1, 1)); }, "does not exist");
  const int c = g.conv2d("c", x, conv_params(3, 8, 3, 2, 1));
  expect_graph_error([&] { g.batch_norm("c", c, false); }, "already exists");
  expect_graph_error([&] { g.add(x, c, false); }, "add");
  ops::PoolParams big;
  big.kernel_h = big.kernel_w = 5;
  expect_graph_error([&] { g.max_pool(x, big); }, "max_pool");
  expect_graph_error([&] { g.linear("fc", c, linear_params(3, 2)); }, "in_features 3");
  // A failed builder leaves the layouts as they were.
  EXPECT_EQ(g.parameter_layout()->size(), 1);
  EXPECT_EQ(g.buffer_layout()->size(), 0);
  EXPECT_EQ(g.size(), 2);
}

TEST(Graph, OpKindNames) {
  EXPECT_STREQ(op_kind_name(OpKind::conv2d), "conv2d");
  EXPECT_STREQ(op_kind_name(OpKind::global_avg_pool), "global_avg_pool");
}

}  // namespace
}  // namespace bigbatch::nn
