// Ghost batch-norm kernels: per-(group, channel) sums (f64 accumulators, atomics across
// chunks), a per-channel finalize, and an element-wise apply; for forward and backward.
#include "bigbatch/backend/cuda/batch_norm.h"

#include <algorithm>

#include "bigbatch/backend/cuda/check.h"
#include "bigbatch/backend/cuda/kernel_util.cuh"

namespace bigbatch::backend::cuda {

namespace {

using namespace kernels;

// Forward sums (x, x²); backward sums (dy', dy'·x̂) with dy' the diff after the ReLU mask.
template <class T, bool kBackward>
__device__ __forceinline__ void add_terms(const T* x, const T* y, const T* dy, int64_t idx, float mean,
                                          float invstd, bool relu, double& a, double& b) {
  const float xv = to_f32(x[idx]);
  if (!kBackward) {
    a += xv;
    b += static_cast<double>(xv) * xv;
    return;
  }
  float d = to_f32(dy[idx]);
  if (relu && to_f32(y[idx]) <= 0.0f) d = 0.0f;
  a += d;
  b += static_cast<double>(d) * ((xv - mean) * invstd);
}

// Sums (a, b) over the block (blockDim.x a multiple of 32) and adds them to out[0..1].
__device__ void block_sum_atomic(double a, double b, double* out) {
  __shared__ double sa[32], sb[32];
  for (int o = 16; o > 0; o >>= 1) {
    a += __shfl_down_sync(0xffffffffu, a, o);
    b += __shfl_down_sync(0xffffffffu, b, o);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    sa[warp] = a;
    sb[warp] = b;
  }
  __syncthreads();
  if (warp != 0) return;
  const int warps = (blockDim.x + 31) >> 5;
  a = lane < warps ? sa[lane] : 0.0;
  b = lane < warps ? sb[lane] : 0.0;
  for (int o = 16; o > 0; o >>= 1) {
    a += __shfl_down_sync(0xffffffffu, a, o);
    b += __shfl_down_sync(0xffffffffu, b, o);
  }
  if (lane == 0) {
    atomicAdd(out, a);
    atomicAdd(out + 1, b);
  }
}

// NCHW: block x = one (group, channel); block y = a chunk of its group_n·HW values.
template <class T, bool kBackward>
__global__ void reduce_nchw(const T* x, const T* y, const T* dy, const float* stats, int64_t gc_total, bool relu,
                            int64_t C, int64_t HW, int64_t group_n, int64_t chunk, double* partial) {
  const int64_t gc = blockIdx.x, g = gc / C, c = gc % C;
  const int64_t count = group_n * HW;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t end = begin + chunk < count ? begin + chunk : count;
  const float mean = kBackward ? stats[gc] : 0.0f, invstd = kBackward ? stats[gc_total + gc] : 0.0f;
  double a = 0.0, b = 0.0;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    const int64_t n = g * group_n + j / HW, i = j % HW;
    add_terms<T, kBackward>(x, y, dy, (n * C + c) * HW + i, mean, invstd, relu, a, b);
  }
  block_sum_atomic(a, b, partial + 2 * gc);
}

// NHWC: 32×8 threads; x = 32 consecutive channels (coalesced), y strides over a chunk of the
// group's group_n·HW rows.
template <class T, bool kBackward>
__global__ void reduce_nhwc(const T* x, const T* y, const T* dy, const float* stats, int64_t gc_total, bool relu,
                            int64_t C, int64_t HW, int64_t group_n, int64_t chunk, double* partial) {
  __shared__ double sa[8][32], sb[8][32];
  const int64_t ctiles = (C + 31) / 32;
  const int64_t g = blockIdx.x / ctiles, c = (blockIdx.x % ctiles) * 32 + threadIdx.x;
  const int64_t rows = group_n * HW;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t end = begin + chunk < rows ? begin + chunk : rows;
  double a = 0.0, b = 0.0;
  if (c < C) {
    const int64_t gc = g * C + c;
    const float mean = kBackward ? stats[gc] : 0.0f, invstd = kBackward ? stats[gc_total + gc] : 0.0f;
    for (int64_t r = begin + threadIdx.y; r < end; r += blockDim.y)
      add_terms<T, kBackward>(x, y, dy, (g * rows + r) * C + c, mean, invstd, relu, a, b);
  }
  sa[threadIdx.y][threadIdx.x] = a;
  sb[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  if (threadIdx.y != 0 || c >= C) return;
  for (int k = 1; k < 8; ++k) {
    a += sa[k][threadIdx.x];
    b += sb[k][threadIdx.x];
  }
  atomicAdd(partial + 2 * (g * C + c), a);
  atomicAdd(partial + 2 * (g * C + c) + 1, b);
}

// One thread per channel: each group's mean and 1/sqrt(var+eps), the apply coefficients, and
// the running update with the groups' average (ops/batch_norm.cpp does the same in double).
__global__ void finalize_forward(const double* partial, const float* gamma, const float* beta, int64_t G, int64_t C,
                                 double count, double eps, double momentum, float* stats, float* coef,
                                 float* running_mean, float* running_var) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double mean_sum = 0.0, var_sum = 0.0;
  for (int64_t g = 0; g < G; ++g) {
    const int64_t k = g * C + c;
    const double mean = partial[2 * k] / count;
    const double var = fmax(partial[2 * k + 1] / count - mean * mean, 0.0);
    const double invstd = 1.0 / sqrt(var + eps);
    stats[k] = static_cast<float>(mean);
    stats[G * C + k] = static_cast<float>(invstd);
    const double scale = gamma[c] * invstd;
    coef[k] = static_cast<float>(scale);
    coef[G * C + k] = static_cast<float>(beta[c] - mean * scale);
    mean_sum += mean;
    var_sum += var * count / (count - 1.0);  // unbiased, as PyTorch's running_var
  }
  if (running_mean) running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean_sum / G);
  if (running_var) running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * var_sum / G);
}

