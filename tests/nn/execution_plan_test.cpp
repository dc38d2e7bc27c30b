// ExecutionPlan: what runs backward, who writes and who adds each diff, the resolved batch-norm
// parameters, the liveness timeline, and one "[who]" error per malformed binding or graph.
#include "bigbatch/nn/execution_plan.h"

#include <gtest/gtest.h>

#include <string>

#include "bigbatch/core/error.h"
#include "testing/op_params.h"

namespace bigbatch::nn {
namespace {

using testing::conv_params;
using testing::linear_params;

// x -> conv a -> bn b (+ReLU) -> add(b, x') where x' = conv c of x; then pool and fc.
struct Residual {
  Graph g;
  int x, a, b, c, add, pool, fc;
  Residual() {
    x = g.input(4, 6, 6);
    a = g.conv2d("a", x, conv_params(4, 4, 3, 1, 1, false));
    b = g.batch_norm("b", a, /*fuse_relu=*/true);
    c = g.conv2d("c", x, conv_params(4, 4, 1, 1, 0, false));
    add = g.add(b, c, /*fuse_relu=*/false);
    pool = g.global_avg_pool(add);
    fc = g.linear("fc", pool, linear_params(4, 3));
    g.set_output(fc);
  }
};

struct Arenas {
  Arena params, grads, buffers;
  explicit Arenas(const Graph& g)
      : params(g.parameter_layout()), grads(g.parameter_layout()), buffers(g.buffer_layout()) {}
};

TEST(ExecutionPlan, NeedsGradAndWhoWritesEachDiff) {
  Residual r;
  Arenas arenas(r.g);
  const ExecutionPlan plan({&r.g, &arenas.params, &arenas.grads, &arenas.buffers}, {8, 4, DType::f32}, "test");
  EXPECT_FALSE(plan.needs_grad(r.x));
  for (int id : {r.a, r.b, r.c, r.add, r.pool, r.fc}) EXPECT_TRUE(plan.needs_grad(id)) << id;
  EXPECT_EQ(plan.consumers(r.x), (std::vector<int>{r.a, r.c}));
  // Backward meets c before a, so c writes x's diff and a adds to it; b and c each have one consumer.
  EXPECT_TRUE(plan.writes_input_diff(r.c, 0));
  EXPECT_FALSE(plan.writes_input_diff(r.a, 0));
  EXPECT_TRUE(plan.writes_input_diff(r.add, 0));
  EXPECT_TRUE(plan.writes_input_diff(r.add, 1));
  EXPECT_EQ(plan.batch_norm(r.b).group_size, 4);
  EXPECT_TRUE(plan.batch_norm(r.b).fuse_relu);
  EXPECT_THROW(plan.batch_norm(r.a), InvalidArgument);
  EXPECT_EQ(plan.dims(r.a), (ops::Dims4{8, 4, 6, 6}));
}

TEST(ExecutionPlan, WithoutGradsNothingRunsBackward) {
  Residual r;
  Arenas arenas(r.g);
  const ExecutionPlan plan({&r.g, &arenas.params, nullptr, &arenas.buffers}, {8, 0, DType::f32}, "test");
  for (int id = 0; id < r.g.size(); ++id) EXPECT_FALSE(plan.needs_grad(id)) << id;
  EXPECT_EQ(plan.batch_norm(r.b).group_size, 0);
}

BackwardReads reads_src_of_convs(const Node& n) { return {n.kind == OpKind::conv2d, n.kind == OpKind::relu}; }

TEST(ExecutionPlan, LivenessOnTheForwardBackwardTimeline) {
  Residual r;
  Arenas arenas(r.g);
  const ExecutionPlan plan({&r.g, &arenas.params, &arenas.grads, &arenas.buffers}, {8, 4, DType::f32}, "test");
  const int steps = 2 * r.g.size();
  EXPECT_EQ(plan.backward_step(r.fc), steps - 1 - r.fc);
  // x is read by the backward of both convs (their src): the last is a's, the earlier node.
  EXPECT_EQ(plan.activation_last_step(r.x, reads_src_of_convs), plan.backward_step(r.a));
  // b is read by the add's forward only, under a rule where neither BN nor add reads it later.
  EXPECT_EQ(plan.activation_last_step(r.b, reads_src_of_convs), r.add);
  // x's diff: written by c's backward (its last consumer), read by nothing after x's own step.
  EXPECT_EQ(plan.diff_first_step(r.x), plan.backward_step(r.c));
  EXPECT_EQ(plan.diff_last_step(r.b), plan.backward_step(r.b));
  EXPECT_EQ(plan.diff_first_step(r.fc), r.g.size() - 1);  // the output's diff arrives after forward
}

void expect_plan_error(const ExecutorBindings& bindings, const ExecutorOptions& options, const std::string& fragment) {
  try {
    ExecutionPlan plan(bindings, options, "who");
    ADD_FAILURE() << "expected InvalidArgument containing '" << fragment << "'";
  } catch (const InvalidArgument& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("[who]", 0), 0u) << what;
    EXPECT_NE(what.find(fragment), std::string::npos) << what;
  }
}

TEST(ExecutionPlan, OneErrorPerMalformedBindingOrGraph) {
  Residual r;
  Arenas arenas(r.g);
  const ExecutorOptions ok{8, 4, DType::f32};
  expect_plan_error({nullptr, &arenas.params, nullptr, &arenas.buffers}, ok, "no graph bound");
  expect_plan_error({&r.g, nullptr, nullptr, &arenas.buffers}, ok, "must be bound");
  expect_plan_error({&r.g, &arenas.buffers, nullptr, &arenas.buffers}, ok, "parameter arena is not laid out");
  expect_plan_error({&r.g, &arenas.params, nullptr, &arenas.buffers}, {8, 3, DType::f32}, "not a positive multiple");
  expect_plan_error({&r.g, &arenas.params, nullptr, &arenas.buffers}, {0, 0, DType::f32}, "not a positive multiple");

  Graph dead;  // a conv whose output nobody reads
  const int x = dead.input(1, 4, 4);
  dead.conv2d("unused", x, conv_params(1, 2, 3, 1, 1, false));
  const int fc = dead.linear("fc", dead.global_avg_pool(x), linear_params(1, 2));
  dead.set_output(fc);
  Arenas dead_arenas(dead);
  expect_plan_error({&dead, &dead_arenas.params, nullptr, &dead_arenas.buffers}, ok, "'unused') feeds nothing");

  Graph spatial;  // output 2x4x4, not classes x 1 x 1
  const int y = spatial.input(1, 4, 4);
  spatial.set_output(spatial.conv2d("conv", y, conv_params(1, 2, 3, 1, 1, false)));
  Arenas spatial_arenas(spatial);
  expect_plan_error({&spatial, &spatial_arenas.params, nullptr, &spatial_arenas.buffers}, ok,
                    "expected classes x 1 x 1");

  Graph no_output;
  no_output.input(1, 4, 4);
  Arenas no_output_arenas(no_output);
  expect_plan_error({&no_output, &no_output_arenas.params, nullptr, &no_output_arenas.buffers}, ok,
                    "output node is not set");
}

}  // namespace
}  // namespace bigbatch::nn
