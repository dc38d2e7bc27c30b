// Reference batch normalisation with ghost groups (RECIPE §6) and optional fused ReLU;
// statistics and reductions in double. Matches PyTorch's F.batch_norm per group.
#include "bigbatch/ops/batch_norm.h"

#include <cmath>

#include "bigbatch/core/error.h"

namespace bigbatch::ops {

namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 15;

void check_channels(const BatchNormParams& p, const Dims4& dims) {
  BIGBATCH_CHECK(p.channels > 0 && dims.c == p.channels,
                 "[batch_norm] expected src with " << p.channels << " channels, got " << dims.to_string());
  BIGBATCH_CHECK(dims.n >= 0 && dims.h > 0 && dims.w > 0,
                 "[batch_norm] expected a non-empty image, got src " << dims.to_string());
}

// Training needs two values per (group, channel) for a variance, as PyTorch insists.
int64_t checked_training_groups(const BatchNormParams& p, const Dims4& dims) {
  const int64_t groups = batch_norm_groups(p, dims);
  const int64_t group_n = groups > 0 ? dims.n / groups : 0;
  BIGBATCH_CHECK(groups == 0 || group_n * dims.spatial() > 1,
                 "[batch_norm] training expects more than 1 value per channel and group, got groups of "
                     << group_n << " examples of " << dims.h << "x" << dims.w << " (src " << dims.to_string() << ")");
  return groups;
}

}  // namespace

int64_t batch_norm_groups(const BatchNormParams& p, const Dims4& dims) {
  check_channels(p, dims);
  BIGBATCH_CHECK(p.group_size >= 0, "[batch_norm] expected group_size >= 0, got " << p.group_size);
  if (p.group_size == 0 || dims.n == 0) return dims.n > 0 ? 1 : 0;
  BIGBATCH_CHECK(dims.n % p.group_size == 0,
                 "[batch_norm] expected a batch that is a multiple of group_size " << p.group_size << ", got src "
                                                                                   << dims.to_string());
  return dims.n / p.group_size;
}

template <class T>
void batch_norm_forward_training(const BatchNormParams& p, const Dims4& dims, const T* src, const T* gamma,
                                 const T* beta, T* dst, T* save_mean, T* save_invstd, T* running_mean,
                                 T* running_var) {
  const int64_t groups = checked_training_groups(p, dims);
  if (groups == 0) return;
  const int64_t C = dims.c, HW = dims.spatial(), group_n = dims.n / groups;
  const int64_t count = group_n * HW;  // values per (group, channel)

  // A channel's groups are independent but share the running update: one thread owns a channel.
#pragma omp parallel for schedule(static) if (dims.numel() >= kMinParallelWork)
  for (int64_t c = 0; c < C; ++c) {
    double mean_sum = 0.0, var_sum = 0.0;  // over groups, for the running statistics
    for (int64_t g = 0; g < groups; ++g) {
      // Two passes (mean, then squared deviations) avoid E[x²] - E[x]² cancellation.
      double sum = 0.0;
      for (int64_t n = g * group_n; n < (g + 1) * group_n; ++n) {
        const T* x = src + (n * C + c) * HW;
        for (int64_t i = 0; i < HW; ++i) sum += x[i];
      }
      const double mean = sum / static_cast<double>(count);
      double sq = 0.0;
      for (int64_t n = g * group_n; n < (g + 1) * group_n; ++n) {
        const T* x = src + (n * C + c) * HW;
        for (int64_t i = 0; i < HW; ++i) sq += (x[i] - mean) * (x[i] - mean);
      }
      const double var = sq / static_cast<double>(count);
      const double invstd = 1.0 / std::sqrt(var + p.eps);
      save_mean[g * C + c] = static_cast<T>(mean);
      save_invstd[g * C + c] = static_cast<T>(invstd);
      mean_sum += mean;
      var_sum += sq / static_cast<double>(count - 1);  // unbiased, as PyTorch's running_var

      const double scale = gamma[c] * invstd, shift = beta[c] - mean * scale;
      for (int64_t n = g * group_n; n < (g + 1) * group_n; ++n) {
        const T* x = src + (n * C + c) * HW;
        T* y = dst + (n * C + c) * HW;
        for (int64_t i = 0; i < HW; ++i) {
          const double v = x[i] * scale + shift;
          y[i] = static_cast<T>(p.fuse_relu && v < 0.0 ? 0.0 : v);
        }
      }
    }
    // The average of v workers' running statistics (RECIPE §6), so ghost BN with v groups
    // keeps the same running stats as v separate workers would on average.
    if (running_mean != nullptr) {
      running_mean[c] = static_cast<T>((1.0 - p.momentum) * running_mean[c] + p.momentum * mean_sum / groups);
    }
    if (running_var != nullptr) {
      running_var[c] = static_cast<T>((1.0 - p.momentum) * running_var[c] + p.momentum * var_sum / groups);
    }
  }
}

