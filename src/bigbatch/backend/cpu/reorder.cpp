// Planned reorders and in-place accumulations.
#include "bigbatch/backend/cpu/reorder.h"

#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/backend/cpu/memory.h"

namespace bigbatch::backend::cpu {

Reorder::Reorder(const memory::desc& src_md, const memory::desc& dst_md) {
  const Context& ctx = context();
  BIGBATCH_DNNL("[reorder] plan " + describe(src_md) + " -> " + describe(dst_md), {
    pd_ = dnnl::reorder::primitive_desc(ctx.engine, src_md, ctx.engine, dst_md, scratchpad_attr());
    reorder_ = dnnl::reorder(pd_);
  });
}

size_t Reorder::scratchpad_bytes() const { return pd_.scratchpad_desc().get_size(); }

void Reorder::forward(StepList& steps, const memory& src, const memory& dst) const {
  steps.add(reorder_, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}}, "[reorder] forward");
}

Accumulate::Accumulate(const memory::desc& dst_md, const memory::desc& src_md) {
  const Context& ctx = context();
  BIGBATCH_DNNL("[accumulate] plan " + describe(dst_md) + " += " + describe(src_md), {
    pd_ = dnnl::binary::primitive_desc({dnnl::algorithm::binary_add, dst_md, src_md, dst_md}, scratchpad_attr(),
                                       ctx.engine);
    add_ = dnnl::binary(pd_);
  });
}

size_t Accumulate::scratchpad_bytes() const { return pd_.scratchpad_desc().get_size(); }

void Accumulate::forward(StepList& steps, const memory& dst, const memory& src) const {
  steps.add(add_, {{DNNL_ARG_SRC_0, dst}, {DNNL_ARG_SRC_1, src}, {DNNL_ARG_DST, dst}}, "[accumulate] forward");
}

}  // namespace bigbatch::backend::cpu
