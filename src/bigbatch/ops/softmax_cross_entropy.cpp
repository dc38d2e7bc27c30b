// Reference softmax cross-entropy: log-sum-exp shifted by the row maximum, in double; the
// loss is the batch sum over the caller's divisor (RECIPE §4).
#include "bigbatch/ops/softmax_cross_entropy.h"

#include <cmath>
#include <vector>

#include "bigbatch/core/error.h"

namespace bigbatch::ops {

namespace {

// Below this many logits a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 15;

// Checked before any loop: exceptions must not escape an OpenMP region.
void check_args(int64_t batch, int64_t classes, const int32_t* labels, double divisor) {
  BIGBATCH_CHECK(batch >= 0 && classes > 0,
                 "[softmax_cross_entropy] expected batch >= 0 and classes > 0, got batch " << batch << ", classes "
                                                                                          << classes);
  BIGBATCH_CHECK(divisor > 0.0, "[softmax_cross_entropy] expected divisor > 0, got " << divisor);
  for (int64_t n = 0; n < batch; ++n) {
    BIGBATCH_CHECK(labels[n] >= 0 && labels[n] < classes, "[softmax_cross_entropy] expected labels in [0, "
                                                              << classes << "), got " << labels[n] << " at row " << n);
  }
}

// max and log Σ exp(x - max) of one row: softmax(x)_k = exp(x_k - max - log_sum).
template <class T>
void row_log_sum_exp(int64_t classes, const T* x, double& max, double& log_sum) {
  max = x[0];
  for (int64_t k = 1; k < classes; ++k) max = x[k] > max ? static_cast<double>(x[k]) : max;
  double sum = 0.0;
  for (int64_t k = 0; k < classes; ++k) sum += std::exp(x[k] - max);
  log_sum = std::log(sum);
}

}  // namespace

template <class T>
double softmax_cross_entropy_forward(int64_t batch, int64_t classes, const T* logits, const int32_t* labels,
                                     double divisor) {
  check_args(batch, classes, labels, divisor);
  // Per-row losses summed serially: the result does not depend on the thread count.
  std::vector<double> row_loss(static_cast<size_t>(batch));
#pragma omp parallel for schedule(static) if (batch * classes >= kMinParallelWork)
  for (int64_t n = 0; n < batch; ++n) {
    const T* x = logits + n * classes;
    double max = 0.0, log_sum = 0.0;
    row_log_sum_exp(classes, x, max, log_sum);
    row_loss[static_cast<size_t>(n)] = max + log_sum - x[labels[n]];
  }
  double total = 0.0;
  for (double loss : row_loss) total += loss;
  return total / divisor;
}

template <class T>
void softmax_cross_entropy_backward(int64_t batch, int64_t classes, const T* logits, const int32_t* labels,
                                    double divisor, T* diff_logits) {
  check_args(batch, classes, labels, divisor);
#pragma omp parallel for schedule(static) if (batch * classes >= kMinParallelWork)
  for (int64_t n = 0; n < batch; ++n) {
    const T* x = logits + n * classes;
    T* dx = diff_logits + n * classes;
    double max = 0.0, log_sum = 0.0;
    row_log_sum_exp(classes, x, max, log_sum);
    for (int64_t k = 0; k < classes; ++k) {
      const double prob = std::exp(x[k] - max - log_sum);
      dx[k] = static_cast<T>((prob - (k == labels[n] ? 1.0 : 0.0)) / divisor);
    }
  }
}

#define BIGBATCH_INSTANTIATE(T)                                                                               \
  template double softmax_cross_entropy_forward<T>(int64_t, int64_t, const T*, const int32_t*, double);      \
  template void softmax_cross_entropy_backward<T>(int64_t, int64_t, const T*, const int32_t*, double, T*);
BIGBATCH_INSTANTIATE(float)
BIGBATCH_INSTANTIATE(double)
#undef BIGBATCH_INSTANTIATE

}  // namespace bigbatch::ops
