// Reference 2-D convolution: direct loops, sums in double. The oracle for the fast backends,
// so it favours plain, checkable code over speed (but keeps contiguous inner loops).
#include "bigbatch/ops/conv2d.h"

#include <algorithm>
#include <vector>

#include "bigbatch/core/error.h"

namespace bigbatch::ops {

namespace {

// Below this many multiply-adds a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 16;

// Output positions o in [lo, hi) whose input position o·stride - pad + k lies in [0, in):
// the inner loops then run without bounds checks.
struct Range {
  int64_t lo, hi;
};

Range valid_outputs(int64_t out, int64_t in, int64_t stride, int64_t pad, int64_t k) {
  const int64_t lo = pad > k ? (pad - k + stride - 1) / stride : 0;
  const int64_t last = in - 1 + pad - k;  // o·stride <= last
  const int64_t hi = last >= 0 ? std::min(out, last / stride + 1) : 0;
  return {lo, std::max(lo, hi)};
}

template <class T>
void check_pointers(const Conv2dParams& p, const T* bias, const char* bias_name) {
  BIGBATCH_CHECK(!p.bias || bias != nullptr, "[conv2d] params.bias is set but " << bias_name << " is null");
}

}  // namespace

Dims4 conv2d_dst_dims(const Conv2dParams& p, const Dims4& src) {
  BIGBATCH_CHECK(p.in_channels > 0 && p.out_channels > 0,
                 "[conv2d] expected positive channel counts, got in_channels " << p.in_channels << " and out_channels "
                                                                               << p.out_channels);
  BIGBATCH_CHECK(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0 && p.pad_h >= 0 && p.pad_w >= 0,
                 "[conv2d] expected kernel > 0, stride > 0, pad >= 0, got kernel " << p.kernel_h << "x" << p.kernel_w
                                                                                   << ", stride " << p.stride_h << "x"
                                                                                   << p.stride_w << ", pad " << p.pad_h
                                                                                   << "x" << p.pad_w);
  BIGBATCH_CHECK(src.n >= 0 && src.h > 0 && src.w > 0,
                 "[conv2d] expected a non-empty image, got src " << src.to_string());
  BIGBATCH_CHECK(src.c == p.in_channels,
                 "[conv2d] expected src with " << p.in_channels << " channels, got src " << src.to_string());
  const int64_t padded_h = src.h + 2 * p.pad_h, padded_w = src.w + 2 * p.pad_w;
  BIGBATCH_CHECK(padded_h >= p.kernel_h && padded_w >= p.kernel_w,
                 "[conv2d] kernel " << p.kernel_h << "x" << p.kernel_w << " is larger than the padded input "
                                    << padded_h << "x" << padded_w << " (src " << src.to_string() << ")");
  return {src.n, p.out_channels, (padded_h - p.kernel_h) / p.stride_h + 1, (padded_w - p.kernel_w) / p.stride_w + 1};
}

template <class T>
void conv2d_forward(const Conv2dParams& p, const Dims4& src_dims, const T* src, const T* weights, const T* bias,
                    T* dst) {
  const Dims4 dst_dims = conv2d_dst_dims(p, src_dims);
  check_pointers(p, bias, "bias");
  const int64_t N = src_dims.n, C = src_dims.c, H = src_dims.h, W = src_dims.w;
  const int64_t O = dst_dims.c, OH = dst_dims.h, OW = dst_dims.w, KH = p.kernel_h, KW = p.kernel_w;
  const int64_t work = dst_dims.numel() * C * KH * KW;

  // One output plane per iteration: private accumulator, so (n, o) parallelise freely.
#pragma omp parallel for collapse(2) schedule(static) if (work >= kMinParallelWork)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t o = 0; o < O; ++o) {
      std::vector<double> acc(static_cast<size_t>(OH * OW), p.bias ? static_cast<double>(bias[o]) : 0.0);
      for (int64_t c = 0; c < C; ++c) {
        const T* plane = src + (n * C + c) * H * W;
        const T* w = weights + (o * C + c) * KH * KW;
        for (int64_t kh = 0; kh < KH; ++kh) {
          const Range rows = valid_outputs(OH, H, p.stride_h, p.pad_h, kh);
          for (int64_t kw = 0; kw < KW; ++kw) {
            const Range cols = valid_outputs(OW, W, p.stride_w, p.pad_w, kw);
            const int64_t shift = kw - p.pad_w;  // input column = ow·stride + shift
            const double wv = w[kh * KW + kw];
            for (int64_t oh = rows.lo; oh < rows.hi; ++oh) {
              const T* in = plane + (oh * p.stride_h - p.pad_h + kh) * W;
              double* out = acc.data() + oh * OW;
              for (int64_t ow = cols.lo; ow < cols.hi; ++ow) out[ow] += wv * in[ow * p.stride_w + shift];
            }
          }
        }
      }
      T* out = dst + (n * O + o) * OH * OW;
      for (int64_t i = 0; i < OH * OW; ++i) out[i] = static_cast<T>(acc[static_cast<size_t>(i)]);
    }
  }
}