template <class T>
void batch_norm_forward_inference(const BatchNormParams& p, const Dims4& dims, const T* src, const T* gamma,
                                  const T* beta, const T* running_mean, const T* running_var, T* dst) {
  check_channels(p, dims);
  const int64_t N = dims.n, C = dims.c, HW = dims.spatial();
#pragma omp parallel for collapse(2) schedule(static) if (dims.numel() >= kMinParallelWork)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      const double scale = gamma[c] / std::sqrt(static_cast<double>(running_var[c]) + p.eps);
      const double shift = beta[c] - running_mean[c] * scale;
      const T* x = src + (n * C + c) * HW;
      T* y = dst + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) {
        const double v = x[i] * scale + shift;
        y[i] = static_cast<T>(p.fuse_relu && v < 0.0 ? 0.0 : v);
      }
    }
  }
}

template <class T>
void batch_norm_backward(const BatchNormParams& p, const Dims4& dims, const T* src, const T* dst,
                         const T* diff_dst, const T* gamma, const T* save_mean, const T* save_invstd, T* diff_src,
                         T* diff_gamma, T* diff_beta) {
  const int64_t groups = checked_training_groups(p, dims);
  const int64_t C = dims.c, HW = dims.spatial();
  const int64_t group_n = groups > 0 ? dims.n / groups : 0;
  const double count = static_cast<double>(group_n * HW);
  // With the fused ReLU, the gradient reaching the BN output is diff_dst where dst > 0.
  auto grad_at = [&](int64_t offset) -> double {
    return p.fuse_relu && !(dst[offset] > T(0)) ? 0.0 : static_cast<double>(diff_dst[offset]);
  };

#pragma omp parallel for schedule(static) if (dims.numel() >= kMinParallelWork)
  for (int64_t c = 0; c < C; ++c) {
    double gamma_sum = 0.0, beta_sum = 0.0;
    for (int64_t g = 0; g < groups; ++g) {
      const double mean = save_mean[g * C + c], invstd = save_invstd[g * C + c];
      // dbeta_g = Σ dy, dgamma_g = Σ dy·x̂ over the group; then
      // dx = γ·invstd/m · (m·dy - dbeta_g - x̂·dgamma_g), the standard BN backward per group.
      double sum_dy = 0.0, sum_dy_xhat = 0.0;
      for (int64_t n = g * group_n; n < (g + 1) * group_n; ++n) {
        const int64_t base = (n * C + c) * HW;
        for (int64_t i = 0; i < HW; ++i) {
          const double dy = grad_at(base + i);
          sum_dy += dy;
          sum_dy_xhat += dy * (src[base + i] - mean) * invstd;
        }
      }
      const double k = gamma[c] * invstd / count;
      for (int64_t n = g * group_n; n < (g + 1) * group_n; ++n) {
        const int64_t base = (n * C + c) * HW;
        for (int64_t i = 0; i < HW; ++i) {
          const double xhat = (src[base + i] - mean) * invstd;
          diff_src[base + i] = static_cast<T>(k * (count * grad_at(base + i) - sum_dy - xhat * sum_dy_xhat));
        }
      }
      gamma_sum += sum_dy_xhat;
      beta_sum += sum_dy;
    }
    diff_gamma[c] = static_cast<T>(gamma_sum);
    diff_beta[c] = static_cast<T>(beta_sum);
  }
}

#define BIGBATCH_INSTANTIATE(T)                                                                                \
  template void batch_norm_forward_training<T>(const BatchNormParams&, const Dims4&, const T*, const T*,       \
                                               const T*, T*, T*, T*, T*, T*);                                 \
  template void batch_norm_forward_inference<T>(const BatchNormParams&, const Dims4&, const T*, const T*,      \
                                                const T*, const T*, const T*, T*);                            \
  template void batch_norm_backward<T>(const BatchNormParams&, const Dims4&, const T*, const T*, const T*,     \
                                       const T*, const T*, const T*, T*, T*, T*);
BIGBATCH_INSTANTIATE(float)
BIGBATCH_INSTANTIATE(double)
#undef BIGBATCH_INSTANTIATE

}  // namespace bigbatch::ops
