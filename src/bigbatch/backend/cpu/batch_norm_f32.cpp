// Batch normalisation's f32 loops: one pass of per-example sums in double, a fixed-order sum
// of those over each group's examples, then one element-wise pass (forward: dst; backward:
// diff_src). Why double: oneDNN's kernels sum the N·H·W values of a channel (50k for resnet20's
// first stage at n = 64) in f32; its mean, variance and Σdy·(x − mean) came out ~1e-5 off, and
// where Σdy cancels, as it does, the BN gradients ~1e-4 (issue 16 item 12: up to 2700x PyTorch
// f32's error on a BN bias after two steps; the forward's statistics were most of it). In double
// every product of f32 values is exact and the sums keep f32 precision. The memory traffic is
// oneDNN's (two passes forward, two backward), in vector code for the machine at hand.
#include "bigbatch/backend/cpu/batch_norm_f32.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "bigbatch/core/error.h"

// The per-slab loops are compiled for AVX-512 and AVX2+FMA too and chosen at load time (GCC's
// function multi-versioning): the rest of the build targets baseline x86-64.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define BIGBATCH_ISA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BIGBATCH_ISA_CLONES
#endif

namespace bigbatch::backend::cpu {

namespace {

// The loops over one (example, channel block) slab: `positions` rows of `lanes` adjacent
// channels, rows pos_stride elements apart. L is lanes when known at compile time (the
// blocked layouts), 0 otherwise. They are inlined into the multi-versioned entry points
// below, so they take the entry point's instruction set.

// s1 = Σ x, s2 = Σ x² per lane.
template <int L>
[[gnu::always_inline]] inline void moments_lanes(const float* x, int64_t positions, int64_t pos_stride, int64_t lanes,
                                                 double* s1, double* s2) {
  if constexpr (L > 0) {
    double a1[L] = {}, a2[L] = {};
    for (int64_t s = 0; s < positions; ++s) {
      const float* row = x + s * pos_stride;
#pragma omp simd
      for (int l = 0; l < L; ++l) {
        const double v = row[l];
        a1[l] += v;
        a2[l] += v * v;
      }
    }
    for (int l = 0; l < L; ++l) s1[l] = a1[l], s2[l] = a2[l];
  } else {
    std::fill(s1, s1 + lanes, 0.0);
    std::fill(s2, s2 + lanes, 0.0);
    for (int64_t s = 0; s < positions; ++s) {
      const float* row = x + s * pos_stride;
#pragma omp simd
      for (int64_t l = 0; l < lanes; ++l) {
        const double v = row[l];
        s1[l] += v;
        s2[l] += v * v;
      }
    }
  }
}

// y = (x − mean)·a + β, rounded once (std::fma, so that backward recomputes the very same y for
// the ReLU mask whatever the compiler contracts elsewhere).
[[gnu::always_inline]] inline float normalized(float x, float mean, float a, float beta) {
  return std::fma(x - mean, a, beta);
}

// dy where the fused ReLU passed y, else +0. A bit mask rather than `y > 0 ? dy : 0`, which
// GCC 12 does not vectorise next to the double sums.
template <bool kRelu>
[[gnu::always_inline]] inline float passed(float dy, float x, float mean, float a, float beta) {
  if constexpr (kRelu) {
    const uint32_t keep = 0u - static_cast<uint32_t>(normalized(x, mean, a, beta) > 0.0f);
    return std::bit_cast<float>(std::bit_cast<uint32_t>(dy) & keep);
  }
  return dy;
}

template <int L, bool kRelu>
[[gnu::always_inline]] inline void normalize_lanes(const float* x, float* y, int64_t positions, int64_t pos_stride,
                                                   int64_t lanes, const float* mean, const float* a,
                                                   const float* beta) {
  const int64_t n = L > 0 ? L : lanes;
  for (int64_t s = 0; s < positions; ++s) {
    const float* xr = x + s * pos_stride;
    float* yr = y + s * pos_stride;
#pragma omp simd
    for (int64_t l = 0; l < n; ++l) {
      const float v = normalized(xr[l], mean[l], a[l], beta[l]);
      yr[l] = kRelu ? std::max(v, 0.0f) : v;
    }
  }
}

// d = dy, or 0 where the fused ReLU cut y; s1 = Σ d, s2 = Σ d·(x − mean) per lane.
template <int L, bool kRelu>
[[gnu::always_inline]] inline void diff_sums_lanes(const float* x, const float* dy, int64_t positions,
                                                   int64_t pos_stride, int64_t lanes, const float* mean, const float* a,
                                                   const float* beta, double* s1, double* s2) {
  constexpr int kLocal = L > 0 ? L : 1;
  double a1[kLocal] = {}, a2[kLocal] = {};
  double* acc1 = L > 0 ? a1 : s1;
  double* acc2 = L > 0 ? a2 : s2;
  const int64_t n = L > 0 ? L : lanes;
  if (L == 0) std::fill(s1, s1 + lanes, 0.0), std::fill(s2, s2 + lanes, 0.0);
  for (int64_t s = 0; s < positions; ++s) {
    const float* xr = x + s * pos_stride;
    const float* dr = dy + s * pos_stride;
#pragma omp simd
    for (int64_t l = 0; l < n; ++l) {
      const float d = passed<kRelu>(dr[l], xr[l], mean[l], a[l], beta[l]);
      acc1[l] += d;
      acc2[l] += static_cast<double>(d) * (static_cast<double>(xr[l]) - mean[l]);
    }
  }
  if constexpr (L > 0)
    for (int l = 0; l < L; ++l) s1[l] = a1[l], s2[l] = a2[l];
}

// diff_src = k·(d − mean_d) − (x − mean)·q, d as in diff_sums_lanes.
template <int L, bool kRelu>
[[gnu::always_inline]] inline void diff_src_lanes(const float* x, const float* dy, float* dx, int64_t positions,
                                                  int64_t pos_stride, int64_t lanes, const float* mean, const float* a,
                                                  const float* beta, const float* mean_d, const float* q) {
  const int64_t n = L > 0 ? L : lanes;
  for (int64_t s = 0; s < positions; ++s) {
    const float* xr = x + s * pos_stride;
    const float* dr = dy + s * pos_stride;
    float* out = dx + s * pos_stride;
#pragma omp simd
    for (int64_t l = 0; l < n; ++l) {
      const float d = passed<kRelu>(dr[l], xr[l], mean[l], a[l], beta[l]);
      out[l] = a[l] * (d - mean_d[l]) - (xr[l] - mean[l]) * q[l];
    }
  }
}

// One channel per slab with contiguous positions (nchw): the sums run along the positions.
[[gnu::always_inline]] inline void plain_moments(const float* x, int64_t positions, double* s1, double* s2) {
  double a1 = 0.0, a2 = 0.0;
#pragma omp simd reduction(+ : a1, a2)
  for (int64_t s = 0; s < positions; ++s) {
    const double v = x[s];
    a1 += v;
    a2 += v * v;
  }
  *s1 = a1, *s2 = a2;
}

template <bool kRelu>
[[gnu::always_inline]] inline void plain_diff_sums(const float* x, const float* dy, int64_t positions, float mean,
                                                   float a, float beta, double* s1, double* s2) {
  double a1 = 0.0, a2 = 0.0;
#pragma omp simd reduction(+ : a1, a2)
  for (int64_t s = 0; s < positions; ++s) {
    const float d = passed<kRelu>(dy[s], x[s], mean, a, beta);
    a1 += d;
    a2 += static_cast<double>(d) * (static_cast<double>(x[s]) - mean);
  }
  *s1 = a1, *s2 = a2;
}

// The multi-versioned entry points: one slab each, dispatched on its lanes (and the ReLU).
BIGBATCH_ISA_CLONES void moments_slab(const float* x, int64_t positions, int64_t pos_stride, int64_t lanes, double* s1,
                                      double* s2) {
  if (lanes == 16) return moments_lanes<16>(x, positions, pos_stride, lanes, s1, s2);
  if (lanes == 8) return moments_lanes<8>(x, positions, pos_stride, lanes, s1, s2);
  if (lanes == 1 && pos_stride == 1) return plain_moments(x, positions, s1, s2);
  moments_lanes<0>(x, positions, pos_stride, lanes, s1, s2);
}

template <bool kRelu>
[[gnu::always_inline]] inline void normalize_any(const float* x, float* y, int64_t positions, int64_t pos_stride,
                                                 int64_t lanes, const float* mean, const float* a, const float* beta) {
  if (lanes == 16) return normalize_lanes<16, kRelu>(x, y, positions, pos_stride, lanes, mean, a, beta);
  if (lanes == 8) return normalize_lanes<8, kRelu>(x, y, positions, pos_stride, lanes, mean, a, beta);
  if (lanes == 1 && pos_stride == 1) {
    const float m = *mean, k = *a, b = *beta;
#pragma omp simd
    for (int64_t s = 0; s < positions; ++s) {
      const float v = normalized(x[s], m, k, b);
      y[s] = kRelu ? std::max(v, 0.0f) : v;
    }
    return;
  }
  normalize_lanes<0, kRelu>(x, y, positions, pos_stride, lanes, mean, a, beta);
}

BIGBATCH_ISA_CLONES void normalize_slab(const float* x, float* y, int64_t positions, int64_t pos_stride, int64_t lanes,
                                        const float* mean, const float* a, const float* beta, bool relu) {
  if (relu) return normalize_any<true>(x, y, positions, pos_stride, lanes, mean, a, beta);
  normalize_any<false>(x, y, positions, pos_stride, lanes, mean, a, beta);
}

template <bool kRelu>
[[gnu::always_inline]] inline void diff_sums_any(const float* x, const float* dy, int64_t positions, int64_t pos_stride,
                                                 int64_t lanes, const float* mean, const float* a, const float* beta,
                                                 double* s1, double* s2) {
  if (lanes == 16) return diff_sums_lanes<16, kRelu>(x, dy, positions, pos_stride, lanes, mean, a, beta, s1, s2);
  if (lanes == 8) return diff_sums_lanes<8, kRelu>(x, dy, positions, pos_stride, lanes, mean, a, beta, s1, s2);
  if (lanes == 1 && pos_stride == 1) return plain_diff_sums<kRelu>(x, dy, positions, *mean, *a, *beta, s1, s2);
  diff_sums_lanes<0, kRelu>(x, dy, positions, pos_stride, lanes, mean, a, beta, s1, s2);
}

BIGBATCH_ISA_CLONES void diff_sums_slab(const float* x, const float* dy, int64_t positions, int64_t pos_stride,
                                        int64_t lanes, const float* mean, const float* a, const float* beta, bool relu,
                                        double* s1, double* s2) {
  if (relu) return diff_sums_any<true>(x, dy, positions, pos_stride, lanes, mean, a, beta, s1, s2);
  diff_sums_any<false>(x, dy, positions, pos_stride, lanes, mean, a, beta, s1, s2);
}

template <bool kRelu>
[[gnu::always_inline]] inline void diff_src_any(const float* x, const float* dy, float* dx, int64_t positions,
                                                int64_t pos_stride, int64_t lanes, const float* mean, const float* a,
                                                const float* beta, const float* mean_d, const float* q) {
  if (lanes == 16) return diff_src_lanes<16, kRelu>(x, dy, dx, positions, pos_stride, lanes, mean, a, beta, mean_d, q);
  if (lanes == 8) return diff_src_lanes<8, kRelu>(x, dy, dx, positions, pos_stride, lanes, mean, a, beta, mean_d, q);
  if (lanes == 1 && pos_stride == 1) {
    const float m = *mean, k = *a, b = *beta, md = *mean_d, qq = *q;
#pragma omp simd
    for (int64_t s = 0; s < positions; ++s) {
      const float d = passed<kRelu>(dy[s], x[s], m, k, b);
      dx[s] = k * (d - md) - (x[s] - m) * qq;
    }
    return;
  }
  diff_src_lanes<0, kRelu>(x, dy, dx, positions, pos_stride, lanes, mean, a, beta, mean_d, q);
}

BIGBATCH_ISA_CLONES void diff_src_slab(const float* x, const float* dy, float* dx, int64_t positions,
                                       int64_t pos_stride, int64_t lanes, const float* mean, const float* a,
                                       const float* beta, const float* mean_d, const float* q, bool relu) {
  if (relu) return diff_src_any<true>(x, dy, dx, positions, pos_stride, lanes, mean, a, beta, mean_d, q);
  diff_src_any<false>(x, dy, dx, positions, pos_stride, lanes, mean, a, beta, mean_d, q);
}

// a = γ·invstd rounded once from double; forward and backward both take it from here.
inline float scale_of(float gamma, float invstd) {
  return static_cast<float>(static_cast<double>(gamma) * static_cast<double>(invstd));
}

}  // namespace

std::optional<BnLayout> BnLayout::of(const dnnl::memory::desc& md) {
  const dnnl_memory_desc_t& d = md.data;
  if (d.ndims != 4 || d.data_type != dnnl_f32 || d.format_kind != dnnl_blocked || d.offset0 != 0) return std::nullopt;
  const dnnl_blocking_desc_t& b = d.format_desc.blocking;
  BnLayout l;
  l.n = d.dims[0];
  l.c = d.dims[1];
  l.positions = d.dims[2] * d.dims[3];
  l.n_stride = b.strides[0];
  l.pos_stride = b.strides[3];
  // Positions must be one regular sequence: h's stride is W of w's.
  if (d.dims[2] > 1 && b.strides[2] != d.dims[3] * b.strides[3]) return std::nullopt;
  if (b.inner_nblks == 1 && b.inner_idxs[0] == 1) {  // channel blocks (nChw8c, nChw16c)
    l.lanes = b.inner_blks[0];
    l.blocks = d.padded_dims[1] / l.lanes;
    l.block_stride = b.strides[1];
  } else if (b.inner_nblks == 0 && b.strides[1] == 1 && d.dims[1] > 1) {  // nhwc: all channels side by side
    l.lanes = l.c;
    l.blocks = 1;
  } else if (b.inner_nblks == 0) {  // nchw-like: one channel per block
    l.blocks = l.c;
    l.block_stride = b.strides[1];
  } else {
    return std::nullopt;
  }
  if (l.positions == 1) l.pos_stride = l.lanes;     // one row: its stride is never used
  if (l.pos_stride < l.lanes) return std::nullopt;  // rows of lanes would overlap
  return l;
}

BatchNormF32::BatchNormF32(const BnLayout& layout, int64_t group, double eps, bool fuse_relu)
    : l_(layout), group_(group), eps_(eps), relu_(fuse_relu) {
  BIGBATCH_CHECK(group_ > 0 && l_.n % group_ == 0,
                 "[batch_norm] group of " << group_ << " examples does not divide the batch " << l_.n);
  groups_ = l_.n / group_;
  part_.assign(static_cast<size_t>(2 * l_.n * l_.padded_c() + 2 * l_.padded_c()), 0.0);
  coef_.assign(static_cast<size_t>(5 * groups_ * l_.padded_c()), 0.0f);
  mean_.assign(static_cast<size_t>(groups_ * l_.padded_c()), 0.0);
}

void BatchNormF32::reduce(const float* src, const float* diff_dst) const {
  const int64_t pc = l_.padded_c(), units = l_.n * l_.blocks;
  double* s1 = part_.data();
  double* s2 = s1 + l_.n * pc;
  const float* a = coef_.data();
  const float* m = a + groups_ * pc;
  const float* b = m + groups_ * pc;
#pragma omp parallel for schedule(static)
  for (int64_t u = 0; u < units; ++u) {
    const int64_t n = u / l_.blocks, blk = u % l_.blocks;
    const int64_t off = n * l_.n_stride + blk * l_.block_stride;
    const int64_t at = n * pc + blk * l_.lanes, cat = (n / group_) * pc + blk * l_.lanes;
    if (diff_dst != nullptr)
      diff_sums_slab(src + off, diff_dst + off, l_.positions, l_.pos_stride, l_.lanes, m + cat, a + cat, b + cat, relu_,
                     s1 + at, s2 + at);
    else
      moments_slab(src + off, l_.positions, l_.pos_stride, l_.lanes, s1 + at, s2 + at);
  }
}

void BatchNormF32::forward_training(const float* src, const float* gamma, const float* beta, float* dst, float* mean,
                                    float* var, float* invstd) const {
  const int64_t pc = l_.padded_c(), c_count = l_.c;
  reduce(src, nullptr);
  const double* s1 = part_.data();
  const double* s2 = s1 + l_.n * pc;
  float* a = coef_.data();
  float* m = a + groups_ * pc;
  float* b = m + groups_ * pc;
  const double count = static_cast<double>(group_ * l_.positions);
  for (int64_t g = 0; g < groups_; ++g) {
    for (int64_t c = 0; c < pc; ++c) {
      const int64_t gc = g * pc + c;
      if (c >= c_count) {  // padding: dst 0
        a[gc] = m[gc] = b[gc] = 0.0f;
        mean_[static_cast<size_t>(gc)] = 0.0;
        continue;
      }
      double sum = 0.0, sumsq = 0.0;
      for (int64_t n = g * group_; n < (g + 1) * group_; ++n) sum += s1[n * pc + c], sumsq += s2[n * pc + c];
      const double mu = sum / count;
      const double v = std::max(sumsq / count - mu * mu, 0.0);
      const float inv = static_cast<float>(1.0 / std::sqrt(v + eps_));
      mean_[static_cast<size_t>(gc)] = mu;
      mean[g * c_count + c] = static_cast<float>(mu);
      var[g * c_count + c] = static_cast<float>(v);
      invstd[g * c_count + c] = inv;
      a[gc] = scale_of(gamma[c], inv);
      m[gc] = static_cast<float>(mu);
      b[gc] = beta[c];
    }
  }
  const int64_t units = l_.n * l_.blocks;
#pragma omp parallel for schedule(static)
  for (int64_t u = 0; u < units; ++u) {
    const int64_t n = u / l_.blocks, blk = u % l_.blocks;
    const int64_t off = n * l_.n_stride + blk * l_.block_stride, cat = (n / group_) * pc + blk * l_.lanes;
    normalize_slab(src + off, dst + off, l_.positions, l_.pos_stride, l_.lanes, m + cat, a + cat, b + cat, relu_);
  }
}

void BatchNormF32::backward(const float* src, const float* diff_dst, const float* gamma, const float* beta,
                            const float* mean, const float* invstd, float* diff_src, float* diff_gamma,
                            float* diff_beta) const {
  const int64_t pc = l_.padded_c(), c_count = l_.c;
  float* a = coef_.data();
  float* m = a + groups_ * pc;
  float* b = m + groups_ * pc;
  float* md = b + groups_ * pc;
  float* q = md + groups_ * pc;
  // The forward's coefficients again, from its statistics (so the ReLU mask is the forward's).
  for (int64_t g = 0; g < groups_; ++g)
    for (int64_t c = 0; c < pc; ++c) {
      const int64_t gc = g * pc + c;
      const bool real = c < c_count;
      a[gc] = real ? scale_of(gamma[c], invstd[g * c_count + c]) : 0.0f;
      m[gc] = real ? mean[g * c_count + c] : 0.0f;
      b[gc] = real ? beta[c] : 0.0f;
    }
  reduce(src, diff_dst);
  const double* s1 = part_.data();
  const double* s2 = s1 + l_.n * pc;
  // Per group: mean_d = Σd/count and q = γ·invstd³·Σd(x − mean)/count for diff_src; diff_beta
  // and diff_gamma add the groups' Σd and invstd·Σd(x − mean) in double.
  double* dg = part_.data() + 2 * l_.n * pc;
  double* db = dg + pc;
  std::fill(dg, dg + 2 * pc, 0.0);
  const double count = static_cast<double>(group_ * l_.positions);
  for (int64_t g = 0; g < groups_; ++g)
    for (int64_t c = 0; c < pc; ++c) {
      const int64_t gc = g * pc + c;
      if (c >= c_count) {
        md[gc] = q[gc] = 0.0f;
        continue;
      }
      double sum = 0.0, sum_xm = 0.0;
      for (int64_t n = g * group_; n < (g + 1) * group_; ++n) sum += s1[n * pc + c], sum_xm += s2[n * pc + c];
      // The loop subtracted the f32 mean; Σd(x − μ) = Σd(x − mean_f32) + (mean_f32 − μ)·Σd.
      sum_xm += (static_cast<double>(m[gc]) - mean_[static_cast<size_t>(gc)]) * sum;
      const double inv = invstd[g * c_count + c];
      db[c] += sum;
      dg[c] += sum_xm * inv;
      md[gc] = static_cast<float>(sum / count);
      q[gc] = static_cast<float>(static_cast<double>(gamma[c]) * inv * inv * inv * sum_xm / count);
    }
  for (int64_t c = 0; c < c_count; ++c) {
    diff_gamma[c] = static_cast<float>(dg[c]);
    diff_beta[c] = static_cast<float>(db[c]);
  }
  const int64_t units = l_.n * l_.blocks;
#pragma omp parallel for schedule(static)
  for (int64_t u = 0; u < units; ++u) {
    const int64_t n = u / l_.blocks, blk = u % l_.blocks;
    const int64_t off = n * l_.n_stride + blk * l_.block_stride, cat = (n / group_) * pc + blk * l_.lanes;
    diff_src_slab(src + off, diff_dst + off, diff_src + off, l_.positions, l_.pos_stride, l_.lanes, m + cat, a + cat,
                  b + cat, md + cat, q + cat, relu_);
  }
}

}  // namespace bigbatch::backend::cpu
