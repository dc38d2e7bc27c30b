// oneDNN pooling for one shape: max (with its workspace of argmax positions), average, and
// global average (a window of the whole H×W). dst keeps the src's layout.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "bigbatch/backend/cpu/step.h"
#include "bigbatch/ops/pool.h"

namespace bigbatch::backend::cpu {

enum class PoolKind { max, avg, global_avg };

class Pool {
 public:
  // p is ignored for global_avg.
  Pool(PoolKind kind, const ops::PoolParams& p, const ops::Dims4& src_dims, const dnnl::memory::desc& src_md);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  const dnnl::memory::desc& dst_md() const { return dst_md_; }
  const ops::Dims4& dst_dims() const { return dst_dims_; }
  size_t scratchpad_bytes() const;

  void forward(StepList& steps, const dnnl::memory& src, const dnnl::memory& dst) const;
  // Max pooling routes each diff to the window's maximum recorded by the last forward.
  void backward(StepList& steps, const dnnl::memory& diff_dst, const dnnl::memory& diff_src) const;

 private:
  ops::Dims4 dst_dims_;
  dnnl::memory::desc src_md_, dst_md_;
  dnnl::pooling_forward::primitive_desc fwd_pd_;
  dnnl::pooling_backward::primitive_desc bwd_pd_;
  dnnl::pooling_forward fwd_;
  dnnl::pooling_backward bwd_;
  dnnl::memory workspace_;  // max pooling only
};

}  // namespace bigbatch::backend::cpu
