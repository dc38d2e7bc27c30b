// Grid-stride element-wise kernels, each templated on the element type and dispatched by DType.
#include "bigbatch/backend/cuda/eltwise.h"

#include "bigbatch/backend/cuda/check.h"
#include "bigbatch/backend/cuda/kernel_util.cuh"

namespace bigbatch::backend::cuda {

namespace {

using namespace kernels;

#define BIGBATCH_GRID_LOOP(i, n)                                                        \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <class T>
__global__ void relu_fwd(int64_t n, const T* src, T* dst) {
  BIGBATCH_GRID_LOOP(i, n) dst[i] = from_f32<T>(fmaxf(to_f32(src[i]), 0.0f));
}

template <class T>
__global__ void relu_bwd(int64_t n, const T* dst, const T* dd, T* ds, bool acc) {
  BIGBATCH_GRID_LOOP(i, n) {
    float v = to_f32(dst[i]) > 0.0f ? to_f32(dd[i]) : 0.0f;
    if (acc) v += to_f32(ds[i]);
    ds[i] = from_f32<T>(v);
  }
}

template <class T>
__global__ void add_fwd(int64_t n, const T* a, const T* b, T* dst, bool relu) {
  BIGBATCH_GRID_LOOP(i, n) {
    const float v = to_f32(a[i]) + to_f32(b[i]);
    dst[i] = from_f32<T>(relu ? fmaxf(v, 0.0f) : v);
  }
}

template <class T>
__global__ void copy_or_add(int64_t n, const T* src, T* dst, bool acc) {
  BIGBATCH_GRID_LOOP(i, n) dst[i] = acc ? from_f32<T>(to_f32(dst[i]) + to_f32(src[i])) : src[i];
}

template <class T>
__global__ void add_2d_kernel(int64_t rows, int64_t cols, const T* src, int64_t src_pitch, T* dst, int64_t dst_pitch) {
  BIGBATCH_GRID_LOOP(i, rows * cols) {
    const int64_t r = i / cols, j = i % cols;
    T& out = dst[r * dst_pitch + j];
    out = from_f32<T>(to_f32(out) + to_f32(src[r * src_pitch + j]));
  }
}

// Thread per (n, c); the NHWC variant reads consecutive channels across threads.
template <class T>
__global__ void gap_fwd(int64_t N, int64_t C, int64_t HW, bool nhwc, const T* src, T* dst) {
  BIGBATCH_GRID_LOOP(k, N * C) {
    const int64_t n = k / C, c = k % C;
    float sum = 0.0f;
    for (int64_t i = 0; i < HW; ++i) sum += to_f32(nhwc ? src[(n * HW + i) * C + c] : src[k * HW + i]);
    dst[k] = from_f32<T>(sum / static_cast<float>(HW));
  }
}

template <class T>
__global__ void gap_bwd(int64_t N, int64_t C, int64_t HW, bool nhwc, const T* dd, T* ds, bool acc) {
  BIGBATCH_GRID_LOOP(idx, N * C * HW) {
    const int64_t c = nhwc ? idx % C : (idx / HW) % C, n = idx / (C * HW);
    float v = to_f32(dd[n * C + c]) / static_cast<float>(HW);
    if (acc) v += to_f32(ds[idx]);
    ds[idx] = from_f32<T>(v);
  }
}

template <class T>
__global__ void bias_add(int64_t rows, int64_t cols, const T* bias, T* dst) {
  BIGBATCH_GRID_LOOP(i, rows * cols) dst[i] = from_f32<T>(to_f32(dst[i]) + to_f32(bias[i % cols]));
}

template <class T>
__global__ void bias_bwd(int64_t rows, int64_t cols, const T* dd, T* db) {
  BIGBATCH_GRID_LOOP(j, cols) {
    float sum = 0.0f;
    for (int64_t r = 0; r < rows; ++r) sum += to_f32(dd[r * cols + j]);
    db[j] = from_f32<T>(sum);
  }
}

template <class T>
__global__ void channel_bias_fwd(int64_t total, int64_t C, int64_t HW, bool nhwc, const T* bias, T* dst) {
  BIGBATCH_GRID_LOOP(idx, total) {
    const int64_t c = nhwc ? idx % C : (idx / HW) % C;
    dst[idx] = from_f32<T>(to_f32(dst[idx]) + to_f32(bias[c]));
  }
}

// One block per channel (convolutions with a bias are rare and small in ResNets).
template <class T>
__global__ void channel_bias_bwd(int64_t N, int64_t C, int64_t HW, bool nhwc, const T* dd, T* db) {
  __shared__ float partial[256];
  const int64_t c = blockIdx.x;
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < N * HW; j += blockDim.x) {
    const int64_t n = j / HW, i = j % HW;
    sum += to_f32(dd[nhwc ? (n * HW + i) * C + c : (n * C + c) * HW + i]);
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (static_cast<int>(threadIdx.x) < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[c] = from_f32<T>(partial[0]);
}

template <class T>
__global__ void input_cvt(int64_t N, int64_t C, int64_t HW, bool nhwc, const float* src, T* dst) {
  BIGBATCH_GRID_LOOP(idx, N * C * HW) {
    const int64_t n = idx / (C * HW), c = (idx / HW) % C, i = idx % HW;
    dst[nhwc ? (n * HW + i) * C + c : idx] = from_f32<T>(src[idx]);
  }
}

template <class T>
__global__ void from_f32_kernel(int64_t n, const float* src, T* dst, float scale) {
  BIGBATCH_GRID_LOOP(i, n) dst[i] = from_f32<T>(src[i] * scale);
}

template <class T>
__global__ void to_f32_kernel(int64_t n, const T* src, float* dst, float scale, int* nonfinite) {
  BIGBATCH_GRID_LOOP(i, n) {
    const float v = to_f32(src[i]) * scale;
    if (nonfinite && !isfinite(v)) *nonfinite = 1;
    dst[i] = v;
  }
}

// OIHW element (o, i, s) with s = y·KW + x sits at ((o·KH·KW + s)·I + i) in OHWI.
__device__ __forceinline__ int64_t ohwi_index(int64_t idx, int64_t I, int64_t K) {
  const int64_t o = idx / (I * K), rem = idx % (I * K), i = rem / K, s = rem % K;
  return (o * K + s) * I + i;
}

template <class T>
__global__ void pack_kernel(int64_t n, int64_t I, int64_t K, bool ohwi, const float* src, T* dst) {
  BIGBATCH_GRID_LOOP(idx, n) dst[ohwi ? ohwi_index(idx, I, K) : idx] = from_f32<T>(src[idx]);
}

template <class T>
__global__ void unpack_kernel(int64_t n, int64_t I, int64_t K, bool ohwi, const T* src, float* dst, float scale,
                              int* nonfinite) {
  BIGBATCH_GRID_LOOP(idx, n) {
    const float v = to_f32(src[ohwi ? ohwi_index(idx, I, K) : idx]) * scale;
    if (nonfinite && !isfinite(v)) *nonfinite = 1;
    dst[idx] = v;
  }
}

__global__ void add_scalar_kernel(float* p, float value) { *p += value; }

#undef BIGBATCH_GRID_LOOP

}  // namespace

void relu_forward(DType dtype, int64_t count, const void* src, void* dst, cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    relu_fwd<T><<<blocks_for(count), 256, 0, stream>>>(count, static_cast<const T*>(src), static_cast<T*>(dst));
  });
  check_launch("relu_forward");
}

