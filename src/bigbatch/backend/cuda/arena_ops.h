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
// Any direction (host or device at either end). Enqueued on the current compute stream;
// returns once the bytes have landed when either end is host memory.
void copy_bytes(void* dst, const void* src, size_t bytes);
void zero_bytes(void* dst, size_t bytes);
// dst[i] += src[i]; data[i] *= factor (device pointers, enqueued).
void add_into(float* dst, const float* src, int64_t n);
void scale(float* data, int64_t n, float factor);
// Whether every element is finite; waits for the stream.
bool all_finite(const float* data, int64_t n);
// Waits for everything enqueued on the current compute stream.
void synchronize();

}  // namespace bigbatch::backend::cuda
