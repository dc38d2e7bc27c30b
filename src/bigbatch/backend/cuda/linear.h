// Fully connected layer with cuBLAS (cublasGemmEx, f32 accumulation): dst = src·weightsᵀ + bias.
// Layouts as ops/linear.h, all row-major in dtype: src N×I, weights O×I, bias O, dst N×O.
#pragma once

#include "bigbatch/backend/cuda/resources.h"
#include "bigbatch/ops/linear.h"

namespace bigbatch::backend::cuda {

class Linear {
 public:
  // allow_tf32: f32 data may use TF32 tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32).
  Linear(const ops::LinearParams& p, int64_t batch, DType dtype, bool allow_tf32);

  void forward(Context& ctx, const void* src, const void* weights, const void* bias, void* dst) const;
  // diff_src = diff_dst·weights, overwritten or (accumulate) added to.
  void backward_data(Context& ctx, const void* diff_dst, const void* weights, void* diff_src, bool accumulate) const;
  // Overwrites diff_weights (O×I) and, with a bias, diff_bias (O).
  void backward_weights(Context& ctx, const void* src, const void* diff_dst, void* diff_weights,
                        void* diff_bias) const;

 private:
  ops::LinearParams p_;
  int64_t batch_;
  DType dtype_;
  cublasComputeType_t compute_;
};

}  // namespace bigbatch::backend::cuda
