// Reference fully connected layer (dst = src·weightsᵀ + bias) with sums in double; each
// output row or weight row is owned by one thread.
#include "bigbatch/ops/linear.h"

#include <vector>

#include "bigbatch/core/error.h"

namespace bigbatch::ops {

namespace {

// Below this many multiply-adds a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 16;

void check_params(const LinearParams& p, int64_t batch) {
  BIGBATCH_CHECK(p.in_features > 0 && p.out_features > 0,
                 "[linear] expected positive feature counts, got in_features " << p.in_features << " and out_features "
                                                                               << p.out_features);
  BIGBATCH_CHECK(batch >= 0, "[linear] expected batch >= 0, got " << batch);
}

}  // namespace

template <class T>
void linear_forward(const LinearParams& p, int64_t batch, const T* src, const T* weights, const T* bias, T* dst) {
  check_params(p, batch);
  BIGBATCH_CHECK(!p.bias || bias != nullptr, "[linear] params.bias is set but bias is null");
  const int64_t I = p.in_features, O = p.out_features;
#pragma omp parallel for collapse(2) schedule(static) if (batch * I * O >= kMinParallelWork)
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t o = 0; o < O; ++o) {
      const T* x = src + n * I;
      const T* w = weights + o * I;
      double sum = p.bias ? static_cast<double>(bias[o]) : 0.0;
      for (int64_t i = 0; i < I; ++i) sum += static_cast<double>(x[i]) * w[i];
      dst[n * O + o] = static_cast<T>(sum);
    }
  }
}

template <class T>
void linear_backward_data(const LinearParams& p, int64_t batch, const T* diff_dst, const T* weights, T* diff_src) {
  check_params(p, batch);
  const int64_t I = p.in_features, O = p.out_features;
  // diff_src[n] = Σ_o diff_dst[n, o]·weights[o]: row-wise axpy keeps weights' rows contiguous.
#pragma omp parallel for schedule(static) if (batch * I * O >= kMinParallelWork)
  for (int64_t n = 0; n < batch; ++n) {
    std::vector<double> acc(static_cast<size_t>(I), 0.0);
    for (int64_t o = 0; o < O; ++o) {
      const double g = diff_dst[n * O + o];
      const T* w = weights + o * I;
      for (int64_t i = 0; i < I; ++i) acc[static_cast<size_t>(i)] += g * w[i];
    }
    for (int64_t i = 0; i < I; ++i) diff_src[n * I + i] = static_cast<T>(acc[static_cast<size_t>(i)]);
  }
}

template <class T>
void linear_backward_weights(const LinearParams& p, int64_t batch, const T* src, const T* diff_dst, T* diff_weights,
                             T* diff_bias) {
  check_params(p, batch);
  BIGBATCH_CHECK(!p.bias || diff_bias != nullptr, "[linear] params.bias is set but diff_bias is null");
  const int64_t I = p.in_features, O = p.out_features;
  // diff_weights[o] = Σ_n diff_dst[n, o]·src[n]; diff_bias[o] = Σ_n diff_dst[n, o].
#pragma omp parallel for schedule(static) if (batch * I * O >= kMinParallelWork)
  for (int64_t o = 0; o < O; ++o) {
    std::vector<double> acc(static_cast<size_t>(I), 0.0);
    double bias_sum = 0.0;
    for (int64_t n = 0; n < batch; ++n) {
      const double g = diff_dst[n * O + o];
      const T* x = src + n * I;
      for (int64_t i = 0; i < I; ++i) acc[static_cast<size_t>(i)] += g * x[i];
      bias_sum += g;
    }
    for (int64_t i = 0; i < I; ++i) diff_weights[o * I + i] = static_cast<T>(acc[static_cast<size_t>(i)]);
    if (p.bias) diff_bias[o] = static_cast<T>(bias_sum);
  }
}

#define BIGBATCH_INSTANTIATE(T)                                                                      \
  template void linear_forward<T>(const LinearParams&, int64_t, const T*, const T*, const T*, T*); \
  template void linear_backward_data<T>(const LinearParams&, int64_t, const T*, const T*, T*);     \
  template void linear_backward_weights<T>(const LinearParams&, int64_t, const T*, const T*, T*, T*);
BIGBATCH_INSTANTIATE(float)
BIGBATCH_INSTANTIATE(double)
#undef BIGBATCH_INSTANTIATE

}  // namespace bigbatch::ops
