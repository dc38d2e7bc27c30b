// oneDNN concat forward; backward as reorders from views of diff_dst.
#include "bigbatch/backend/cpu/concat.h"

#include <algorithm>

#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/backend/cpu/memory.h"
#include "bigbatch/core/error.h"

namespace bigbatch::backend::cpu {

namespace {

// Input k's channels of dst as views; empty when some slice is no valid submemory of dst_md.
std::vector<memory::desc> channel_slices(const memory::desc& dst_md, const std::vector<memory::desc>& src_mds) {
  std::vector<memory::desc> slices;
  memory::dim offset = 0;
  try {
    for (const memory::desc& md : src_mds) {
      const memory::dims dims = md.dims();
      slices.push_back(dst_md.submemory_desc(dims, {0, offset, 0, 0}));
      offset += dims[1];
    }
  } catch (const dnnl::error&) {
    return {};
  }
  return slices;
}

}  // namespace

Concat::Concat(const std::vector<memory::desc>& src_mds, memory::data_type dtype) {
  BIGBATCH_CHECK(src_mds.size() >= 2, "[concat] needs two inputs or more, got " << src_mds.size());
  const Context& ctx = context();
  BIGBATCH_DNNL("[concat] plan " + describe(src_mds.front()) + " + ...", {
    pd_ = dnnl::concat::primitive_desc(1, src_mds, ctx.engine, scratchpad_attr());
    slices_ = channel_slices(pd_.dst_desc(), src_mds);
    if (slices_.empty()) {
      memory::dims dims = pd_.dst_desc().dims();
      const memory::desc plain = nchw_md({dims[0], dims[1], dims[2], dims[3]}, dtype);
      pd_ = dnnl::concat::primitive_desc(plain, 1, src_mds, ctx.engine, scratchpad_attr());
      slices_ = channel_slices(plain, src_mds);
    }
    concat_ = dnnl::concat(pd_);
  });
  dst_md_ = pd_.dst_desc();
  BIGBATCH_CHECK(slices_.size() == src_mds.size(),
                 "[concat] no layout of " << describe(dst_md_) << " whose channel slices are views");
  backward_.reserve(src_mds.size());
  for (size_t k = 0; k < src_mds.size(); ++k) backward_.emplace_back(slices_[k], src_mds[k]);
}

size_t Concat::scratchpad_bytes() const {
  size_t bytes = pd_.scratchpad_desc().get_size();
  for (const Reorder& r : backward_) bytes = std::max(bytes, r.scratchpad_bytes());
  return bytes;
}

void Concat::forward(StepList& steps, const std::vector<memory>& srcs, const memory& dst) const {
  ArgMap args{{DNNL_ARG_DST, dst}};
  for (size_t k = 0; k < srcs.size(); ++k) args.emplace(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(k), srcs[k]);
  steps.add(concat_, std::move(args), "[concat] forward");
}

void Concat::backward(StepList& steps, const memory& diff_dst, size_t k, const memory& diff_src) const {
  backward_[k].forward(steps, make_memory(slices_[k], diff_dst.get_data_handle()), diff_src);
}

}  // namespace bigbatch::backend::cpu
