// Reference channel concatenation. In NCHW an example's channels are contiguous, so input i
// is one block of C_i·H·W values per example, at offset (Σ_{j<i} C_j)·H·W of the example's
// C·H·W values in dst: forward and backward are block copies, parallel over examples.
#include "bigbatch/ops/concat.h"

#include <algorithm>

#include "bigbatch/core/error.h"

namespace bigbatch::ops {

namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 16;

}  // namespace

Dims4 concat_dst_dims(std::span<const Dims4> srcs) {
  BIGBATCH_CHECK(srcs.size() >= 2, "[concat] expected at least 2 inputs, got " << srcs.size());
  Dims4 dst = srcs[0];
  dst.c = 0;
  for (size_t i = 0; i < srcs.size(); ++i) {
    const Dims4& s = srcs[i];
    BIGBATCH_CHECK(s.n >= 0 && s.c > 0 && s.h > 0 && s.w > 0,
                   "[concat] expected a non-empty image with channels, got input " << i << " " << s.to_string());
    BIGBATCH_CHECK(s.n == dst.n && s.h == dst.h && s.w == dst.w,
                   "[concat] expected inputs that agree in N, H and W, got input 0 "
                       << srcs[0].to_string() << " and input " << i << " " << s.to_string());
    dst.c += s.c;
  }
  return dst;
}

template <class T>
void concat_forward(std::span<const Dims4> src_dims, std::span<const T* const> srcs, T* dst) {
  BIGBATCH_CHECK(srcs.size() == src_dims.size(),
                 "[concat] expected one array per input, got " << srcs.size() << " for " << src_dims.size());
  const Dims4 d = concat_dst_dims(src_dims);
  const int64_t HW = d.spatial(), per_example = d.c * HW;
#pragma omp parallel for schedule(static) if (d.numel() >= kMinParallelWork)
  for (int64_t n = 0; n < d.n; ++n) {
    T* out = dst + n * per_example;
    for (size_t i = 0; i < srcs.size(); ++i) {
      const int64_t block = src_dims[i].c * HW;
      out = std::copy_n(srcs[i] + n * block, block, out);
    }
  }
}

template <class T>
void concat_backward(std::span<const Dims4> src_dims, const T* diff_dst, std::span<T* const> diff_srcs) {
  BIGBATCH_CHECK(diff_srcs.size() == src_dims.size(),
                 "[concat] expected one diff_src per input, got " << diff_srcs.size() << " for " << src_dims.size());
  const Dims4 d = concat_dst_dims(src_dims);
  const int64_t HW = d.spatial(), per_example = d.c * HW;
#pragma omp parallel for schedule(static) if (d.numel() >= kMinParallelWork)
  for (int64_t n = 0; n < d.n; ++n) {
    const T* in = diff_dst + n * per_example;
    for (size_t i = 0; i < diff_srcs.size(); ++i) {
      const int64_t block = src_dims[i].c * HW;
      std::copy_n(in, block, diff_srcs[i] + n * block);
      in += block;
    }
  }
}

#define BIGBATCH_INSTANTIATE(T)                                                           \
  template void concat_forward<T>(std::span<const Dims4>, std::span<const T* const>, T*); \
  template void concat_backward<T>(std::span<const Dims4>, const T*, std::span<T* const>);
BIGBATCH_INSTANTIATE(float)
BIGBATCH_INSTANTIATE(double)
#undef BIGBATCH_INSTANTIATE

}  // namespace bigbatch::ops
