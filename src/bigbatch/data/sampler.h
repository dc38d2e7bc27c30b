// The epoch sampler of RECIPE.md §5: one seeded permutation of the training set per epoch,
// cut into global batches of kn and each batch into k contiguous worker slices of n.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace bigbatch::data {

class EpochSampler {
 public:
  // global_batch is kn. shuffle=false gives the identity order every epoch.
  EpochSampler(int64_t dataset_size, int64_t global_batch, uint64_t seed, bool shuffle);

  int64_t dataset_size() const { return dataset_size_; }
  int64_t global_batch() const { return global_batch_; }
  uint64_t seed() const { return seed_; }
  bool shuffle() const { return shuffle_; }
  // floor(N / kn): the last incomplete batch of an epoch is dropped, so every iteration has kn.
  int64_t iterations_per_epoch() const { return dataset_size_ / global_batch_; }

  // The epoch's order: a permutation of [0, N) that depends only on (seed, epoch).
  // The reference is valid until the next call with another epoch.
  const std::vector<int64_t>& permutation(int64_t epoch);

  // Positions [iter·kn, (iter+1)·kn) of the epoch's permutation; out.size() == kn.
  void global_batch_indices(int64_t epoch, int64_t iter, std::span<int64_t> out);
  // Worker `worker` of `workers` (k): the slice [w·n, (w+1)·n) of the global batch, n = kn/k;
  // out.size() == n. k must divide kn.
  void worker_indices(int64_t epoch, int64_t iter, int64_t worker, int64_t workers, std::span<int64_t> out);
  // Workers [first_worker, first_worker + worker_count) together, in worker order: the v·n
  // examples a process with v = worker_count virtual workers trains on.
  void workers_indices(int64_t epoch, int64_t iter, int64_t first_worker, int64_t worker_count, int64_t workers,
                       std::span<int64_t> out);

 private:
  int64_t dataset_size_, global_batch_;
  uint64_t seed_;
  bool shuffle_;
  // The permutation of one epoch, kept because every iteration of the epoch reads it;
  // not thread-safe: give each thread its own sampler (copies are cheap).
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> order_;
};

}  // namespace bigbatch::data
