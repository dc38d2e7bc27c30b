// Batch normalisation on the GPU with ghost groups (RECIPE §6) and optional fused ReLU,
// matching ops/batch_norm.h: a batch of v·G examples is normalised as v groups of G
// consecutive examples, and the running statistics move towards the mean over groups.
//
// Why our own kernels and not cudnnBatchNormalization*: cuDNN normalises a whole tensor per
// call, and a group is not expressible as one cuDNN tensor (in NCHW a group of G examples
// interleaves with the channel stride). One call per group would also apply the running
// update G times (compounding the momentum), not once with the groups' average. The kernels
// are three passes: per-(group, channel) sums with f64 accumulation, a tiny finalize, and an
// element-wise apply; backward is the same shape.
// Layouts: src/dst/diffs in dtype, NCHW or NHWC; gamma, beta, running stats f32 (C); saved
// mean and 1/sqrt(var+eps) f32 (groups×C).
#pragma once

#include "bigbatch/backend/cuda/resources.h"
#include "bigbatch/ops/batch_norm.h"

namespace bigbatch::backend::cuda {

class BatchNorm {
 public:
  // p.group_size and p.fuse_relu are honoured; throws InvalidArgument as the reference does
  // (batch not a multiple of the group, a group with a single value per channel).
  BatchNorm(const ops::BatchNormParams& p, const ops::Dims4& dims, DType dtype, Layout layout);

  int64_t groups() const { return groups_; }
  // Training: normalises each group with its own statistics; saves them for backward and,
  // when running_mean/running_var are non-null, updates them.
  void forward_training(const void* src, const float* gamma, const float* beta, void* dst, float* running_mean,
                        float* running_var, cudaStream_t stream);
  void forward_inference(const void* src, const float* gamma, const float* beta, const float* running_mean,
                         const float* running_var, void* dst, cudaStream_t stream);
  // Backward of the last training forward. dst is read only with fused ReLU (the mask).
  // diff_gamma/diff_beta (f32, C) are overwritten with sums over groups; diff_src is
  // overwritten, or added to when accumulate.
  void backward(const void* src, const void* dst, const void* diff_dst, const float* gamma, void* diff_src,
                bool accumulate, float* diff_gamma, float* diff_beta, cudaStream_t stream);

  const float* save_mean() const { return stats_.as<float>(); }  // groups×C
  const float* save_invstd() const { return stats_.as<float>() + groups_ * p_.channels; }

 private:
  ops::BatchNormParams p_;
  ops::Dims4 dims_;
  DType dtype_;
  Layout layout_;
  int64_t groups_ = 1;
  DeviceBuffer partial_;  // f64 groups×C×2: the reductions' sums
  DeviceBuffer stats_;    // f32 groups×C×2: mean, invstd
  DeviceBuffer coef_;     // f32 groups×C×3: the apply pass's per-(group, channel) coefficients
};

}  // namespace bigbatch::backend::cuda
