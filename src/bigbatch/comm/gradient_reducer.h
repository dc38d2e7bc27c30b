// Sums the gradient arena over all ranks in buckets, each bucket's allreduce starting as soon
// as backward has finished its gradients, so communication overlaps the rest of backward. The
// same code drives MPI on host gradients and NCCL on GPU gradients (ReducerOptions::stream).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "bigbatch/comm/bucket_plan.h"
#include "bigbatch/comm/communicator.h"
#include "bigbatch/core/arena.h"

namespace bigbatch::comm {

// How one bucket's gradients are summed over the workers, in place, when it is not the reducer's
// allreduce on its communicator: a parameter server's push and pull (comm/parameter_server.h).
class BucketExchange {
 public:
  virtual ~BucketExchange() = default;
  // Starts summing bucket `index` ([bucket.begin, bucket.end) of the arena at `grads`) over the
  // workers; every worker starts its buckets in index order, each step from 0. `ready`, when
  // set, runs where the exchange runs, before it reads the bucket (a staged copy's wait).
  virtual std::unique_ptr<Work> start(size_t index, float* grads, const Bucket& bucket,
                                      std::function<void()> ready = {}) = 0;
};

struct ReducerOptions {
  int64_t bucket_cap_bytes = int64_t{25} << 20;  // PyTorch DDP's default
  bool overlap = true;                           // false: every allreduce starts in finish(), after backward
  // Gradients on a GPU: every allreduce is stream-ordered on this compute stream (a
  // cudaStream_t; Communicator::allreduce_sum_on_stream, NCCL), and finish() orders the stream
  // after them instead of blocking the host. Null: host memory, host-side waits.
  void* stream = nullptr;
  // Non-null: buckets go through this exchange (parameter servers) instead of an allreduce on
  // the communicator; it must outlive the reducer.
  BucketExchange* exchange = nullptr;
};

// One step's figures, in seconds.
struct ReducerStats {
  int buckets = 0;
  int64_t bytes = 0;            // reduced per rank, padding included
  double backward_s = 0;        // begin_step() (else the first hook) to the start of finish()
  double allreduce_busy_s = 0;  // sum of the buckets' allreduce running times
  double exposed_s = 0;         // time finish() waited: communication backward did not hide
};

// Usage per step: begin_step(); executor.backward(diff, reducer.hook()); reducer.finish();
// then the optimizer. The sum is not scaled: the loss is already divided by the global batch
// (RECIPE §4). `ranges` are the gradient ranges in backward order (nn::Graph::gradient_ranges),
// bucketed by plan_buckets; the grads arena must outlive the reducer. Every rank must build its
// reducer from the same ranges and options, so that buckets start in the same order.
class GradientReducer {
 public:
  GradientReducer(const std::vector<ArenaRange>& ranges, const Arena& grads, Communicator& comm,
                  const ReducerOptions& options = {});
  // Does not wait for allreduces still in flight: after a failure mid-step, call the
  // communicator's abort() (their peers may never join them).
  ~GradientReducer() = default;
  GradientReducer(const GradientReducer&) = delete;  // hook() captures this
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Marks the start of backward, for backward_s. Optional.
  void begin_step();
  // Node `node_id`'s gradients are final. With overlap, starts every bucket that is now
  // complete, in bucket order. Throws InvalidArgument for a node without parameters or one
  // reported twice in a step.
  void on_grads_ready(int node_id);
  // on_grads_ready as a callable: the executor's GradsReadyHook.
  std::function<void(int)> hook() {
    return [this](int id) { on_grads_ready(id); };
  }
  // Starts the buckets not started yet (all of them without overlap; any whose nodes did not
  // report), waits for every allreduce, and readies the next step. Throws CommError. Called
  // with no hook in the step, it reduces the whole arena: the path after accumulating several
  // backwards without communication.
  void finish();

  const std::vector<Bucket>& buckets() const { return buckets_; }
  const ReducerStats& last_stats() const { return stats_; }

 private:
  using Clock = std::chrono::steady_clock;
  void start_ready_buckets();
  void start(size_t bucket);

  Communicator& comm_;
  float* grads_;
  ReducerOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_of_node_;  // node id -> bucket index, -1 without parameters
  // Per step:
  std::vector<int> missing_;                 // per bucket, nodes yet to report
  std::vector<char> reported_;               // per node
  std::vector<std::unique_ptr<Work>> work_;  // per bucket, null until started
  size_t next_start_ = 0;                    // buckets start strictly in index order
  bool timing_ = false;
  Clock::time_point backward_start_;
  ReducerStats stats_;
};

}  // namespace bigbatch::comm
