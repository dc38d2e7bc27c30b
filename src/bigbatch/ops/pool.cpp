// Reference max, average and global average pooling (PyTorch floor mode). Every loop runs
// over independent (n, c) planes, which is also how it parallelises.
#include "bigbatch/ops/pool.h"

#include <algorithm>

#include "bigbatch/core/error.h"

namespace bigbatch::ops {

namespace {

// Below this many window reads a parallel region costs more than it saves.
constexpr int64_t kMinParallelWork = int64_t{1} << 15;

// The in-bounds part [h0, h1) × [w0, w1) of output (oh, ow)'s window, and the size of the
// window clipped to the padded input (PyTorch's divisor with count_include_pad).
struct Window {
  int64_t h0, h1, w0, w1;
  int64_t padded_size;
};

Window window_at(const PoolParams& p, const Dims4& src, int64_t oh, int64_t ow) {
  const int64_t hs = oh * p.stride_h - p.pad_h, ws = ow * p.stride_w - p.pad_w;
  const int64_t he = std::min(hs + p.kernel_h, src.h + p.pad_h), we = std::min(ws + p.kernel_w, src.w + p.pad_w);
  return {std::max<int64_t>(hs, 0), std::min(he, src.h), std::max<int64_t>(ws, 0), std::min(we, src.w),
          (he - hs) * (we - ws)};
}

// Offset in the plane of the window's first maximum (row-major scan, strict >), so forward
// and backward agree on ties.
template <class T>
int64_t argmax_in(const Window& win, int64_t W, const T* plane) {
  int64_t best = win.h0 * W + win.w0;
  for (int64_t ih = win.h0; ih < win.h1; ++ih) {
    for (int64_t iw = win.w0; iw < win.w1; ++iw) {
      if (plane[ih * W + iw] > plane[best]) best = ih * W + iw;
    }
  }
  return best;
}

template <class T>
double window_sum(const Window& win, int64_t W, const T* plane) {
  double sum = 0.0;
  for (int64_t ih = win.h0; ih < win.h1; ++ih) {
    for (int64_t iw = win.w0; iw < win.w1; ++iw) sum += plane[ih * W + iw];
  }
  return sum;
}

double window_divisor(const PoolParams& p, const Window& win) {
  return static_cast<double>(p.exclude_padding ? (win.h1 - win.h0) * (win.w1 - win.w0) : win.padded_size);
}

void check_src(const Dims4& src) {
  BIGBATCH_CHECK(src.n >= 0 && src.c >= 0 && src.h > 0 && src.w > 0,
                 "[pool] expected a non-empty image, got src " << src.to_string());
}

}  // namespace

Dims4 pool_dst_dims(const PoolParams& p, const Dims4& src) {
  check_src(src);
  BIGBATCH_CHECK(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0,
                 "[pool] expected kernel > 0 and stride > 0, got kernel " << p.kernel_h << "x" << p.kernel_w
                                                                          << ", stride " << p.stride_h << "x"
                                                                          << p.stride_w);
  // As PyTorch: a window must always overlap the input, so padding is at most half the kernel.
  BIGBATCH_CHECK(p.pad_h >= 0 && p.pad_w >= 0 && p.pad_h <= p.kernel_h / 2 && p.pad_w <= p.kernel_w / 2,
                 "[pool] expected 0 <= pad <= kernel / 2, got pad " << p.pad_h << "x" << p.pad_w << " for kernel "
                                                                    << p.kernel_h << "x" << p.kernel_w);
  const int64_t padded_h = src.h + 2 * p.pad_h, padded_w = src.w + 2 * p.pad_w;
  BIGBATCH_CHECK(padded_h >= p.kernel_h && padded_w >= p.kernel_w,
                 "[pool] kernel " << p.kernel_h << "x" << p.kernel_w << " is larger than the padded input "
                                  << padded_h << "x" << padded_w << " (src " << src.to_string() << ")");
  return {src.n, src.c, (padded_h - p.kernel_h) / p.stride_h + 1, (padded_w - p.kernel_w) / p.stride_w + 1};
}

template <class T>
void max_pool_forward(const PoolParams& p, const Dims4& src_dims, const T* src, T* dst) {
  const Dims4 dst_dims = pool_dst_dims(p, src_dims);
  const int64_t planes = src_dims.n * src_dims.c, OH = dst_dims.h, OW = dst_dims.w;
#pragma omp parallel for schedule(static) if (dst_dims.numel() * p.kernel_h * p.kernel_w >= kMinParallelWork)
  for (int64_t pc = 0; pc < planes; ++pc) {
    const T* plane = src + pc * src_dims.spatial();
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow = 0; ow < OW; ++ow) {
        dst[(pc * OH + oh) * OW + ow] = plane[argmax_in(window_at(p, src_dims, oh, ow), src_dims.w, plane)];
      }
    }
  }
}

