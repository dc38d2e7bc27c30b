// Batch normalisation over N, H, W per channel, with "ghost" groups (RECIPE §6): a batch
// of v·G examples is normalised as v independent groups of G consecutive examples, each
// with its own statistics, exactly as v workers of G examples would. Optional fused ReLU.
// Layouts: src/dst N×C×H×W; gamma, beta, running stats C; saved stats groups×C.
#pragma once

#include "bigbatch/ops/dims.h"

namespace bigbatch::ops {

struct BatchNormParams {
  int64_t channels = 0;
  int64_t group_size = 0;  // examples per statistics group; 0 = the whole batch
  double eps = 1e-5;
  // Running stats: running = (1 - momentum)·running + momentum·batch_stat (PyTorch's
  // convention, 0.1; the paper's "momentum 0.9" is 1 - this).
  double momentum = 0.1;
  bool fuse_relu = false;  // dst = max(0, bn(src))
};

// Number of groups for a batch; throws InvalidArgument if N is not a multiple of group_size.
int64_t batch_norm_groups(const BatchNormParams& p, const Dims4& dims);

// Training: per-group mean and biased variance normalise the group. save_mean and
// save_invstd (1/sqrt(var+eps)) receive groups×C values for backward. When running_mean and
// running_var are non-null they move towards the mean over groups of each group's mean and
// unbiased variance (the average of v workers' running statistics).
template <class T>
void batch_norm_forward_training(const BatchNormParams& p, const Dims4& dims, const T* src, const T* gamma,
                                 const T* beta, T* dst, T* save_mean, T* save_invstd, T* running_mean,
                                 T* running_var);

// Inference: normalises with the running statistics.
template <class T>
void batch_norm_forward_inference(const BatchNormParams& p, const Dims4& dims, const T* src, const T* gamma,
                                  const T* beta, const T* running_mean, const T* running_var, T* dst);

// Backward of the training forward. dst is read only when p.fuse_relu (the ReLU mask);
// diff_gamma and diff_beta (C) are summed over all groups; all outputs are overwritten.
template <class T>
void batch_norm_backward(const BatchNormParams& p, const Dims4& dims, const T* src, const T* dst,
                         const T* diff_dst, const T* gamma, const T* save_mean, const T* save_invstd, T* diff_src,
                         T* diff_gamma, T* diff_beta);

}  // namespace bigbatch::ops
