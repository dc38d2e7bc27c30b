// The fused optimizer pass and LARS's chunk sums over device arenas.
#include <cuda_runtime_api.h>

#include "bigbatch/backend/cuda/arena_ops.h"
#include "bigbatch/backend/cuda/check.h"
#include "bigbatch/backend/cuda/resources.h"
#include "bigbatch/backend/cuda/sgd.h"
#include "bigbatch/core/error.h"

namespace bigbatch::backend::cuda {

namespace {

cudaStream_t stream() { return static_cast<cudaStream_t>(current_stream()); }

__global__ void sgd_kernel(float* w, const float* g, float* u, int64_t n, const SgdSegment* seg, int num_seg,
                           SgdStep p) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int lo = 0, hi = num_seg - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (seg[mid].begin <= i)
        lo = mid;
      else
        hi = mid - 1;
    }
    const float wi = w[i];
    const float d = seg[lo].local * (g[i] + seg[lo].weight_decay * wi);
    if (!p.v_form) {
      const float ui = p.momentum * u[i] + d;
      u[i] = ui;
      w[i] = wi - p.lr * (p.nesterov ? d + p.momentum * ui : ui);
    } else {
      const float step = p.lr * d;
      const float vi = p.momentum * p.correction * u[i] + step;
      u[i] = vi;
      w[i] = wi - (p.nesterov ? p.momentum * vi + step : vi);
    }
  }
}

constexpr int kSumThreads = 256;

// One block per chunk; a fixed tree in shared memory, so the sum does not depend on timing.
__global__ void square_sums_kernel(const float* w, const float* g, const int64_t* bounds, double* out) {
  __shared__ double ws[kSumThreads], gs[kSumThreads];
  const int64_t begin = bounds[2 * blockIdx.x], end = bounds[2 * blockIdx.x + 1];
  double a = 0.0, b = 0.0;
  for (int64_t i = begin + threadIdx.x; i < end; i += kSumThreads) {
    a += static_cast<double>(w[i]) * w[i];
    b += static_cast<double>(g[i]) * g[i];
  }
  ws[threadIdx.x] = a;
  gs[threadIdx.x] = b;
  __syncthreads();
  for (int s = kSumThreads / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) {
      ws[threadIdx.x] += ws[threadIdx.x + s];
      gs[threadIdx.x] += gs[threadIdx.x + s];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    out[2 * blockIdx.x] = ws[0];
    out[2 * blockIdx.x + 1] = gs[0];
  }
}

// A device copy of a host vector, grown as needed and kept for the next call.
template <class T>
T* upload(DeviceBuffer& buffer, const std::vector<T>& host) {
  const size_t bytes = host.size() * sizeof(T);
  if (buffer.bytes() < bytes) buffer = DeviceBuffer(bytes);
  CUDA_CHECK(cudaMemcpyAsync(buffer.get(), host.data(), bytes, cudaMemcpyHostToDevice, stream()));
  return buffer.as<T>();
}

}  // namespace

void sgd_update(float* weights, const float* grads, float* momentum, int64_t count,
                const std::vector<SgdSegment>& segments, const SgdStep& step) {
  if (count == 0) return;
  BIGBATCH_CHECK(!segments.empty() && segments.front().begin == 0 && segments.back().end == count,
                 "[cuda:sgd] the segments do not cover the arena's " << count << " elements");
  static thread_local DeviceBuffer device_segments;
  const SgdSegment* seg = upload(device_segments, segments);
  // The upload reads `segments` asynchronously: wait before the caller may change them.
  sgd_kernel<<<blocks_for(count), 256, 0, stream()>>>(weights, grads, momentum, count, seg,
                                                      static_cast<int>(segments.size()), step);
  check_launch("sgd_update");
  synchronize();
}

void square_sums(const float* weights, const float* grads, const std::vector<int64_t>& chunk_bounds,
                 std::vector<double>& w_sq, std::vector<double>& g_sq) {
  const size_t chunks = chunk_bounds.size() / 2;
  w_sq.assign(chunks, 0.0);
  g_sq.assign(chunks, 0.0);
  if (chunks == 0) return;
  static thread_local DeviceBuffer bounds, sums;
  const int64_t* b = upload(bounds, chunk_bounds);
  if (sums.bytes() < 2 * chunks * sizeof(double)) sums = DeviceBuffer(2 * chunks * sizeof(double));
  square_sums_kernel<<<static_cast<unsigned>(chunks), kSumThreads, 0, stream()>>>(weights, grads, b, sums.as<double>());
  check_launch("square_sums");
  std::vector<double> host(2 * chunks);
  CUDA_CHECK(cudaMemcpyAsync(host.data(), sums.get(), host.size() * sizeof(double), cudaMemcpyDeviceToHost, stream()));
  synchronize();
  for (size_t c = 0; c < chunks; ++c) {
    w_sq[c] = host[2 * c];
    g_sq[c] = host[2 * c + 1];
  }
}

}  // namespace bigbatch::backend::cuda
