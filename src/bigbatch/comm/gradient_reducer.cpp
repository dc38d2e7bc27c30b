// The per-step state machine that starts each bucket's allreduce as its last node reports.
#include "bigbatch/comm/gradient_reducer.h"

#include <algorithm>
#include <exception>

#include "bigbatch/core/error.h"

namespace bigbatch::comm {

GradientReducer::GradientReducer(const std::vector<ArenaRange>& ranges, const Arena& grads, Communicator& comm,
                                 const ReducerOptions& options)
    : comm_(comm),
      grads_(grads.data()),
      options_(options),
      buckets_(plan_buckets(ranges, grads.total_elems(), options.bucket_cap_bytes)) {
  int owners = 0;
  for (const ArenaRange& r : ranges) {
    BIGBATCH_CHECK(r.owner >= 0, "[reducer] a gradient range has no owner node");
    owners = std::max(owners, r.owner + 1);
  }
  bucket_of_node_.assign(static_cast<size_t>(owners), -1);
  for (size_t b = 0; b < buckets_.size(); ++b)
    for (int id : buckets_[b].nodes) bucket_of_node_[static_cast<size_t>(id)] = static_cast<int>(b);
  missing_.resize(buckets_.size());
  work_.resize(buckets_.size());
  reported_.resize(bucket_of_node_.size());
  for (size_t b = 0; b < buckets_.size(); ++b) missing_[b] = static_cast<int>(buckets_[b].nodes.size());
}

void GradientReducer::begin_step() {
  timing_ = true;
  backward_start_ = Clock::now();
}

void GradientReducer::on_grads_ready(int node_id) {
  BIGBATCH_CHECK(node_id >= 0 && node_id < static_cast<int>(bucket_of_node_.size()) &&
                     bucket_of_node_[static_cast<size_t>(node_id)] >= 0,
                 "[reducer] node " << node_id << " has no parameter gradients");
  BIGBATCH_CHECK(!reported_[static_cast<size_t>(node_id)],
                 "[reducer] node " << node_id << " reported twice in one step");
  if (!timing_) begin_step();
  reported_[static_cast<size_t>(node_id)] = 1;
  --missing_[static_cast<size_t>(bucket_of_node_[static_cast<size_t>(node_id)])];
  if (options_.overlap) start_ready_buckets();
}

void GradientReducer::start_ready_buckets() {
  // Strictly in index order, even if a later bucket completes first: MPI needs every rank to
  // issue its collectives in one order, and the index order is the same on every rank.
  while (next_start_ < buckets_.size() && missing_[next_start_] == 0) start(next_start_++);
}

void GradientReducer::start(size_t b) {
  const Bucket& bucket = buckets_[b];
  if (options_.exchange != nullptr) {
    work_[b] = options_.exchange->start(b, grads_, bucket);
    return;
  }
  work_[b] = options_.stream ? comm_.allreduce_sum_on_stream(grads_ + bucket.begin, bucket.elems(), options_.stream)
                             : comm_.allreduce_sum_async(grads_ + bucket.begin, bucket.elems());
}

void GradientReducer::finish() {
  const Clock::time_point enter = Clock::now();
  // Backward is over, so every gradient is final, reported or not.
  while (next_start_ < buckets_.size()) start(next_start_++);
  std::exception_ptr error;
  ReducerStats stats;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    try {
      work_[b]->wait();
      stats.allreduce_busy_s += work_[b]->busy_seconds();
    } catch (...) {
      if (!error) error = std::current_exception();
    }
    work_[b].reset();
    stats.bytes += buckets_[b].elems() * static_cast<int64_t>(sizeof(float));
    missing_[b] = static_cast<int>(buckets_[b].nodes.size());
  }
  const Clock::time_point leave = Clock::now();
  stats.buckets = static_cast<int>(buckets_.size());
  stats.backward_s = timing_ ? std::chrono::duration<double>(enter - backward_start_).count() : 0.0;
  stats.exposed_s = std::chrono::duration<double>(leave - enter).count();
  stats_ = stats;
  std::fill(reported_.begin(), reported_.end(), 0);
  next_start_ = 0;
  timing_ = false;
  if (error) std::rethrow_exception(error);
}

}  // namespace bigbatch::comm
