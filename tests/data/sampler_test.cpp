// Epoch sampler (RECIPE.md §5): a permutation per epoch, and one global order for every k.
#include "bigbatch/data/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "bigbatch/core/error.h"

namespace bigbatch::data {
namespace {

TEST(Sampler, OnePermutationPerEpoch) {
  EpochSampler sampler(1000, 100, 42, true);
  std::vector<std::vector<int64_t>> epochs;
  for (int64_t e = 0; e < 3; ++e) {
    std::vector<int64_t> order = sampler.permutation(e);
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> identity(1000);
    std::iota(identity.begin(), identity.end(), int64_t{0});
    EXPECT_EQ(sorted, identity) << "epoch " << e << " is not a permutation";
    EXPECT_NE(order, identity);
    epochs.push_back(order);
  }
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[1], epochs[2]);
  // A function of (seed, epoch) only: a fresh sampler, asked out of order, agrees.
  EpochSampler again(1000, 100, 42, true);
  EXPECT_EQ(again.permutation(2), epochs[2]);
  EXPECT_EQ(again.permutation(0), epochs[0]);
  EpochSampler other_seed(1000, 100, 43, true);
  EXPECT_NE(other_seed.permutation(0), epochs[0]);
}

TEST(Sampler, ShuffleOffIsIdentity) {
  EpochSampler sampler(10, 4, 1, false);
  std::vector<int64_t> batch(4);
  sampler.global_batch_indices(3, 1, batch);
  EXPECT_EQ(batch, (std::vector<int64_t>{4, 5, 6, 7}));
}

TEST(Sampler, DropsLastIncompleteBatch) {
  EXPECT_EQ(EpochSampler(997, 96, 0, true).iterations_per_epoch(), 10);
  EXPECT_EQ(EpochSampler(960, 96, 0, true).iterations_per_epoch(), 10);
  EXPECT_THROW(EpochSampler(95, 96, 0, true), InvalidArgument);
}

TEST(Sampler, GlobalOrderIdenticalForAnyNumberOfWorkers) {
  const int64_t kn = 96;  // divisible by 1, 2, 3 and 8
  EpochSampler reference(997, kn, 7, true);
  for (int64_t epoch : {0, 1}) {
    const std::vector<int64_t> order = reference.permutation(epoch);
    for (int64_t k : {1, 2, 3, 8}) {
      EpochSampler sampler(997, kn, 7, true);
      const int64_t n = kn / k;
      std::vector<int64_t> seen, worker(static_cast<size_t>(n)), global(static_cast<size_t>(kn));
      for (int64_t iter = 0; iter < sampler.iterations_per_epoch(); ++iter) {
        sampler.global_batch_indices(epoch, iter, global);
        for (int64_t w = 0; w < k; ++w) {
          sampler.worker_indices(epoch, iter, w, k, worker);
          // Worker w holds the contiguous slice [w·n, (w+1)·n) of the global batch.
          EXPECT_TRUE(std::equal(worker.begin(), worker.end(), global.begin() + w * n)) << "k " << k << " w " << w;
          seen.insert(seen.end(), worker.begin(), worker.end());
        }
      }
      EXPECT_EQ(seen, std::vector<int64_t>(order.begin(), order.begin() + 10 * kn)) << "k " << k;
    }
  }
}

TEST(Sampler, VirtualWorkersTakeContiguousWorkersInOrder) {
  EpochSampler sampler(200, 24, 3, true);
  std::vector<int64_t> two(12), w1(6), w2(6);
  sampler.workers_indices(1, 2, 1, 2, 4, two);
  sampler.worker_indices(1, 2, 1, 4, w1);
  sampler.worker_indices(1, 2, 2, 4, w2);
  w1.insert(w1.end(), w2.begin(), w2.end());
  EXPECT_EQ(two, w1);
}

TEST(Sampler, RejectsBadWorkerSplits) {
  EpochSampler sampler(100, 10, 0, true);
  std::vector<int64_t> out(3);
  EXPECT_THROW(sampler.worker_indices(0, 0, 0, 3, out), InvalidArgument);  // 3 does not divide 10
  std::vector<int64_t> five(5);
  EXPECT_THROW(sampler.worker_indices(0, 0, 2, 2, five), InvalidArgument);   // worker 2 of 2
  EXPECT_THROW(sampler.worker_indices(0, 10, 0, 2, five), InvalidArgument);  // iteration past the epoch
  EXPECT_THROW(sampler.worker_indices(0, 0, 0, 2, out), InvalidArgument);    // wrong output size
}

}  // namespace
}  // namespace bigbatch::data
