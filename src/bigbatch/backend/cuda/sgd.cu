// The fused update: each thread finds its element's segment by binary search (a ResNet-50
// has a few hundred segments, so eight steps) and does the u-form update in registers.
#include "bigbatch/backend/cuda/sgd.h"

#include "bigbatch/backend/cuda/resources.h"

namespace bigbatch::backend::cuda {

namespace {

__global__ void sgd_kernel(float* w, const float* g, float* u, int64_t n, const SgdSegment* seg, int num_seg, float m,
                           float lr, bool nesterov, const int* skip) {
  if (skip && *skip) return;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int lo = 0, hi = num_seg - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (seg[mid].begin <= i) lo = mid; else hi = mid - 1;
    }
    const float wi = w[i];
    const float d = g[i] + seg[lo].weight_decay * wi;
    const float ui = m * u[i] + d;
    u[i] = ui;
    w[i] = wi - lr * (nesterov ? d + m * ui : ui);
  }
}

}  // namespace

void sgd_update(float* weights, const float* grads, float* momentum, int64_t count, const SgdSegment* segments,
                int num_segments, float m, float lr, bool nesterov, const int* skip, cudaStream_t stream) {
  if (count == 0) return;
  sgd_kernel<<<blocks_for(count), 256, 0, stream>>>(weights, grads, momentum, count, segments, num_segments, m, lr,
                                                     nesterov, skip);
  check_launch("sgd_update");
}

}  // namespace bigbatch::backend::cuda
