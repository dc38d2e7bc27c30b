// oneDNN residual add for one shape: dst = src0 + src1, optionally followed by a fused ReLU
// (an eltwise post-op). dst takes src0's layout and may alias src0 (see supports_in_place). Backward is
// the identity to both inputs after the ReLU's backward (from dst).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "bigbatch/backend/cpu/step.h"

namespace bigbatch::backend::cpu {

class Add {
 public:
  Add(const dnnl::memory::desc& src0_md, const dnnl::memory::desc& src1_md, bool fuse_relu);
  Add(const Add&) = delete;
  Add& operator=(const Add&) = delete;

  const dnnl::memory::desc& dst_md() const { return dst_md_; }
  bool fuse_relu() const { return static_cast<bool>(relu_bwd_); }
  // Whether dst may alias src0. Not with the ReLU post-op on a padded channel block: oneDNN
  // 2.6's jit binary then writes wrong values into the last block (found by the tests).
  bool supports_in_place() const { return in_place_; }
  size_t scratchpad_bytes() const;

  void forward(StepList& steps, const dnnl::memory& src0, const dnnl::memory& src1, const dnnl::memory& dst) const;
  // With a fused ReLU: diff = diff_dst where dst > 0, else 0 (diff may alias diff_dst); the
  // result is the diff of both inputs. Without one, adds no step: diff_dst is that diff.
  void backward_relu(StepList& steps, const dnnl::memory& dst, const dnnl::memory& diff_dst,
                     const dnnl::memory& diff) const;

 private:
  dnnl::memory::desc dst_md_;
  bool in_place_ = true;
  dnnl::binary::primitive_desc fwd_pd_;
  dnnl::eltwise_backward::primitive_desc relu_bwd_pd_;
  dnnl::binary fwd_;
  dnnl::eltwise_backward relu_bwd_;
};

}  // namespace bigbatch::backend::cpu
