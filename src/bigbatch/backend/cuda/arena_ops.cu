// Device arena memory and element-wise passes on the process's compute streams.
#include <cuda_runtime_api.h>

#include <cstring>
#include <mutex>
#include <vector>

#include "bigbatch/backend/cuda/arena_ops.h"
#include "bigbatch/backend/cuda/check.h"
#include "bigbatch/backend/cuda/resources.h"
#include "bigbatch/core/error.h"

namespace bigbatch::backend::cuda {

namespace {

cudaStream_t stream() { return static_cast<cudaStream_t>(current_stream()); }

void free_device(void* p) { (void)cudaFree(p); }
void free_pinned(void* p) { (void)cudaFreeHost(p); }

bool is_host(const void* p) {
  cudaPointerAttributes a{};
  CUDA_CHECK(cudaPointerGetAttributes(&a, p));
  return a.type != cudaMemoryTypeDevice;
}

__global__ void add_kernel(float* dst, const float* src, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] += src[i];
}

__global__ void scale_kernel(float* data, int64_t n, float factor) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    data[i] *= factor;
}

__global__ void nonfinite_kernel(const float* data, int64_t n, int* flag) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    if (!isfinite(data[i])) *flag = 1;
}

}  // namespace

void* compute_stream(int device) {
  static std::mutex mutex;
  static std::vector<StreamOwner> streams;
  std::lock_guard<std::mutex> lock(mutex);
  if (static_cast<size_t>(device) >= streams.size()) streams.resize(static_cast<size_t>(device) + 1);
  StreamOwner& s = streams[static_cast<size_t>(device)];
  if (!s) {
    int previous = 0;
    CUDA_CHECK(cudaGetDevice(&previous));
    CUDA_CHECK(cudaSetDevice(device));
    s = make_stream();
    CUDA_CHECK(cudaSetDevice(previous));
  }
  return s.get();
}

int current_device() {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

std::shared_ptr<Storage> allocate_storage(size_t bytes) {
  void* p = nullptr;
  CUDA_CHECK(cudaMalloc(&p, bytes == 0 ? 1 : bytes));
  std::shared_ptr<Storage> storage = Storage::adopt(p, bytes, Device::cuda, free_device);
  zero_bytes(p, bytes);
  synchronize();
  return storage;
}

std::shared_ptr<Storage> allocate_pinned_host_storage(size_t bytes) {
  PinnedBuffer buffer(bytes == 0 ? 1 : bytes);
  std::memset(buffer.get(), 0, buffer.bytes());
  return Storage::adopt(buffer.release(), bytes, Device::cpu, free_pinned);
}

void copy_bytes(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream()));
  if (is_host(dst) || is_host(src)) synchronize();
}

void copy_bytes_async(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  for (const void* p : {static_cast<const void*>(dst), src}) {
    cudaPointerAttributes a{};
    CUDA_CHECK(cudaPointerGetAttributes(&a, p));
    // Pageable memory would make cudaMemcpyAsync wait on the host, or copy too late.
    BIGBATCH_CHECK(a.type != cudaMemoryTypeUnregistered,
                   "[cuda] copy_bytes_async: host memory at either end must be page-locked");
  }
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream()));
}

void zero_bytes(void* dst, size_t bytes) { CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream())); }

void add_into(float* dst, const float* src, int64_t n) {
  if (n == 0) return;
  add_kernel<<<blocks_for(n), 256, 0, stream()>>>(dst, src, n);
  check_launch("add_into");
}

void scale(float* data, int64_t n, float factor) {
  if (n == 0) return;
  scale_kernel<<<blocks_for(n), 256, 0, stream()>>>(data, n, factor);
  check_launch("scale");
}

bool all_finite(const float* data, int64_t n) {
  static thread_local DeviceBuffer flag;
  if (!flag.get()) flag = DeviceBuffer(sizeof(int));
  CUDA_CHECK(cudaMemsetAsync(flag.get(), 0, sizeof(int), stream()));
  if (n > 0) {
    nonfinite_kernel<<<blocks_for(n), 256, 0, stream()>>>(data, n, flag.as<int>());
    check_launch("all_finite");
  }
  int host = 0;
  CUDA_CHECK(cudaMemcpyAsync(&host, flag.get(), sizeof(int), cudaMemcpyDeviceToHost, stream()));
  synchronize();
  return host == 0;
}

void synchronize() { CUDA_CHECK(cudaStreamSynchronize(stream())); }

struct StreamMark::Impl {
  EventOwner event = make_event();
  int device = current_device();
};

StreamMark::StreamMark() : impl_(std::make_unique<Impl>()) {}

StreamMark::~StreamMark() = default;

void StreamMark::record() {
  CUDA_CHECK(cudaEventRecord(impl_->event.get(), static_cast<cudaStream_t>(compute_stream(impl_->device))));
}

void StreamMark::wait() const { CUDA_CHECK(cudaEventSynchronize(impl_->event.get())); }

}  // namespace bigbatch::backend::cuda
