// The dropout kernel: one grid-stride pass that hashes each element's logical NCHW index, for
// forward (accumulate off) and backward alike.
#include "bigbatch/backend/cuda/check.h"
#include "bigbatch/backend/cuda/dropout.h"
#include "bigbatch/backend/cuda/eltwise.h"
#include "bigbatch/backend/cuda/kernel_util.cuh"
#include "bigbatch/core/error.h"

namespace bigbatch::backend::cuda {

namespace {

using namespace kernels;

// Element idx of the pass as stored; `base` is first_example·C·H·W. In NHWC the stored order
// is (n, h, w, c), so the logical offset (n·C + c)·H·W + h·W + w is rebuilt from it.
template <class T>
__global__ void dropout_kernel(int64_t total, int64_t C, int64_t HW, bool nhwc, uint64_t key_stream, uint64_t base,
                               uint32_t threshold, float scale, const T* src, T* dst, bool acc) {
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t logical = idx;
    if (nhwc) {
      const int64_t c = idx % C, pixel = idx / C, s = pixel % HW, n = pixel / HW;
      logical = (n * C + c) * HW + s;
    }
    float v = ops::dropout_keeps(key_stream, base + static_cast<uint64_t>(logical), threshold)
                  ? to_f32(src[idx]) * scale
                  : 0.0f;
    if (acc) v += to_f32(dst[idx]);
    dst[idx] = from_f32<T>(v);
  }
}

void run(const char* where, DType dtype, Layout layout, const ops::Dims4& d, double p, const ops::DropoutKey& key,
         const void* src, void* dst, bool accumulate, cudaStream_t stream) {
  ops::check_dropout_params({p});
  BIGBATCH_CHECK(d.n >= 0 && d.c >= 0 && d.h >= 0 && d.w >= 0,
                 "[dropout] expected non-negative extents, got " << d.to_string());
  BIGBATCH_CHECK(key.first_example >= 0, "[dropout] expected first_example >= 0, got " << key.first_example);
  const int64_t total = d.numel();
  if (total == 0) return;
  // p = 0 is the identity exactly, as the reference: a copy (or an add), no hashing.
  if (p == 0.0) {
    if (src != dst || accumulate) copy_diff(dtype, total, src, dst, accumulate, stream);
    return;
  }
  const uint64_t base = static_cast<uint64_t>(key.first_example) * static_cast<uint64_t>(d.c * d.spatial());
  const uint32_t threshold = ops::dropout_keep_threshold(p);
  const float scale = static_cast<float>(ops::dropout_scale(p));
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    dropout_kernel<T><<<blocks_for(total), 256, 0, stream>>>(
        total, d.c, d.spatial(), layout == Layout::nhwc, key.stream, base, threshold, scale, static_cast<const T*>(src),
        static_cast<T*>(dst), accumulate);
  });
  check_launch(where);
}

}  // namespace

void dropout_forward(DType dtype, Layout layout, const ops::Dims4& dims, double p, const ops::DropoutKey& key,
                     const void* src, void* dst, cudaStream_t stream) {
  run("dropout_forward", dtype, layout, dims, p, key, src, dst, false, stream);
}

void dropout_backward(DType dtype, Layout layout, const ops::Dims4& dims, double p, const ops::DropoutKey& key,
                      const void* diff_dst, void* diff_src, bool accumulate, cudaStream_t stream) {
  run("dropout_backward", dtype, layout, dims, p, key, diff_dst, diff_src, accumulate, stream);
}

}  // namespace bigbatch::backend::cuda
