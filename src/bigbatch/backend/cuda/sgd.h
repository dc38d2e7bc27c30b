// The optimizer's pass over a device parameter arena, for optim::Sgd on arenas that live on the
// GPU: the same update as its CPU loops (RECIPE §3, §9), fused into one kernel, with λ and the
// LARS local rate ℓ chosen per segment; and the per-chunk sums of squares LARS's norms add up.
// Free of CUDA headers; enqueued on the current compute stream (arena_ops.h).
#pragma once

#include <cstdint>
#include <vector>

namespace bigbatch::backend::cuda {

// A run of the arena sharing one weight decay λ and one local rate ℓ (1 without LARS).
struct SgdSegment {
  int64_t begin = 0, end = 0;  // elements of the arena
  float weight_decay = 0.0f;
  float local = 1.0f;
};

struct SgdStep {
  float momentum = 0.9f;
  float lr = 0.0f;
  float correction = 1.0f;  // v-form: η_t / η_{t−1} (1 without the correction)
  bool nesterov = false;
  bool v_form = false;
};

// Per element, d = ℓ·(g + λ·w):
//   u-form:  u ← m·u + d ;         w ← w − lr·u        (Nesterov: w ← w − lr·(d + m·u))
//   v-form:  v ← m·c·v + lr·d ;    w ← w − v           (Nesterov: w ← w − (m·v + lr·d))
// segments (host) are sorted and cover [0, count); they are uploaded with the pass.
void sgd_update(float* weights, const float* grads, float* momentum, int64_t count,
                const std::vector<SgdSegment>& segments, const SgdStep& step);

// For each chunk [begin, end) of the arena: Σw² and Σg² in double, each chunk summed by one
// block in a fixed order (the same bits every run). Waits for the stream.
void square_sums(const float* weights, const float* grads, const std::vector<int64_t>& chunk_bounds,
                 std::vector<double>& w_sq, std::vector<double>& g_sq);

}  // namespace bigbatch::backend::cuda
