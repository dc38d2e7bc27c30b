// Device arenas: their memory and the few whole-arena operations a trainer needs, ordered on
// the one compute stream of the process's GPU, so that the executor's kernels, these
// operations, the optimizer and NCCL's waits follow one another without host round trips.
// Free of CUDA headers (streams are void*, a cudaStream_t): a build without CUDA links
// device_stub.cpp, whose functions throw BackendError "[cuda] bigbatch was built without CUDA".
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "bigbatch/core/storage.h"

namespace bigbatch::backend::cuda {

// The compute stream of `device` (one per device for the process; created on first use).
void* compute_stream(int device);
// The device this thread computes on (cudaGetDevice), and its compute stream.
int current_device();
inline void* current_stream() { return compute_stream(current_device()); }

// `bytes` of zero-filled memory on the current device, freed with the Storage.
std::shared_ptr<Storage> allocate_storage(size_t bytes);
// `bytes` of zero-filled page-locked host memory (a Device::cpu Storage), which the stream can
// copy to and from without the host waiting (copy_bytes_async).
std::shared_ptr<Storage> allocate_pinned_host_storage(size_t bytes);
// Any direction (host or device at either end). Enqueued on the current compute stream;
// returns once the bytes have landed when either end is host memory.
void copy_bytes(void* dst, const void* src, size_t bytes);
// Enqueued on the current compute stream and returns at once; host memory at either end must
// be page-locked (allocate_pinned_host_storage: InvalidArgument otherwise) and stay untouched
// until the stream has passed the copy (a StreamMark after it says when).
void copy_bytes_async(void* dst, const void* src, size_t bytes);
void zero_bytes(void* dst, size_t bytes);
// dst[i] += src[i]; data[i] *= factor (device pointers, enqueued).
void add_into(float* dst, const float* src, int64_t n);
void scale(float* data, int64_t n, float factor);
// Whether every element is finite; waits for the stream.
bool all_finite(const float* data, int64_t n);
// Waits for everything enqueued on the current compute stream.
void synchronize();

// A point on the compute stream of the device current at construction, that any host thread
// can wait for (comm ps waits on its communication thread for a bucket's copy to the host).
class StreamMark {
 public:
  StreamMark();  // BackendError in a build without CUDA
  ~StreamMark();
  StreamMark(const StreamMark&) = delete;
  StreamMark& operator=(const StreamMark&) = delete;
  // Marks the stream where it is now (everything enqueued on it so far).
  void record();
  // Blocks the calling thread until the stream has passed the last record().
  void wait() const;

 private:
  struct Impl;  // the event (resources.h's EventOwner) and its device
  std::unique_ptr<Impl> impl_;
};

}  // namespace bigbatch::backend::cuda
