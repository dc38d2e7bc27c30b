// Dropout on oneDNN memory of any layout and dtype: the mask (0 or 1/(1 − p), f32, plain
// NCHW, drawn by ops::dropout_keeps in logical order, so it is the reference's mask) is
// filled on the host at each training forward, then multiplied in by a oneDNN binary
// primitive: dst = src · mask forward, diff_src = diff_dst · mask backward.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "bigbatch/backend/cpu/step.h"
#include "bigbatch/ops/dropout.h"

namespace bigbatch::backend::cpu {

class Dropout {
 public:
  // dims: N×C×H×W; src_md: the input's layout, which dst and the diffs share.
  Dropout(const ops::DropoutParams& params, const ops::Dims4& dims, const dnnl::memory::desc& src_md);
  Dropout(const Dropout&) = delete;
  Dropout& operator=(const Dropout&) = delete;

  const dnnl::memory::desc& dst_md() const { return md_; }
  size_t scratchpad_bytes() const;
  // Training: draws the mask of *key (read when the step runs), then dst = src · mask.
  void forward_training(StepList& steps, const ops::DropoutKey* key, const dnnl::memory& src,
                        const dnnl::memory& dst) const;
  // Evaluation: dst = src.
  void forward_inference(StepList& steps, const dnnl::memory& src, const dnnl::memory& dst) const;
  // With the last training forward's mask.
  void backward(StepList& steps, const dnnl::memory& diff_dst, const dnnl::memory& diff_src) const;

 private:
  ops::DropoutParams params_;
  ops::Dims4 dims_;
  dnnl::memory::desc md_;
  dnnl::memory mask_;
  dnnl::binary::primitive_desc mul_pd_;
  dnnl::binary mul_;
  dnnl::reorder::primitive_desc copy_pd_;
  dnnl::reorder copy_;
};

}  // namespace bigbatch::backend::cpu
