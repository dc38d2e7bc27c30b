// The collective operations data-parallel training needs, over a fixed group of ranks.
// Backends: in-process threads (tests, virtual workers), MPI, and NCCL (one rank per GPU).
#pragma once

#include <cstdint>
#include <memory>

namespace bigbatch::comm {

// Element types an allreduce sums: f32 gradients, f64 / int64 metrics (losses, counts).
enum class ReduceType { f32, f64, i64 };

const char* reduce_type_name(ReduceType type);
size_t reduce_type_size(ReduceType type);

// A handle on an asynchronous collective. The buffer it was given must stay alive and
// untouched until wait() returns or test() returns true. Destroying a handle does not cancel
// or wait for the operation.
class Work {
 public:
  virtual ~Work() = default;
  // Blocks until the operation is complete; throws its CommError if it failed.
  virtual void wait() = 0;
  // True when complete (never blocks); throws its CommError if it failed.
  virtual bool test() = 0;
  // Seconds the operation ran once started (queueing excluded); 0 until complete.
  virtual double busy_seconds() const = 0;
};

// One rank's view of a group. Collectives follow MPI's rules: every rank calls the same
// collectives in the same order with the same counts (and root); asynchronous and
// synchronous calls of one rank run in the order they were made. Results are identical on
// every rank. Failures throw CommError "[rank r] ...". On a fatal error, call abort() before
// the communicator is destroyed so that no peer waits forever.
class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // In place: data[i] = sum over ranks of data[i]; count >= 0 elements.
  void allreduce_sum(float* data, int64_t count) { allreduce_sum_any(data, count, ReduceType::f32); }
  void allreduce_sum(double* data, int64_t count) { allreduce_sum_any(data, count, ReduceType::f64); }
  void allreduce_sum(int64_t* data, int64_t count) { allreduce_sum_any(data, count, ReduceType::i64); }
  // The same, started in the background; returns at once (see Work for the buffer's lifetime).
  std::unique_ptr<Work> allreduce_sum_async(float* data, int64_t count) {
    return allreduce_sum_async_any(data, count, ReduceType::f32);
  }

  // Device memory, stream-ordered (GPU training): sums `count` f32 at the device pointer `data`
  // after the work already enqueued on `stream` (a cudaStream_t); returns at once, and the
  // handle's wait() makes `stream` wait for the sum (the host does not block; busy_seconds() is
  // 0). Only device communicators (NCCL) can; the others throw CommError.
  virtual std::unique_ptr<Work> allreduce_sum_on_stream(float* data, int64_t count, void* stream);

  // Copies root's `bytes` bytes at data into every other rank's data.
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  // recv (size() × bytes_per_rank bytes) receives rank k's send block at k × bytes_per_rank.
  // send may be recv + rank() × bytes_per_rank (in place).
  virtual void allgather(const void* send, void* recv, int64_t bytes_per_rank) = 0;
  virtual void barrier() = 0;

  // Tears the whole group down so that no rank hangs: MPI ends every process (MPI_Abort, does
  // not return); in-process marks the group aborted, and every rank's pending and later
  // collectives throw CommError.
  virtual void abort(int code) = 0;

 protected:
  virtual void allreduce_sum_any(void* data, int64_t count, ReduceType type) = 0;
  virtual std::unique_ptr<Work> allreduce_sum_async_any(void* data, int64_t count, ReduceType type) = 0;
};

}  // namespace bigbatch::comm