void relu_backward(DType dtype, int64_t count, const void* dst, const void* diff_dst, void* diff_src, bool accumulate,
                   cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    relu_bwd<T><<<blocks_for(count), 256, 0, stream>>>(count, static_cast<const T*>(dst),
                                                        static_cast<const T*>(diff_dst), static_cast<T*>(diff_src),
                                                        accumulate);
  });
  check_launch("relu_backward");
}

void add_forward(DType dtype, int64_t count, const void* a, const void* b, void* dst, bool relu, cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    add_fwd<T><<<blocks_for(count), 256, 0, stream>>>(count, static_cast<const T*>(a), static_cast<const T*>(b),
                                                       static_cast<T*>(dst), relu);
  });
  check_launch("add_forward");
}

void copy_diff(DType dtype, int64_t count, const void* src, void* dst, bool accumulate, cudaStream_t stream) {
  if (!accumulate) {
    CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(count) * dtype_size(dtype), cudaMemcpyDeviceToDevice,
                               stream));
    return;
  }
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    copy_or_add<T><<<blocks_for(count), 256, 0, stream>>>(count, static_cast<const T*>(src), static_cast<T*>(dst),
                                                           true);
  });
  check_launch("copy_diff");
}

void add_2d(DType dtype, int64_t rows, int64_t cols, const void* src, int64_t src_pitch, void* dst, int64_t dst_pitch,
            cudaStream_t stream) {
  if (rows * cols == 0) return;
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    add_2d_kernel<T><<<blocks_for(rows * cols), 256, 0, stream>>>(rows, cols, static_cast<const T*>(src), src_pitch,
                                                                   static_cast<T*>(dst), dst_pitch);
  });
  check_launch("add_2d");
}