__global__ void inference_coef(const float* gamma, const float* beta, const float* running_mean,
                               const float* running_var, int64_t C, double eps, float* coef) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const double scale = gamma[c] / sqrt(static_cast<double>(running_var[c]) + eps);
  coef[c] = static_cast<float>(scale);
  coef[C + c] = static_cast<float>(beta[c] - running_mean[c] * scale);
}

// dx = A·dy' + B·x + D per (group, channel), which is γ·invstd·(dy' − mean(dy') − x̂·mean(dy'·x̂));
// dγ and dβ are the sums over groups.
__global__ void finalize_backward(const double* partial, const float* gamma, const float* stats, int64_t G, int64_t C,
                                  double count, float* coef, float* diff_gamma, float* diff_beta) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double dg = 0.0, db = 0.0;
  for (int64_t g = 0; g < G; ++g) {
    const int64_t k = g * C + c;
    const double sum_dy = partial[2 * k], sum_dy_xhat = partial[2 * k + 1];
    const double mean = stats[k], invstd = stats[G * C + k];
    const double k1 = gamma[c] * invstd, a = sum_dy / count, b = sum_dy_xhat / count;
    coef[k] = static_cast<float>(k1);
    coef[G * C + k] = static_cast<float>(-k1 * invstd * b);
    coef[2 * G * C + k] = static_cast<float>(-k1 * a + k1 * invstd * b * mean);
    dg += sum_dy_xhat;
    db += sum_dy;
  }
  diff_gamma[c] = static_cast<float>(dg);
  diff_beta[c] = static_cast<float>(db);
}

template <bool kNhwc>
__device__ __forceinline__ int64_t coef_index(int64_t idx, int64_t C, int64_t HW, int64_t group_n) {
  const int64_t c = kNhwc ? idx % C : (idx / HW) % C;
  return (idx / (C * HW)) / group_n * C + c;
}

