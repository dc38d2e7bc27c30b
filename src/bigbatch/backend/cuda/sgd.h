// One fused SGD pass over the device parameter arena (RECIPE §3, u-form, as optim::Sgd):
//   u ← m·u + g + λ·w ;  w ← w − lr·u        (Nesterov: w ← w − lr·(g + λ·w + m·u))
// with λ chosen per segment (runs of tensors sharing a weight decay, covering the arena).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace bigbatch::backend::cuda {

struct SgdSegment {
  int64_t begin = 0, end = 0;  // elements of the arena
  float weight_decay = 0.0f;
};

// segments: a device array of num_segments entries, sorted and covering [0, count).
// skip (device, may be null): when *skip != 0 at run time nothing changes (an fp16 overflow).
void sgd_update(float* weights, const float* grads, float* momentum, int64_t count, const SgdSegment* segments,
                int num_segments, float m, float lr, bool nesterov, const int* skip, cudaStream_t stream);

}  // namespace bigbatch::backend::cuda
