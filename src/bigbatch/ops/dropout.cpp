// Reference inverted dropout. The mask is never stored: forward and backward both redraw it
// from (key.stream, global element index), which is what lets a batch split anywhere (threads,
// workers, micro-batches, a resumed run, the GPU) draw the same mask.
#include "bigbatch/ops/dropout.h"

#include "bigbatch/core/error.h"
#include "bigbatch/core/rng.h"

namespace bigbatch::ops {

namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 16;

// Separates dropout's streams from the sampler's derive_seed(seed, epoch) and the data streams.
constexpr uint64_t kDropoutStream = 0x64726f706f7574;  // "dropout"

void check_dims(const DropoutKey& key, const Dims4& dims) {
  BIGBATCH_CHECK(dims.n >= 0 && dims.c >= 0 && dims.h >= 0 && dims.w >= 0,
                 "[dropout] expected non-negative extents, got " << dims.to_string());
  BIGBATCH_CHECK(key.first_example >= 0, "[dropout] expected first_example >= 0, got " << key.first_example);
}

// dst[i] = a[i] · keep(i) · scale with keep(i) drawn for element first·per_example + i; p = 0
// copies, so that it is the identity whatever the values (NaN, -0).
template <class T>
void apply_mask(const DropoutParams& p, const DropoutKey& key, const Dims4& dims, const T* a, T* dst) {
  check_dropout_params(p);
  check_dims(key, dims);
  const int64_t count = dims.numel();
  if (p.p == 0.0) {
#pragma omp parallel for simd schedule(static) if (count >= kMinParallelWork)
    for (int64_t i = 0; i < count; ++i) dst[i] = a[i];
    return;
  }
  const uint32_t threshold = dropout_keep_threshold(p.p);
  const T scale = static_cast<T>(dropout_scale(p.p));
  const uint64_t stream = key.stream;
  const uint64_t base = static_cast<uint64_t>(key.first_example) * static_cast<uint64_t>(dims.c * dims.spatial());
#pragma omp parallel for simd schedule(static) if (count >= kMinParallelWork)
  for (int64_t i = 0; i < count; ++i) {
    dst[i] = dropout_keeps(stream, base + static_cast<uint64_t>(i), threshold) ? a[i] * scale : T(0);
  }
}

}  // namespace

uint64_t dropout_stream(uint64_t seed, uint64_t step, uint64_t node) {
  return derive_seed(derive_seed(derive_seed(seed, kDropoutStream), step), node);
}

void check_dropout_params(const DropoutParams& p) {
  // Written so that NaN fails too.
  BIGBATCH_CHECK(p.p >= 0.0 && p.p < 1.0, "[dropout] expected 0 <= p < 1, got p " << p.p);
}

template <class T>
void dropout_forward(const DropoutParams& p, const DropoutKey& key, const Dims4& dims, const T* src, T* dst) {
  apply_mask(p, key, dims, src, dst);
}

// dst = src·keep·scale is linear in src with the mask fixed: its gradient is the same mask
// and scale applied to diff_dst.
template <class T>
void dropout_backward(const DropoutParams& p, const DropoutKey& key, const Dims4& dims, const T* diff_dst,
                      T* diff_src) {
  apply_mask(p, key, dims, diff_dst, diff_src);
}

#define BIGBATCH_INSTANTIATE(T)                                                                          \
  template void dropout_forward<T>(const DropoutParams&, const DropoutKey&, const Dims4&, const T*, T*); \
  template void dropout_backward<T>(const DropoutParams&, const DropoutKey&, const Dims4&, const T*, T*);
BIGBATCH_INSTANTIATE(float)
BIGBATCH_INSTANTIATE(double)
#undef BIGBATCH_INSTANTIATE

}  // namespace bigbatch::ops
