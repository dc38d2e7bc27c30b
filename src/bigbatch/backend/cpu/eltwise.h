// oneDNN ReLU for one layout: forward, and backward from the forward's dst (so src need not
// be kept). Works in place (dst may alias src; diff_src may alias diff_dst).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "bigbatch/backend/cpu/step.h"

namespace bigbatch::backend::cpu {

class Relu {
 public:
  explicit Relu(const dnnl::memory::desc& md);
  Relu(const Relu&) = delete;
  Relu& operator=(const Relu&) = delete;

  const dnnl::memory::desc& dst_md() const { return md_; }
  size_t scratchpad_bytes() const;

  void forward(StepList& steps, const dnnl::memory& src, const dnnl::memory& dst) const;
  // diff_src = diff_dst where dst > 0, else 0.
  void backward(StepList& steps, const dnnl::memory& dst, const dnnl::memory& diff_dst,
                const dnnl::memory& diff_src) const;

 private:
  dnnl::memory::desc md_;
  dnnl::eltwise_forward::primitive_desc fwd_pd_;
  dnnl::eltwise_backward::primitive_desc bwd_pd_;
  dnnl::eltwise_forward fwd_;
  dnnl::eltwise_backward bwd_;
};

}  // namespace bigbatch::backend::cpu
