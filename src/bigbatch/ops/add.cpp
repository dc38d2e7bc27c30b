// Reference element-wise sum (the residual connection); dst may alias a or b.
#include "bigbatch/ops/add.h"

#include "bigbatch/core/error.h"

namespace bigbatch::ops {

namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 16;

}  // namespace

template <class T>
void add_forward(int64_t count, const T* a, const T* b, T* dst) {
  BIGBATCH_CHECK(count >= 0, "[add] expected count >= 0, got " << count);
#pragma omp parallel for simd schedule(static) if (count >= kMinParallelWork)
  for (int64_t i = 0; i < count; ++i) dst[i] = a[i] + b[i];
}

template void add_forward<float>(int64_t, const float*, const float*, float*);
template void add_forward<double>(int64_t, const double*, const double*, double*);

}  // namespace bigbatch::ops
