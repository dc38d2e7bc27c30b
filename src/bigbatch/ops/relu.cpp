// Reference ReLU forward and backward; element-wise, so in-place calls (dst == src,
// diff_src == diff_dst) are fine.
#include "bigbatch/ops/relu.h"

#include "bigbatch/core/error.h"

namespace bigbatch::ops {

namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 16;

}  // namespace

template <class T>
void relu_forward(int64_t count, const T* src, T* dst) {
  BIGBATCH_CHECK(count >= 0, "[relu] expected count >= 0, got " << count);
#pragma omp parallel for simd schedule(static) if (count >= kMinParallelWork)
  for (int64_t i = 0; i < count; ++i) dst[i] = src[i] > T(0) ? src[i] : T(0);
}

template <class T>
void relu_backward(int64_t count, const T* dst, const T* diff_dst, T* diff_src) {
  BIGBATCH_CHECK(count >= 0, "[relu] expected count >= 0, got " << count);
#pragma omp parallel for simd schedule(static) if (count >= kMinParallelWork)
  for (int64_t i = 0; i < count; ++i) diff_src[i] = dst[i] > T(0) ? diff_dst[i] : T(0);
}

template void relu_forward<float>(int64_t, const float*, float*);
template void relu_forward<double>(int64_t, const double*, double*);
template void relu_backward<float>(int64_t, const float*, const float*, float*);
template void relu_backward<double>(int64_t, const double*, const double*, double*);

}  // namespace bigbatch::ops
