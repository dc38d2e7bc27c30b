// cuBLAS is column-major: a row-major A (r×c) is a column-major Aᵀ (c×r), so each product
// below is written for the transposes (dstᵀ = W·srcᵀ and so on).
#include "bigbatch/backend/cuda/linear.h"

#include "bigbatch/backend/cuda/check.h"
#include "bigbatch/backend/cuda/eltwise.h"

namespace bigbatch::backend::cuda {

Linear::Linear(const ops::LinearParams& p, int64_t batch, DType dtype, bool allow_tf32)
    : p_(p), batch_(batch), dtype_(dtype) {
  compute_ = dtype == DType::f32 && allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

void Linear::forward(Context& ctx, const void* src, const void* weights, const void* bias, void* dst) const {
  const float one = 1.0f, zero = 0.0f;
  const int O = static_cast<int>(p_.out_features), I = static_cast<int>(p_.in_features);
  const int N = static_cast<int>(batch_);
  const cudaDataType_t t = cuda_type(dtype_);
  // dstᵀ (O×N) = (Wᵀ as stored, I×O)ᵀ · srcᵀ (I×N)
  CUBLAS_CHECK(cublasGemmEx(ctx.cublas.get(), CUBLAS_OP_T, CUBLAS_OP_N, O, N, I, &one, weights, t, I, src, t, I, &zero,
                            dst, t, O, compute_, CUBLAS_GEMM_DEFAULT));
  if (p_.bias) bias_add_rows(dtype_, batch_, p_.out_features, bias, dst, ctx.stream);
}

void Linear::backward_data(Context& ctx, const void* diff_dst, const void* weights, void* diff_src,
                           bool accumulate) const {
  const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  const int O = static_cast<int>(p_.out_features), I = static_cast<int>(p_.in_features);
  const int N = static_cast<int>(batch_);
  const cudaDataType_t t = cuda_type(dtype_);
  // diff_srcᵀ (I×N) = Wᵀ (I×O, as stored) · diff_dstᵀ (O×N)
  CUBLAS_CHECK(cublasGemmEx(ctx.cublas.get(), CUBLAS_OP_N, CUBLAS_OP_N, I, N, O, &one, weights, t, I, diff_dst, t, O,
                            &beta, diff_src, t, I, compute_, CUBLAS_GEMM_DEFAULT));
}

void Linear::backward_weights(Context& ctx, const void* src, const void* diff_dst, void* diff_weights,
                              void* diff_bias) const {
  const float one = 1.0f, zero = 0.0f;
  const int O = static_cast<int>(p_.out_features), I = static_cast<int>(p_.in_features);
  const int N = static_cast<int>(batch_);
  const cudaDataType_t t = cuda_type(dtype_);
  // diff_Wᵀ (I×O) = srcᵀ (I×N) · diff_dst (N×O) = srcᵀ · (diff_dstᵀ as stored)ᵀ
  CUBLAS_CHECK(cublasGemmEx(ctx.cublas.get(), CUBLAS_OP_N, CUBLAS_OP_T, I, O, N, &one, src, t, I, diff_dst, t, O, &zero,
                            diff_weights, t, I, compute_, CUBLAS_GEMM_DEFAULT));
  if (p_.bias) bias_backward_rows(dtype_, batch_, p_.out_features, diff_dst, diff_bias, ctx.stream);
}

}  // namespace bigbatch::backend::cuda
