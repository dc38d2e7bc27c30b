// The reducer over in-process groups: the reduced arena is the rank-order sum bitwise, with
// and without overlap, for a simulated backward and for the reference executor's backward.
#include <gtest/gtest.h>

#include <cstring>

#include "bigbatch/comm/gradient_reducer.h"
#include "bigbatch/comm/inprocess_comm.h"
#include "bigbatch/core/rng.h"
#include "bigbatch/models/registry.h"
#include "bigbatch/nn/init.h"
#include "bigbatch/nn/reference_executor.h"
#include "comm/rank_threads.h"

namespace bigbatch::comm {
namespace {

using testing::run_ranks;

float grad_value(int rank, int64_t i) { return static_cast<float>(((i * 7919 + rank * 104729) % 2001) - 1000) * 1e-3f; }

// What backward would do: writes each node's gradients, in reverse node order, then reports
// it, so that buckets are reduced while later nodes are still being written.
void simulated_backward(const nn::Graph& g, const Arena& grads, int rank, const nn::GradsReadyHook& hook) {
  for (int id = g.size() - 1; id >= 0; --id) {
    const nn::Node& n = g.node(id);
    if (n.weights < 0 && n.gamma < 0) continue;
    for (int index : {n.weights, n.bias, n.gamma, n.beta}) {
      if (index < 0) continue;
      const int64_t offset = g.parameter_layout()->entry(index).offset;
      float* p = grads.tensor(index).data<float>();
      for (int64_t i = 0; i < grads.tensor(index).numel(); ++i) p[i] = grad_value(rank, offset + i);
    }
    hook(id);
  }
}

std::vector<float> reduce_with(const nn::Graph& g, int size, const ReducerOptions& options, int steps) {
  std::vector<std::vector<float>> results(static_cast<size_t>(size));
  const auto errors = run_ranks(make_inprocess_group(size), [&](Communicator& c) {
    Arena grads(g.parameter_layout());
    GradientReducer reducer(g.gradient_ranges(), grads, c, options);
    for (int step = 0; step < steps; ++step) {
      grads.zero();  // padding included: its sum must stay 0
      reducer.begin_step();
      simulated_backward(g, grads, c.rank(), reducer.hook());
      reducer.finish();
    }
    results[static_cast<size_t>(c.rank())].assign(grads.data(), grads.data() + grads.total_elems());
  });
  EXPECT_TRUE(errors.empty()) << errors.front();
  for (int r = 1; r < size; ++r)
    EXPECT_EQ(0, std::memcmp(results[0].data(), results[static_cast<size_t>(r)].data(), results[0].size() * sizeof(float)))
        << "rank " << r << " differs from rank 0";
  return results[0];
}

TEST(ReducerInProcess, SumsOverRanksWithAndWithoutOverlap) {
  const nn::Graph g = models::build_model({"resnet20", 3, 32, 32, 10});
  const ArenaLayout& layout = *g.parameter_layout();
  for (int size : {1, 2, 3, 5, 8}) {
    SCOPED_TRACE("world size " + std::to_string(size));
    std::vector<float> expected(static_cast<size_t>(layout.total_elems()), 0.0f);
    for (const ArenaEntry& e : layout.entries())
      for (int64_t i = e.offset; i < e.offset + e.shape.numel(); ++i) {
        float s = grad_value(0, i);
        for (int r = 1; r < size; ++r) s += grad_value(r, i);
        expected[static_cast<size_t>(i)] = s;
      }
    const std::vector<float> overlapped = reduce_with(g, size, {int64_t{64} << 10, true}, 2);
    const std::vector<float> serial = reduce_with(g, size, {int64_t{64} << 10, false}, 1);
    const std::vector<float> one_bucket = reduce_with(g, size, {int64_t{25} << 20, true}, 1);
    ASSERT_EQ(overlapped.size(), expected.size());
    EXPECT_EQ(0, std::memcmp(overlapped.data(), expected.data(), expected.size() * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(serial.data(), expected.data(), expected.size() * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(one_bucket.data(), expected.data(), expected.size() * sizeof(float)));
  }
}

// The real hook: two ranks, each with its own batch through the reference executor; the
// reduced gradients equal rank 0's plus rank 1's, computed separately.
TEST(ReducerInProcess, ReferenceExecutorBackwardDrivesTheReducer) {
  const nn::Graph g = models::build_model({"resnet20", 3, 8, 8, 10});
  constexpr int kSize = 2;
  constexpr int64_t kBatch = 2;
  Arena params(g.parameter_layout()), buffers(g.buffer_layout());
  Rng rng(3);
  nn::initialize(g, params, buffers, rng, {.zero_gamma = false});
  auto make_batch = [&](int rank) {
    Tensor src = Tensor::zeros(Shape{kBatch, 3, 8, 8});
    Rng r(static_cast<uint64_t>(50 + rank));
    for (int64_t i = 0; i < src.numel(); ++i) src.data<float>()[i] = static_cast<float>(r.normal());
    Tensor diff = Tensor::zeros(Shape{kBatch, 10});
    for (int64_t i = 0; i < diff.numel(); ++i) diff.data<float>()[i] = static_cast<float>(r.normal()) * 0.1f;
    return std::pair{src, diff};
  };
  // Each rank's own gradients, one after the other (BN buffers per rank, as real workers).
  std::vector<std::vector<float>> alone(kSize);
  for (int rank = 0; rank < kSize; ++rank) {
    Arena grads(g.parameter_layout()), own_buffers(g.buffer_layout());
    own_buffers.copy_from(buffers);
    grads.zero();
    auto exec = nn::make_reference_executor<float>({&g, &params, &grads, &own_buffers}, {kBatch, 0, DType::f32});
    auto [src, diff] = make_batch(rank);
    exec->forward(src, true);
    exec->backward(diff);
    alone[static_cast<size_t>(rank)].assign(grads.data(), grads.data() + grads.total_elems());
  }
  for (bool overlap : {true, false}) {
    std::vector<std::vector<float>> reduced(kSize);
    const auto errors = run_ranks(make_inprocess_group(kSize), [&](Communicator& c) {
      Arena grads(g.parameter_layout()), own_buffers(g.buffer_layout());
      own_buffers.copy_from(buffers);
      grads.zero();
      auto exec = nn::make_reference_executor<float>({&g, &params, &grads, &own_buffers}, {kBatch, 0, DType::f32});
      GradientReducer reducer(g.gradient_ranges(), grads, c, {int64_t{16} << 10, overlap});
      auto [src, diff] = make_batch(c.rank());
      exec->forward(src, true);
      reducer.begin_step();
      exec->backward(diff, reducer.hook());
      reducer.finish();
      reduced[static_cast<size_t>(c.rank())].assign(grads.data(), grads.data() + grads.total_elems());
    });
    ASSERT_TRUE(errors.empty()) << errors.front();
    for (size_t i = 0; i < alone[0].size(); ++i) {
      const float expected = alone[0][i] + alone[1][i];
      ASSERT_EQ(reduced[0][i], expected) << "element " << i << " overlap " << overlap;
      ASSERT_EQ(reduced[1][i], expected) << "element " << i << " overlap " << overlap;
    }
  }
}

}  // namespace
}  // namespace bigbatch::comm