template <class T>
void conv2d_backward_data(const Conv2dParams& p, const Dims4& src_dims, const T* diff_dst, const T* weights,
                          T* diff_src) {
  const Dims4 dst_dims = conv2d_dst_dims(p, src_dims);
  const int64_t N = src_dims.n, C = src_dims.c, H = src_dims.h, W = src_dims.w;
  const int64_t O = dst_dims.c, OH = dst_dims.h, OW = dst_dims.w, KH = p.kernel_h, KW = p.kernel_w;
  const int64_t work = dst_dims.numel() * C * KH * KW;

  // Scatter each diff_dst value back through the kernel into a private diff_src plane.
#pragma omp parallel for collapse(2) schedule(static) if (work >= kMinParallelWork)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) {
      std::vector<double> acc(static_cast<size_t>(H * W), 0.0);
      for (int64_t o = 0; o < O; ++o) {
        const T* grad = diff_dst + (n * O + o) * OH * OW;
        const T* w = weights + (o * C + c) * KH * KW;
        for (int64_t kh = 0; kh < KH; ++kh) {
          const Range rows = valid_outputs(OH, H, p.stride_h, p.pad_h, kh);
          for (int64_t kw = 0; kw < KW; ++kw) {
            const Range cols = valid_outputs(OW, W, p.stride_w, p.pad_w, kw);
            const int64_t shift = kw - p.pad_w;  // input column = ow·stride + shift
            const double wv = w[kh * KW + kw];
            for (int64_t oh = rows.lo; oh < rows.hi; ++oh) {
              double* in = acc.data() + (oh * p.stride_h - p.pad_h + kh) * W;
              const T* g = grad + oh * OW;
              for (int64_t ow = cols.lo; ow < cols.hi; ++ow) in[ow * p.stride_w + shift] += wv * g[ow];
            }
          }
        }
      }
      T* out = diff_src + (n * C + c) * H * W;
      for (int64_t i = 0; i < H * W; ++i) out[i] = static_cast<T>(acc[static_cast<size_t>(i)]);
    }
  }
}

template <class T>
void conv2d_backward_weights(const Conv2dParams& p, const Dims4& src_dims, const T* src, const T* diff_dst,
                             T* diff_weights, T* diff_bias) {
  const Dims4 dst_dims = conv2d_dst_dims(p, src_dims);
  check_pointers(p, diff_bias, "diff_bias");
  const int64_t N = src_dims.n, C = src_dims.c, H = src_dims.h, W = src_dims.w;
  const int64_t O = dst_dims.c, OH = dst_dims.h, OW = dst_dims.w, KH = p.kernel_h, KW = p.kernel_w;
  const int64_t work = dst_dims.numel() * C * KH * KW;

  // Each (o, c) kernel slice is a sum over the batch and the output plane: one thread owns it.
#pragma omp parallel for collapse(2) schedule(static) if (work >= kMinParallelWork)
  for (int64_t o = 0; o < O; ++o) {
    for (int64_t c = 0; c < C; ++c) {
      std::vector<double> acc(static_cast<size_t>(KH * KW), 0.0);
      for (int64_t n = 0; n < N; ++n) {
        const T* plane = src + (n * C + c) * H * W;
        const T* grad = diff_dst + (n * O + o) * OH * OW;
        for (int64_t kh = 0; kh < KH; ++kh) {
          const Range rows = valid_outputs(OH, H, p.stride_h, p.pad_h, kh);
          for (int64_t kw = 0; kw < KW; ++kw) {
            const Range cols = valid_outputs(OW, W, p.stride_w, p.pad_w, kw);
            const int64_t shift = kw - p.pad_w;  // input column = ow·stride + shift
            double sum = 0.0;
            for (int64_t oh = rows.lo; oh < rows.hi; ++oh) {
              const T* in = plane + (oh * p.stride_h - p.pad_h + kh) * W;
              const T* g = grad + oh * OW;
              for (int64_t ow = cols.lo; ow < cols.hi; ++ow) {
                sum += static_cast<double>(g[ow]) * in[ow * p.stride_w + shift];
              }
            }
            acc[static_cast<size_t>(kh * KW + kw)] += sum;
          }
        }
      }
      T* out = diff_weights + (o * C + c) * KH * KW;
      for (int64_t i = 0; i < KH * KW; ++i) out[i] = static_cast<T>(acc[static_cast<size_t>(i)]);
    }
  }

  if (!p.bias) return;
#pragma omp parallel for schedule(static) if (dst_dims.numel() >= kMinParallelWork)
  for (int64_t o = 0; o < O; ++o) {
    double sum = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const T* grad = diff_dst + (n * O + o) * OH * OW;
      for (int64_t i = 0; i < OH * OW; ++i) sum += grad[i];
    }
    diff_bias[o] = static_cast<T>(sum);
  }
}

#define BIGBATCH_INSTANTIATE(T)                                                                                     \
  template void conv2d_forward<T>(const Conv2dParams&, const Dims4&, const T*, const T*, const T*, T*);           \
  template void conv2d_backward_data<T>(const Conv2dParams&, const Dims4&, const T*, const T*, T*);               \
  template void conv2d_backward_weights<T>(const Conv2dParams&, const Dims4&, const T*, const T*, T*, T*);
BIGBATCH_INSTANTIATE(float)
BIGBATCH_INSTANTIATE(double)
#undef BIGBATCH_INSTANTIATE

}  // namespace bigbatch::ops
