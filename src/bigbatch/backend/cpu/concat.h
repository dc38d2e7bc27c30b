// oneDNN channel concatenation for one set of shapes. dst takes a layout in which each input's
// channels are a view (a submemory), so that backward is one reorder per input from its slice
// of diff_dst. oneDNN picks dst's layout; where a slice of it would be no valid view (a blocked
// layout whose block does not divide an input's channel offset), dst is plain NCHW instead.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "bigbatch/backend/cpu/reorder.h"
#include "bigbatch/backend/cpu/step.h"

namespace bigbatch::backend::cpu {

class Concat {
 public:
  Concat(const std::vector<dnnl::memory::desc>& src_mds, dnnl::memory::data_type dtype);
  Concat(const Concat&) = delete;
  Concat& operator=(const Concat&) = delete;

  const dnnl::memory::desc& dst_md() const { return dst_md_; }
  size_t scratchpad_bytes() const;
  void forward(StepList& steps, const std::vector<dnnl::memory>& srcs, const dnnl::memory& dst) const;
  // diff_src of input k (in that input's layout) = its channels of diff_dst; overwrites.
  void backward(StepList& steps, const dnnl::memory& diff_dst, size_t k, const dnnl::memory& diff_src) const;

 private:
  dnnl::memory::desc dst_md_;
  std::vector<dnnl::memory::desc> slices_;  // input k's channels of dst, as a view
  dnnl::concat::primitive_desc pd_;
  dnnl::concat concat_;
  std::vector<Reorder> backward_;  // slice k -> input k's layout
};

}  // namespace bigbatch::backend::cpu
