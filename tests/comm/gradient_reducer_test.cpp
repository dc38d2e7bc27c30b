// Bucket planning on resnet20 and resnet50 (every gradient element, padding included, in
// exactly one bucket), and the order in which the reducer starts buckets as hooks arrive.
#include "bigbatch/comm/gradient_reducer.h"

#include <gtest/gtest.h>

#include "bigbatch/core/error.h"
#include "bigbatch/models/registry.h"

namespace bigbatch::comm {
namespace {

nn::Graph resnet20() { return models::build_model({"resnet20", 3, 32, 32, 10}); }
nn::Graph resnet50() { return models::build_model({"resnet50", 3, 224, 224, 1000}); }

bool has_params(const nn::Node& n) { return n.weights >= 0 || n.gamma >= 0; }

std::vector<int> param_nodes_backward(const nn::Graph& g) {
  std::vector<int> ids;
  for (int id = g.size() - 1; id >= 0; --id)
    if (has_params(g.node(id))) ids.push_back(id);
  return ids;
}

void expect_valid_plan(const nn::Graph& g, int64_t cap) {
  SCOPED_TRACE("cap " + std::to_string(cap));
  const std::vector<Bucket> buckets = plan_buckets(g.gradient_ranges(), g.parameter_layout()->total_elems(), cap);
  const ArenaLayout& layout = *g.parameter_layout();
  ASSERT_FALSE(buckets.empty());
  // Exactly once: every element of [0, total) is counted by one bucket.
  std::vector<int> covered(static_cast<size_t>(layout.total_elems()), 0);
  for (const Bucket& b : buckets)
    for (int64_t i = b.begin; i < b.end; ++i) ++covered[static_cast<size_t>(i)];
  for (size_t i = 0; i < covered.size(); ++i) ASSERT_EQ(covered[i], 1) << "element " << i;
  // Reverse arena order, bucket 0 at the end; nodes in backward order, each node once.
  EXPECT_EQ(buckets.front().end, layout.total_elems());
  EXPECT_EQ(buckets.back().begin, 0);
  std::vector<int> nodes;
  for (size_t k = 0; k < buckets.size(); ++k) {
    const Bucket& b = buckets[k];
    ASSERT_FALSE(b.nodes.empty());
    if (k + 1 < buckets.size()) {
      EXPECT_EQ(buckets[k + 1].end, b.begin);
    }
    if (b.nodes.size() > 1) {
      EXPECT_LE(b.elems() * 4, cap) << "bucket " << k;
    }
    // A bucket closes only when the next node would not fit.
    if (k + 1 < buckets.size()) {
      const Bucket& next = buckets[k + 1];
      int64_t first_of_next = next.end;
      for (int index : {g.node(next.nodes.front()).weights, g.node(next.nodes.front()).gamma})
        if (index >= 0) first_of_next = std::min(first_of_next, layout.entry(index).offset);
      EXPECT_GT((b.end - first_of_next) * 4, cap) << "bucket " << k << " closed early";
    }
    for (int id : b.nodes) {
      nodes.push_back(id);
      const nn::Node& n = g.node(id);
      for (int index : {n.weights, n.bias, n.gamma, n.beta}) {
        if (index < 0) continue;
        const ArenaEntry& e = layout.entry(index);
        EXPECT_GE(e.offset, b.begin) << e.name;
        EXPECT_LE(e.offset + e.shape.numel(), b.end) << e.name;
      }
    }
  }
  EXPECT_EQ(nodes, param_nodes_backward(g));
}

TEST(PlanBuckets, CoverEveryGradientOnceResnet20) {
  const nn::Graph g = resnet20();
  const int64_t total_bytes = g.parameter_layout()->total_elems() * 4;
  for (int64_t cap : {int64_t{1}, int64_t{4096}, int64_t{64} << 10, int64_t{256} << 10, int64_t{25} << 20})
    expect_valid_plan(g, cap);
  EXPECT_EQ(plan_buckets(g.gradient_ranges(), g.parameter_layout()->total_elems(), int64_t{25} << 20).size(), 1u);  // 1.1 MB of gradients
  EXPECT_EQ(plan_buckets(g.gradient_ranges(), g.parameter_layout()->total_elems(), total_bytes).size(), 1u);
  EXPECT_EQ(plan_buckets(g.gradient_ranges(), g.parameter_layout()->total_elems(), total_bytes - 1).size(), 2u);
  EXPECT_EQ(plan_buckets(g.gradient_ranges(), g.parameter_layout()->total_elems(), 1).size(), param_nodes_backward(g).size());  // one node each
}

TEST(PlanBuckets, CoverEveryGradientOnceResnet50) {
  const nn::Graph g = resnet50();
  for (int64_t cap : {int64_t{1}, int64_t{1} << 20, int64_t{25} << 20, int64_t{100} << 20}) expect_valid_plan(g, cap);
  // 25.6 M parameters, about 102 MB: DDP's cap gives a handful of buckets, the last smaller.
  const std::vector<Bucket> b = plan_buckets(g.gradient_ranges(), g.parameter_layout()->total_elems(), int64_t{25} << 20);
  EXPECT_GE(b.size(), 4u);
  EXPECT_LE(b.size(), 6u);
  EXPECT_LE(b.back().elems() * 4, int64_t{25} << 20);
}

TEST(PlanBuckets, CapZeroIsOneBucketPerNodeANegativeCapAnError) {
  const nn::Graph g = resnet20();
  EXPECT_EQ(plan_buckets(g.gradient_ranges(), g.parameter_layout()->total_elems(), 0).size(),
            param_nodes_backward(g).size());
  EXPECT_THROW(plan_buckets(g.gradient_ranges(), g.parameter_layout()->total_elems(), -1), InvalidArgument);
}

// The rule itself: whole items up to the cap, an over-cap item alone, in order.
TEST(GroupIntoBuckets, WholeItemsUpToTheCapAndAnOverCapItemAlone) {
  using Groups = std::vector<std::vector<int>>;
  EXPECT_EQ(group_into_buckets({10, 10, 10, 25, 5, 40, 5}, 30), (Groups{{0, 1, 2}, {3, 4}, {5}, {6}}));
  EXPECT_EQ(group_into_buckets({10, 10, 10}, 100), (Groups{{0, 1, 2}}));
  EXPECT_EQ(group_into_buckets({10, 10, 10}, 0), (Groups{{0}, {1}, {2}}));
  EXPECT_EQ(group_into_buckets({5, 40, 5, 5}, 30), (Groups{{0}, {1}, {2, 3}}));
  EXPECT_TRUE(group_into_buckets({}, 30).empty());
  EXPECT_THROW(group_into_buckets({10}, -1), InvalidArgument);
  EXPECT_THROW(group_into_buckets({-10}, 10), InvalidArgument);
}

// Ranges that do not tile the arena from its end (a layout not in node order) are refused.
TEST(PlanBuckets, RejectsRangesThatDoNotTileTheArena) {
  EXPECT_EQ(plan_buckets({{2, 32, 48}, {1, 16, 32}, {0, 0, 16}}, 48, 128).size(), 2u);
  EXPECT_THROW(plan_buckets({{2, 32, 48}, {1, 0, 32}}, 64, 64), InvalidArgument);             // [48, 64) of no node
  EXPECT_THROW(plan_buckets({{2, 32, 48}, {1, 0, 16}}, 48, 64), InvalidArgument);             // a gap
  EXPECT_THROW(plan_buckets({{1, 16, 32}, {2, 32, 48}, {0, 0, 16}}, 48, 64), InvalidArgument);  // out of order
  EXPECT_THROW(plan_buckets({{1, 16, 48}}, 48, 64), InvalidArgument);                          // [0, 16) of no node
}

// Records when each async allreduce starts, relative to the hooks; completes at once.
class RecordingComm final : public Communicator {
 public:
  struct Call {
    const float* data;
    int64_t count;
    int after_hooks;  // hooks seen when it started
  };
  std::vector<Call> calls;
  int hooks = 0;

