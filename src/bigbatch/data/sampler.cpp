// RECIPE.md §5 (Remark 4 of Goyal et al.): one permutation per epoch from a seed that all
// workers share, split into k disjoint parts. The order is defined without reference to k,
// so a run resumed on another number of workers sees the same examples in the same order.
#include "bigbatch/data/sampler.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "bigbatch/core/error.h"
#include "bigbatch/core/rng.h"

namespace bigbatch::data {

EpochSampler::EpochSampler(int64_t dataset_size, int64_t global_batch, uint64_t seed, bool shuffle)
    : dataset_size_(dataset_size), global_batch_(global_batch), seed_(seed), shuffle_(shuffle) {
  BIGBATCH_CHECK(dataset_size >= 0, "[data:sampler] dataset size " << dataset_size << " is negative");
  BIGBATCH_CHECK(global_batch >= 1, "[data:sampler] global batch " << global_batch << " must be at least 1");
  BIGBATCH_CHECK(global_batch <= dataset_size, "[data:sampler] global batch "
                                                   << global_batch << " exceeds the dataset size " << dataset_size
                                                   << ": no iterations");
}

const std::vector<int64_t>& EpochSampler::permutation(int64_t epoch) {
  BIGBATCH_CHECK(epoch >= 0, "[data:sampler] epoch " << epoch << " is negative");
  if (epoch == cached_epoch_) return order_;
  order_.resize(static_cast<size_t>(dataset_size_));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  if (shuffle_) {
    // Fisher–Yates from the back, with an unbiased bounded draw: every permutation equally
    // likely, and the same one on every machine for (seed, epoch).
    Rng rng(derive_seed(seed_, static_cast<uint64_t>(epoch)));
    for (int64_t i = dataset_size_ - 1; i > 0; --i) {
      const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i + 1)));
      std::swap(order_[static_cast<size_t>(i)], order_[static_cast<size_t>(j)]);
    }
  }
  cached_epoch_ = epoch;
  return order_;
}

void EpochSampler::workers_indices(int64_t epoch, int64_t iter, int64_t first_worker, int64_t worker_count,
                                   int64_t workers, std::span<int64_t> out) {
  BIGBATCH_CHECK(workers >= 1 && global_batch_ % workers == 0,
                 "[data:sampler] " << workers << " workers do not divide the global batch " << global_batch_);
  BIGBATCH_CHECK(first_worker >= 0 && worker_count >= 0 && first_worker + worker_count <= workers,
                 "[data:sampler] workers [" << first_worker << ", " << first_worker + worker_count << ") outside [0, "
                                            << workers << ")");
  BIGBATCH_CHECK(iter >= 0 && iter < iterations_per_epoch(),
                 "[data:sampler] iteration " << iter << " outside [0, " << iterations_per_epoch() << ")");
  const int64_t n = global_batch_ / workers;
  BIGBATCH_CHECK(static_cast<int64_t>(out.size()) == worker_count * n,
                 "[data:sampler] output holds " << out.size() << " indices, expected " << worker_count * n);
  const std::vector<int64_t>& order = permutation(epoch);
  // Worker w's part is a contiguous slice of the global batch (not a stride), so the batch
  // of workers [a, b) is itself contiguous and the global order is independent of k.
  const auto begin = order.begin() + iter * global_batch_ + first_worker * n;
  std::copy(begin, begin + worker_count * n, out.begin());
}

void EpochSampler::global_batch_indices(int64_t epoch, int64_t iter, std::span<int64_t> out) {
  workers_indices(epoch, iter, 0, 1, 1, out);
}

void EpochSampler::worker_indices(int64_t epoch, int64_t iter, int64_t worker, int64_t workers,
                                  std::span<int64_t> out) {
  workers_indices(epoch, iter, worker, 1, workers, out);
}

}  // namespace bigbatch::data
