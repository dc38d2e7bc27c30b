// oneDNN binary add with a ReLU post-op, and the ReLU's backward from dst.
#include "bigbatch/backend/cpu/binary.h"

#include <algorithm>

#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/backend/cpu/memory.h"

namespace bigbatch::backend::cpu {

Add::Add(const memory::desc& src0_md, const memory::desc& src1_md, bool fuse_relu) : dst_md_(src0_md) {
  const dnnl_memory_desc_t& d = dst_md_.data;
  for (int i = 0; i < d.ndims; ++i)
    if (fuse_relu && d.padded_dims[i] != d.dims[i]) in_place_ = false;
  const Context& ctx = context();
  BIGBATCH_DNNL("[add] plan " + describe(src0_md) + " + " + describe(src1_md), {
    fwd_pd_ = dnnl::binary::primitive_desc({dnnl::algorithm::binary_add, src0_md, src1_md, dst_md_},
                                           fuse_relu ? relu_post_op_attr() : scratchpad_attr(), ctx.engine);
    fwd_ = dnnl::binary(fwd_pd_);
    if (fuse_relu) {
      // The backward of the post-op alone; a forward pd is needed only as oneDNN's hint.
      const dnnl::eltwise_forward::primitive_desc hint(
          {dnnl::prop_kind::forward_training, dnnl::algorithm::eltwise_relu_use_dst_for_bwd, dst_md_, 0.0f, 0.0f},
          ctx.engine);
      relu_bwd_pd_ = dnnl::eltwise_backward::primitive_desc(
          {dnnl::algorithm::eltwise_relu_use_dst_for_bwd, dst_md_, dst_md_, 0.0f, 0.0f}, scratchpad_attr(), ctx.engine,
          hint);
      relu_bwd_ = dnnl::eltwise_backward(relu_bwd_pd_);
    }
  });
}

size_t Add::scratchpad_bytes() const {
  size_t bytes = fwd_pd_.scratchpad_desc().get_size();
  if (relu_bwd_) bytes = std::max(bytes, relu_bwd_pd_.scratchpad_desc().get_size());
  return bytes;
}

void Add::forward(StepList& steps, const memory& src0, const memory& src1, const memory& dst) const {
  steps.add(fwd_, {{DNNL_ARG_SRC_0, src0}, {DNNL_ARG_SRC_1, src1}, {DNNL_ARG_DST, dst}}, "[add] forward");
}

void Add::backward_relu(StepList& steps, const memory& dst, const memory& diff_dst, const memory& diff) const {
  if (!relu_bwd_) return;
  steps.add(relu_bwd_, {{DNNL_ARG_DST, dst}, {DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_SRC, diff}},
            "[add] relu backward");
}

}  // namespace bigbatch::backend::cpu