  int rank() const override { return 0; }
  int size() const override { return 1; }
  void broadcast(void*, int64_t, int) override {}
  void allgather(const void*, void*, int64_t) override {}
  void barrier() override {}
  void abort(int) override {}

 protected:
  void allreduce_sum_any(void*, int64_t, ReduceType) override {}
  std::unique_ptr<Work> allreduce_sum_async_any(void* data, int64_t count, ReduceType type) override {
    EXPECT_EQ(type, ReduceType::f32);
    calls.push_back({static_cast<const float*>(data), count, hooks});
    return std::make_unique<DoneWork>();
  }

 private:
  struct DoneWork final : Work {
    void wait() override {}
    bool test() override { return true; }
    double busy_seconds() const override { return 0.0; }
  };
};

TEST(GradientReducer, StartsEachBucketWhenItsLastNodeReports) {
  const nn::Graph g = resnet20();
  Arena grads(g.parameter_layout());
  RecordingComm comm;
  GradientReducer reducer(g.gradient_ranges(), grads, comm, {int64_t{64} << 10, true});
  const std::vector<Bucket>& buckets = reducer.buckets();
  ASSERT_GE(buckets.size(), 5u);
  for (int round = 0; round < 2; ++round) {  // the state resets between steps
    comm.calls.clear();
    comm.hooks = 0;
    reducer.begin_step();
    std::function<void(int)> hook = reducer.hook();
    for (int id : param_nodes_backward(g)) {
      ++comm.hooks;
      hook(id);
    }
    ASSERT_EQ(comm.calls.size(), buckets.size());
    int hooks_so_far = 0;
    for (size_t k = 0; k < buckets.size(); ++k) {
      hooks_so_far += static_cast<int>(buckets[k].nodes.size());
      EXPECT_EQ(comm.calls[k].after_hooks, hooks_so_far) << "bucket " << k;
      EXPECT_EQ(comm.calls[k].data, grads.data() + buckets[k].begin);
      EXPECT_EQ(comm.calls[k].count, buckets[k].elems());
    }
    reducer.finish();
    EXPECT_EQ(comm.calls.size(), buckets.size());  // nothing restarted
    EXPECT_EQ(reducer.last_stats().buckets, static_cast<int>(buckets.size()));
    EXPECT_EQ(reducer.last_stats().bytes, grads.total_elems() * 4);
    EXPECT_GE(reducer.last_stats().backward_s, 0.0);
    EXPECT_GE(reducer.last_stats().exposed_s, 0.0);
  }
}

TEST(GradientReducer, StartsBucketsInIndexOrderWhateverTheHookOrder) {
  const nn::Graph g = resnet20();
  Arena grads(g.parameter_layout());
  RecordingComm comm;
  GradientReducer reducer(g.gradient_ranges(), grads, comm, {int64_t{64} << 10, true});
  const std::vector<Bucket>& b = reducer.buckets();
  for (int id : b[1].nodes) reducer.on_grads_ready(id);  // bucket 1 complete first
  EXPECT_TRUE(comm.calls.empty());
  for (int id : b[0].nodes) reducer.on_grads_ready(id);
  ASSERT_EQ(comm.calls.size(), 2u);
  EXPECT_EQ(comm.calls[0].data, grads.data() + b[0].begin);
  EXPECT_EQ(comm.calls[1].data, grads.data() + b[1].begin);
  reducer.finish();  // starts the rest, though their nodes never reported
  ASSERT_EQ(comm.calls.size(), b.size());
  for (size_t k = 0; k < b.size(); ++k) EXPECT_EQ(comm.calls[k].data, grads.data() + b[k].begin);
}

TEST(GradientReducer, WithoutOverlapEverythingStartsInFinish) {
  const nn::Graph g = resnet20();
  Arena grads(g.parameter_layout());
  RecordingComm comm;
  GradientReducer reducer(g.gradient_ranges(), grads, comm, {int64_t{64} << 10, false});
  for (int id : param_nodes_backward(g)) reducer.on_grads_ready(id);
  EXPECT_TRUE(comm.calls.empty());
  reducer.finish();
  ASSERT_EQ(comm.calls.size(), reducer.buckets().size());
  for (size_t k = 0; k < comm.calls.size(); ++k)
    EXPECT_EQ(comm.calls[k].data, grads.data() + reducer.buckets()[k].begin);
}

TEST(GradientReducer, RejectsBadReports) {
  const nn::Graph g = resnet20();
  Arena grads(g.parameter_layout());
  RecordingComm comm;
  GradientReducer reducer(g.gradient_ranges(), grads, comm);
  EXPECT_THROW(reducer.on_grads_ready(0), InvalidArgument);  // the input node
  EXPECT_THROW(reducer.on_grads_ready(g.size()), InvalidArgument);
  const int last = param_nodes_backward(g).front();
  reducer.on_grads_ready(last);
  EXPECT_THROW(reducer.on_grads_ready(last), InvalidArgument);
  reducer.finish();
  reducer.on_grads_ready(last);  // a new step
  reducer.finish();
  const nn::Graph other = models::build_model({"resnet8", 3, 32, 32, 10});
  Arena small(other.parameter_layout());
  EXPECT_THROW(GradientReducer(g.gradient_ranges(), small, comm), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::comm
