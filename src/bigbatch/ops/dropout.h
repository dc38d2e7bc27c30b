// Inverted dropout (torch.nn.Dropout in training): dst = src · keep / (1 − p), keep ~
// Bernoulli(1 − p) per element; at evaluation the identity. The mask is a pure function of a
// stream (seed, step, node) and the element's index in the step's global batch, so a run draws
// the same mask whatever its thread count, worker count or micro-batches, and after --resume.
#pragma once

#include <cstdint>

#include "bigbatch/ops/dims.h"

#if defined(__CUDACC__)
#define BIGBATCH_HOST_DEVICE __host__ __device__
#else
#define BIGBATCH_HOST_DEVICE
#endif

namespace bigbatch::ops {

struct DropoutParams {
  double p = 0.5;  // probability of dropping an element, in [0, 1)
};

// Which mask a forward draws: `stream` names the (seed, step, node); the pass's first example
// is first_example of the step's global batch (its worker's offset plus the micro-batch's).
struct DropoutKey {
  uint64_t stream = 0;
  int64_t first_example = 0;
};

// The stream of node `node` at optimizer step `step` of a run seeded `seed`:
// derive_seed(derive_seed(derive_seed(seed, "dropout"), step), node) (core/rng.h), so that it
// shares nothing with the sampler's or the augmentation's streams of the same seed.
uint64_t dropout_stream(uint64_t seed, uint64_t step, uint64_t node);

// An element is kept when the top 32 bits of its hash are >= this: P(drop) = floor(p·2^32)/2^32.
inline uint32_t dropout_keep_threshold(double p) {
  return static_cast<uint32_t>(p * 4294967296.0 >= 4294967295.0 ? 4294967295.0 : p * 4294967296.0);
}

// What a kept element is multiplied by, rounded once to the element type (CPU and GPU alike).
inline double dropout_scale(double p) { return 1.0 / (1.0 - p); }

// Whether element `index` of `stream` is kept, index being the element's place in the step's
// global batch in logical NCHW order, whatever the layout it is stored in:
// (first_example + n)·C·H·W + (c·H + h)·W + w for example n of the pass.
BIGBATCH_HOST_DEVICE inline bool dropout_keeps(uint64_t stream, uint64_t index, uint32_t threshold) {
  uint64_t z = stream + (index + 1) * 0x9e3779b97f4a7c15ull;  // splitmix64 of the counter
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<uint32_t>(z >> 32) >= threshold;
}

// Throws InvalidArgument "[dropout] ..." unless 0 <= p < 1.
void check_dropout_params(const DropoutParams& p);

// dims: this pass's N×C×H×W (dense NCHW); dropped elements are 0, kept ones src·T(scale); p = 0
// copies src exactly. Element-wise, so dst may be src (and diff_src diff_dst).
template <class T>
void dropout_forward(const DropoutParams& p, const DropoutKey& key, const Dims4& dims, const T* src, T* dst);
// diff_src = diff_dst · keep / (1 − p) with the forward's mask (redrawn from the same key).
template <class T>
void dropout_backward(const DropoutParams& p, const DropoutKey& key, const Dims4& dims, const T* diff_dst, T* diff_src);

}  // namespace bigbatch::ops
