// oneDNN ReLU; backward uses eltwise_relu_use_dst_for_bwd so only dst is kept.
#include "bigbatch/backend/cpu/eltwise.h"

#include <algorithm>

#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/backend/cpu/memory.h"

namespace bigbatch::backend::cpu {

Relu::Relu(const memory::desc& md) : md_(md) {
  const Context& ctx = context();
  const dnnl::primitive_attr attr = scratchpad_attr();
  BIGBATCH_DNNL("[relu] plan " + describe(md), {
    fwd_pd_ = dnnl::eltwise_forward::primitive_desc(
        {dnnl::prop_kind::forward_training, dnnl::algorithm::eltwise_relu_use_dst_for_bwd, md, 0.0f, 0.0f}, attr,
        ctx.engine);
    fwd_ = dnnl::eltwise_forward(fwd_pd_);
    bwd_pd_ = dnnl::eltwise_backward::primitive_desc(
        {dnnl::algorithm::eltwise_relu_use_dst_for_bwd, md, md, 0.0f, 0.0f}, attr, ctx.engine, fwd_pd_);
    bwd_ = dnnl::eltwise_backward(bwd_pd_);
  });
}

size_t Relu::scratchpad_bytes() const {
  return std::max(fwd_pd_.scratchpad_desc().get_size(), bwd_pd_.scratchpad_desc().get_size());
}

void Relu::forward(StepList& steps, const memory& src, const memory& dst) const {
  steps.add(fwd_, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}}, "[relu] forward");
}

void Relu::backward(StepList& steps, const memory& dst, const memory& diff_dst, const memory& diff_src) const {
  steps.add(bwd_, {{DNNL_ARG_DST, dst}, {DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_SRC, diff_src}},
            "[relu] backward");
}

}  // namespace bigbatch::backend::cpu