template <class T>
void max_pool_backward(const PoolParams& p, const Dims4& src_dims, const T* src, const T* diff_dst, T* diff_src) {
  const Dims4 dst_dims = pool_dst_dims(p, src_dims);
  const int64_t planes = src_dims.n * src_dims.c, HW = src_dims.spatial(), OH = dst_dims.h, OW = dst_dims.w;
  // Overlapping windows (stride < kernel) may share a maximum: accumulate, within one plane.
#pragma omp parallel for schedule(static) if (dst_dims.numel() * p.kernel_h * p.kernel_w >= kMinParallelWork)
  for (int64_t pc = 0; pc < planes; ++pc) {
    const T* plane = src + pc * HW;
    T* grad = diff_src + pc * HW;
    std::fill(grad, grad + HW, T(0));
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow = 0; ow < OW; ++ow) {
        grad[argmax_in(window_at(p, src_dims, oh, ow), src_dims.w, plane)] += diff_dst[(pc * OH + oh) * OW + ow];
      }
    }
  }
}

template <class T>
void avg_pool_forward(const PoolParams& p, const Dims4& src_dims, const T* src, T* dst) {
  const Dims4 dst_dims = pool_dst_dims(p, src_dims);
  const int64_t planes = src_dims.n * src_dims.c, OH = dst_dims.h, OW = dst_dims.w;
#pragma omp parallel for schedule(static) if (dst_dims.numel() * p.kernel_h * p.kernel_w >= kMinParallelWork)
  for (int64_t pc = 0; pc < planes; ++pc) {
    const T* plane = src + pc * src_dims.spatial();
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow = 0; ow < OW; ++ow) {
        const Window win = window_at(p, src_dims, oh, ow);
        dst[(pc * OH + oh) * OW + ow] = static_cast<T>(window_sum(win, src_dims.w, plane) / window_divisor(p, win));
      }
    }
  }
}

template <class T>
void avg_pool_backward(const PoolParams& p, const Dims4& src_dims, const T* diff_dst, T* diff_src) {
  const Dims4 dst_dims = pool_dst_dims(p, src_dims);
  const int64_t planes = src_dims.n * src_dims.c, HW = src_dims.spatial(), W = src_dims.w;
  const int64_t OH = dst_dims.h, OW = dst_dims.w;
#pragma omp parallel for schedule(static) if (dst_dims.numel() * p.kernel_h * p.kernel_w >= kMinParallelWork)
  for (int64_t pc = 0; pc < planes; ++pc) {
    T* grad = diff_src + pc * HW;
    std::fill(grad, grad + HW, T(0));
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow = 0; ow < OW; ++ow) {
        const Window win = window_at(p, src_dims, oh, ow);
        const T share = static_cast<T>(diff_dst[(pc * OH + oh) * OW + ow] / window_divisor(p, win));
        for (int64_t ih = win.h0; ih < win.h1; ++ih) {
          for (int64_t iw = win.w0; iw < win.w1; ++iw) grad[ih * W + iw] += share;
        }
      }
    }
  }
}

template <class T>
void global_avg_pool_forward(const Dims4& src_dims, const T* src, T* dst) {
  check_src(src_dims);
  const int64_t planes = src_dims.n * src_dims.c, HW = src_dims.spatial();
#pragma omp parallel for schedule(static) if (src_dims.numel() >= kMinParallelWork)
  for (int64_t pc = 0; pc < planes; ++pc) {
    const T* plane = src + pc * HW;
    double sum = 0.0;
    for (int64_t i = 0; i < HW; ++i) sum += plane[i];
    dst[pc] = static_cast<T>(sum / static_cast<double>(HW));
  }
}

template <class T>
void global_avg_pool_backward(const Dims4& src_dims, const T* diff_dst, T* diff_src) {
  check_src(src_dims);
  const int64_t planes = src_dims.n * src_dims.c, HW = src_dims.spatial();
#pragma omp parallel for schedule(static) if (src_dims.numel() >= kMinParallelWork)
  for (int64_t pc = 0; pc < planes; ++pc) {
    const T share = static_cast<T>(diff_dst[pc] / static_cast<double>(HW));
    std::fill(diff_src + pc * HW, diff_src + (pc + 1) * HW, share);
  }
}

#define BIGBATCH_INSTANTIATE(T)                                                                    \
  template void max_pool_forward<T>(const PoolParams&, const Dims4&, const T*, T*);               \
  template void max_pool_backward<T>(const PoolParams&, const Dims4&, const T*, const T*, T*);    \
  template void avg_pool_forward<T>(const PoolParams&, const Dims4&, const T*, T*);               \
  template void avg_pool_backward<T>(const PoolParams&, const Dims4&, const T*, T*);              \
  template void global_avg_pool_forward<T>(const Dims4&, const T*, T*);                           \
  template void global_avg_pool_backward<T>(const Dims4&, const T*, T*);
BIGBATCH_INSTANTIATE(float)
BIGBATCH_INSTANTIATE(double)
#undef BIGBATCH_INSTANTIATE

}  // namespace bigbatch::ops