template <class T, bool kNhwc>
__global__ void apply_forward(const T* x, T* y, int64_t total, int64_t C, int64_t HW, int64_t group_n, int64_t gc_total,
                              const float* coef, bool relu) {
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t k = coef_index<kNhwc>(idx, C, HW, group_n);
    float v = to_f32(x[idx]) * coef[k] + coef[gc_total + k];
    if (relu) v = fmaxf(v, 0.0f);
    y[idx] = from_f32<T>(v);
  }
}

template <class T, bool kNhwc>
__global__ void apply_backward(const T* x, const T* y, const T* dy, T* dx, int64_t total, int64_t C, int64_t HW,
                               int64_t group_n, int64_t gc_total, const float* coef, bool relu, bool accumulate) {
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t k = coef_index<kNhwc>(idx, C, HW, group_n);
    float d = to_f32(dy[idx]);
    if (relu && to_f32(y[idx]) <= 0.0f) d = 0.0f;
    float v = coef[k] * d + coef[gc_total + k] * to_f32(x[idx]) + coef[2 * gc_total + k];
    if (accumulate) v += to_f32(dx[idx]);
    dx[idx] = from_f32<T>(v);
  }
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

BatchNorm::BatchNorm(const ops::BatchNormParams& p, const ops::Dims4& dims, DType dtype, Layout layout)
    : p_(p), dims_(dims), dtype_(dtype), layout_(layout) {
  groups_ = ops::batch_norm_groups(p, dims);
  BIGBATCH_CHECK(groups_ > 0 && dims.n / groups_ * dims.spatial() > 1,
                 "[batch_norm:cuda] training expects more than 1 value per channel and group, got src "
                     << dims.to_string() << " in " << groups_ << " groups");
  const auto gc = static_cast<size_t>(groups_ * p.channels);
  partial_ = DeviceBuffer(gc * 2 * sizeof(double));
  stats_ = DeviceBuffer(gc * 2 * sizeof(float));
  coef_ = DeviceBuffer(gc * 3 * sizeof(float));
}

namespace {

// Zeroes the partial sums and runs the layout's reduction kernel.
template <class T, bool kBackward>
void reduce(Layout layout, const ops::Dims4& d, int64_t groups, const T* x, const T* y, const T* dy,
            const float* stats, bool relu, double* partial, cudaStream_t stream) {
  const int64_t C = d.c, HW = d.spatial(), group_n = d.n / groups, count = group_n * HW;
  CUDA_CHECK(cudaMemsetAsync(partial, 0, static_cast<size_t>(groups * C) * 2 * sizeof(double), stream));
  if (layout == Layout::nchw) {
    const int64_t chunks = std::min<int64_t>(ceil_div(count, 8192), 1024);
    const dim3 grid(static_cast<unsigned>(groups * C), static_cast<unsigned>(chunks));
    reduce_nchw<T, kBackward><<<grid, 256, 0, stream>>>(x, y, dy, stats, groups * C, relu, C, HW, group_n,
                                                        ceil_div(count, chunks), partial);
  } else {
    const int64_t chunks = std::min<int64_t>(ceil_div(count, 512), 1024);
    const dim3 grid(static_cast<unsigned>(groups * ceil_div(C, 32)), static_cast<unsigned>(chunks));
    reduce_nhwc<T, kBackward><<<grid, dim3(32, 8), 0, stream>>>(x, y, dy, stats, groups * C, relu, C, HW, group_n,
                                                                ceil_div(count, chunks), partial);
  }
  check_launch("batch_norm reduce");
}

unsigned channel_blocks(int64_t C) { return static_cast<unsigned>(ceil_div(C, 128)); }

}  // namespace