void global_avg_pool_forward(DType dtype, Layout layout, const ops::Dims4& d, const void* src, void* dst,
                             cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    gap_fwd<T><<<blocks_for(d.n * d.c), 256, 0, stream>>>(d.n, d.c, d.spatial(), layout == Layout::nhwc,
                                                           static_cast<const T*>(src), static_cast<T*>(dst));
  });
  check_launch("global_avg_pool_forward");
}

void global_avg_pool_backward(DType dtype, Layout layout, const ops::Dims4& d, const void* diff_dst, void* diff_src,
                              bool accumulate, cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    gap_bwd<T><<<blocks_for(d.numel()), 256, 0, stream>>>(d.n, d.c, d.spatial(), layout == Layout::nhwc,
                                                           static_cast<const T*>(diff_dst), static_cast<T*>(diff_src),
                                                           accumulate);
  });
  check_launch("global_avg_pool_backward");
}

void bias_add_rows(DType dtype, int64_t rows, int64_t cols, const void* bias, void* dst, cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    bias_add<T><<<blocks_for(rows * cols), 256, 0, stream>>>(rows, cols, static_cast<const T*>(bias),
                                                              static_cast<T*>(dst));
  });
  check_launch("bias_add_rows");
}

void bias_backward_rows(DType dtype, int64_t rows, int64_t cols, const void* diff_dst, void* diff_bias,
                        cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    bias_bwd<T><<<blocks_for(cols), 256, 0, stream>>>(rows, cols, static_cast<const T*>(diff_dst),
                                                       static_cast<T*>(diff_bias));
  });
  check_launch("bias_backward_rows");
}

void channel_bias_forward(DType dtype, Layout layout, const ops::Dims4& d, const void* bias, void* dst,
                          cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    channel_bias_fwd<T><<<blocks_for(d.numel()), 256, 0, stream>>>(d.numel(), d.c, d.spatial(),
                                                                    layout == Layout::nhwc,
                                                                    static_cast<const T*>(bias), static_cast<T*>(dst));
  });
  check_launch("channel_bias_forward");
}

void channel_bias_backward(DType dtype, Layout layout, const ops::Dims4& d, const void* diff_dst, void* diff_bias,
                           cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    channel_bias_bwd<T><<<static_cast<unsigned>(d.c), 256, 0, stream>>>(
        d.n, d.c, d.spatial(), layout == Layout::nhwc, static_cast<const T*>(diff_dst), static_cast<T*>(diff_bias));
  });
  check_launch("channel_bias_backward");
}

void convert_input(DType dtype, Layout layout, const ops::Dims4& d, const float* src, void* dst, cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    input_cvt<T><<<blocks_for(d.numel()), 256, 0, stream>>>(d.n, d.c, d.spatial(), layout == Layout::nhwc, src,
                                                             static_cast<T*>(dst));
  });
  check_launch("convert_input");
}

void convert_from_f32(DType dtype, int64_t count, const float* src, void* dst, float scale, cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    from_f32_kernel<T><<<blocks_for(count), 256, 0, stream>>>(count, src, static_cast<T*>(dst), scale);
  });
  check_launch("convert_from_f32");
}

void convert_to_f32(DType dtype, int64_t count, const void* src, float* dst, float scale, int* nonfinite,
                    cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    to_f32_kernel<T><<<blocks_for(count), 256, 0, stream>>>(count, static_cast<const T*>(src), dst, scale,
                                                             nonfinite);
  });
  check_launch("convert_to_f32");
}

void pack_weights(DType dtype, Layout layout, const ops::Dims4& w, const float* src, void* dst, cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    pack_kernel<T><<<blocks_for(w.numel()), 256, 0, stream>>>(w.numel(), w.c, w.spatial(), layout == Layout::nhwc,
                                                               src, static_cast<T*>(dst));
  });
  check_launch("pack_weights");
}

void unpack_weights(DType dtype, Layout layout, const ops::Dims4& w, const void* src, float* dst, float scale,
                    int* nonfinite, cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    unpack_kernel<T><<<blocks_for(w.numel()), 256, 0, stream>>>(w.numel(), w.c, w.spatial(), layout == Layout::nhwc,
                                                                 static_cast<const T*>(src), dst, scale, nonfinite);
  });
  check_launch("unpack_weights");
}

void add_scalar(float* p, float value, cudaStream_t stream) {
  add_scalar_kernel<<<1, 1, 0, stream>>>(p, value);
  check_launch("add_scalar");
}

}  // namespace bigbatch::backend::cuda
