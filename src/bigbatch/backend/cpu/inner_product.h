// oneDNN fully connected layer for one shape: dst = src · weightsᵀ + bias. src may be the
// producer's blocked N×C×H×W layout (flattened in NCHW order, as PyTorch) or N×I. Weights
// stay f32 O×I in the arena; dst is plain N×O in dst_dtype (f32 for the logits).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "bigbatch/backend/cpu/step.h"
#include "bigbatch/ops/linear.h"

namespace bigbatch::backend::cpu {

class InnerProduct {
 public:
  // dtype: src and (reordered) weights; bias and diff_weights are f32.
  InnerProduct(const ops::LinearParams& p, const dnnl::memory::desc& src_md, dnnl::memory::data_type dtype,
               dnnl::memory::data_type dst_dtype, bool backward_data);
  InnerProduct(const InnerProduct&) = delete;
  InnerProduct& operator=(const InnerProduct&) = delete;

  const dnnl::memory::desc& dst_md() const { return dst_md_; }  // N×O plain, dst_dtype
  const dnnl::memory::desc& weights_plain_md() const { return weights_plain_md_; }
  const dnnl::memory::desc& bias_md() const { return bias_md_; }
  size_t scratchpad_bytes() const;
  // Reordered weights and diff_weights live in a caller-given staging buffer shared by every
  // layer (each use is over before the next layer's begins) instead of three private copies
  // per layer. Call before building steps; backward_data then reorders the weights itself.
  size_t staging_bytes() const;
  void set_staging(void* buffer);

  void forward(StepList& steps, const dnnl::memory& src, const dnnl::memory& weights, const dnnl::memory& bias,
               const dnnl::memory& dst) const;
  // diff_dst: N×O plain in dst_dtype (converted to dtype inside when they differ).
  void backward_data(StepList& steps, const dnnl::memory& diff_dst, const dnnl::memory& weights,
                     const dnnl::memory& diff_src) const;
  void backward_weights(StepList& steps, const dnnl::memory& src, const dnnl::memory& diff_dst,
                        const dnnl::memory& diff_weights, const dnnl::memory& diff_bias) const;

 private:
  // diff_dst in the compute type: diff_dst itself, or the kernel's converted copy.
  dnnl::memory compute_diff_dst(StepList& steps, const dnnl::memory& diff_dst) const;

  ops::LinearParams p_;
  dnnl::memory::desc src_md_, dst_md_, weights_plain_md_, bias_md_;
  dnnl::inner_product_forward::primitive_desc fwd_pd_;
  dnnl::inner_product_backward_data::primitive_desc bwd_data_pd_;
  dnnl::inner_product_backward_weights::primitive_desc bwd_weights_pd_;
  dnnl::inner_product_forward fwd_;
  dnnl::inner_product_backward_data bwd_data_;
  dnnl::inner_product_backward_weights bwd_weights_;
  dnnl::reorder weights_reorder_, bwd_weights_reorder_, diff_weights_reorder_, diff_dst_reorder_;
  dnnl::memory weights_, bwd_data_weights_, diff_weights_, diff_dst_;
};

}  // namespace bigbatch::backend::cpu