void BatchNorm::forward_training(const void* src, const float* gamma, const float* beta, void* dst,
                                 float* running_mean, float* running_var, cudaStream_t stream) {
  const int64_t C = dims_.c, HW = dims_.spatial(), group_n = dims_.n / groups_, gc = groups_ * C;
  dispatch(dtype_, [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(src);
    reduce<T, false>(layout_, dims_, groups_, x, nullptr, nullptr, nullptr, false, partial_.as<double>(), stream);
    finalize_forward<<<channel_blocks(C), 128, 0, stream>>>(partial_.as<double>(), gamma, beta, groups_, C,
                                                            static_cast<double>(group_n * HW), p_.eps, p_.momentum,
                                                            stats_.as<float>(), coef_.as<float>(), running_mean,
                                                            running_var);
    check_launch("batch_norm finalize_forward");
    const int64_t total = dims_.numel();
    if (layout_ == Layout::nchw)
      apply_forward<T, false><<<blocks_for(total), 256, 0, stream>>>(x, static_cast<T*>(dst), total, C, HW, group_n,
                                                                     gc, coef_.as<float>(), p_.fuse_relu);
    else
      apply_forward<T, true><<<blocks_for(total), 256, 0, stream>>>(x, static_cast<T*>(dst), total, C, HW, group_n,
                                                                    gc, coef_.as<float>(), p_.fuse_relu);
    check_launch("batch_norm apply_forward");
  });
}

void BatchNorm::forward_inference(const void* src, const float* gamma, const float* beta, const float* running_mean,
                                  const float* running_var, void* dst, cudaStream_t stream) {
  const int64_t C = dims_.c, HW = dims_.spatial(), total = dims_.numel();
  inference_coef<<<channel_blocks(C), 128, 0, stream>>>(gamma, beta, running_mean, running_var, C, p_.eps,
                                                        coef_.as<float>());
  check_launch("batch_norm inference_coef");
  // One group spanning the batch: every example reads the channel's coefficients.
  dispatch(dtype_, [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(src);
    if (layout_ == Layout::nchw)
      apply_forward<T, false><<<blocks_for(total), 256, 0, stream>>>(x, static_cast<T*>(dst), total, C, HW, dims_.n,
                                                                     C, coef_.as<float>(), p_.fuse_relu);
    else
      apply_forward<T, true><<<blocks_for(total), 256, 0, stream>>>(x, static_cast<T*>(dst), total, C, HW, dims_.n,
                                                                    C, coef_.as<float>(), p_.fuse_relu);
    check_launch("batch_norm apply_forward");
  });
}

void BatchNorm::backward(const void* src, const void* dst, const void* diff_dst, const float* gamma, void* diff_src,
                         bool accumulate, float* diff_gamma, float* diff_beta, cudaStream_t stream) {
  const int64_t C = dims_.c, HW = dims_.spatial(), group_n = dims_.n / groups_, gc = groups_ * C;
  const bool relu = p_.fuse_relu;
  dispatch(dtype_, [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(src);
    const T* y = static_cast<const T*>(dst);
    const T* dy = static_cast<const T*>(diff_dst);
    reduce<T, true>(layout_, dims_, groups_, x, y, dy, stats_.as<float>(), relu, partial_.as<double>(), stream);
    finalize_backward<<<channel_blocks(C), 128, 0, stream>>>(partial_.as<double>(), gamma, stats_.as<float>(),
                                                             groups_, C, static_cast<double>(group_n * HW),
                                                             coef_.as<float>(), diff_gamma, diff_beta);
    check_launch("batch_norm finalize_backward");
    const int64_t total = dims_.numel();
    T* dx = static_cast<T*>(diff_src);
    if (layout_ == Layout::nchw)
      apply_backward<T, false><<<blocks_for(total), 256, 0, stream>>>(x, y, dy, dx, total, C, HW, group_n, gc,
                                                                      coef_.as<float>(), relu, accumulate);
    else
      apply_backward<T, true><<<blocks_for(total), 256, 0, stream>>>(x, y, dy, dx, total, C, HW, group_n, gc,
                                                                     coef_.as<float>(), relu, accumulate);
    check_launch("batch_norm apply_backward");
  });
}

}  // namespace bigbatch::backend::cuda
