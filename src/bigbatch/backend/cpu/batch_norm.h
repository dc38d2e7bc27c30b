// Batch normalisation with ghost groups (RECIPE §6) on the CPU. f32 training forward and
// backward run our loops (batch_norm_f32.h: the sums over N·H·W in double, which oneDNN's
// kernels do in f32, losing ~1e-4 of the gradients); bf16, other layouts and inference run
// oneDNN: one primitive planned for a batch of G examples runs on each group's slice of the
// blocked activation, so v groups get v independent statistics. Optional fused ReLU (ours:
// the mask recomputed from src; oneDNN's: fuse_norm_relu, with workspace).
// Layouts: src/dst/diffs in the producer's layout (examples contiguous); gamma, beta,
// running statistics and their gradients f32 C in the arenas.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <vector>

#include "bigbatch/backend/cpu/batch_norm_f32.h"
#include "bigbatch/backend/cpu/step.h"
#include "bigbatch/ops/batch_norm.h"

namespace bigbatch::backend::cpu {

class BatchNorm {
 public:
  // p.group_size 0 = the whole batch. p.momentum is PyTorch's (0.1).
  BatchNorm(const ops::BatchNormParams& p, const ops::Dims4& dims, const dnnl::memory::desc& src_md);
  BatchNorm(const BatchNorm&) = delete;
  BatchNorm& operator=(const BatchNorm&) = delete;

  const dnnl::memory::desc& dst_md() const { return md_; }
  const dnnl::memory::desc& param_md() const { return param_md_; }  // f32 C
  size_t scratchpad_bytes() const;
  int64_t groups() const { return groups_; }

  // Per-group statistics normalise each group; the statistics are kept for backward and the
  // running statistics move by momentum towards the mean over groups of each group's mean and
  // unbiased variance. src and dst must not be re-bound after planning (slices point into them).
  void forward_training(StepList& steps, const dnnl::memory& src, const dnnl::memory& gamma, const dnnl::memory& beta,
                        const dnnl::memory& dst, const dnnl::memory& running_mean,
                        const dnnl::memory& running_var) const;
  // Normalises the whole batch with the running statistics.
  void forward_inference(StepList& steps, const dnnl::memory& src, const dnnl::memory& gamma, const dnnl::memory& beta,
                         const dnnl::memory& running_mean, const dnnl::memory& running_var,
                         const dnnl::memory& dst) const;
  // Backward of forward_training: diff_src, and diff_gamma / diff_beta summed over groups
  // (all overwritten). beta is unused by the math but oneDNN expects it with use_shift.
  void backward(StepList& steps, const dnnl::memory& src, const dnnl::memory& diff_dst, const dnnl::memory& gamma,
                const dnnl::memory& beta, const dnnl::memory& diff_src, const dnnl::memory& diff_gamma,
                const dnnl::memory& diff_beta) const;

 private:
  // Group g's slice of a full-batch memory.
  dnnl::memory slice(const dnnl::memory& full, int64_t g) const;
  dnnl::memory stat(const dnnl::memory& all, int64_t g) const;  // f32 C row g of groups×C

  ops::BatchNormParams p_;
  ops::Dims4 dims_;
  int64_t group_ = 0, groups_ = 0;
  dnnl::memory::desc md_, group_md_, param_md_;
  dnnl::batch_normalization_forward::primitive_desc train_pd_, infer_pd_;
  dnnl::batch_normalization_backward::primitive_desc bwd_pd_;
  dnnl::batch_normalization_forward train_, infer_;
  dnnl::batch_normalization_backward bwd_;
  // Kernel-owned: per-group mean and biased variance (groups×C f32); for oneDNN's kernels
  // fused-ReLU workspaces and per-group diff_gamma / diff_beta before the sum over groups.
  dnnl::memory mean_, var_, workspace_, diff_gamma_, diff_beta_;
  // f32 layouts: our training forward and backward instead of train_ / bwd_ (not planned then),
  // with the per-group 1/sqrt(var + eps) (groups×C f32) kept for backward.
  std::optional<BatchNormF32> f32_;
  dnnl::memory invstd_;
};

}  // namespace bigbatch::backend::cpu
