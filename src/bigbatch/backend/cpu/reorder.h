// Data movement between layouts: a planned reorder (layout and/or dtype change, at the
// network's edges), and an in-place accumulation dst += src (diffs of fanned-out nodes).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "bigbatch/backend/cpu/step.h"

namespace bigbatch::backend::cpu {

class Reorder {
 public:
  Reorder(const dnnl::memory::desc& src_md, const dnnl::memory::desc& dst_md);

  size_t scratchpad_bytes() const;
  void forward(StepList& steps, const dnnl::memory& src, const dnnl::memory& dst) const;

 private:
  dnnl::reorder::primitive_desc pd_;
  dnnl::reorder reorder_;
};

// dst = dst + src in place (same dims; src may have another layout). A binary add: oneDNN's
// sum primitive runs a slower generic kernel for two inputs.
class Accumulate {
 public:
  Accumulate(const dnnl::memory::desc& dst_md, const dnnl::memory::desc& src_md);

  size_t scratchpad_bytes() const;
  void forward(StepList& steps, const dnnl::memory& dst, const dnnl::memory& src) const;

 private:
  dnnl::binary::primitive_desc pd_;
  dnnl::binary add_;
};

}  // namespace bigbatch::backend::cpu
