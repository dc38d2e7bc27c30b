// The dropout mask on the host, its product through oneDNN.
#include "bigbatch/backend/cpu/dropout.h"

#include <algorithm>

#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/backend/cpu/memory.h"

namespace bigbatch::backend::cpu {

Dropout::Dropout(const ops::DropoutParams& params, const ops::Dims4& dims, const memory::desc& src_md)
    : params_(params), dims_(dims), md_(src_md) {
  ops::check_dropout_params(params);
  const Context& ctx = context();
  const memory::desc mask_md = nchw_md(dims, memory::data_type::f32);
  mask_ = make_memory(mask_md);
  BIGBATCH_DNNL("[dropout] plan " + describe(src_md), {
    mul_pd_ =
        dnnl::binary::primitive_desc({dnnl::algorithm::binary_mul, md_, mask_md, md_}, scratchpad_attr(), ctx.engine);
    mul_ = dnnl::binary(mul_pd_);
    copy_pd_ = dnnl::reorder::primitive_desc(ctx.engine, md_, ctx.engine, md_, scratchpad_attr());
    copy_ = dnnl::reorder(copy_pd_);
  });
}

size_t Dropout::scratchpad_bytes() const {
  return std::max(mul_pd_.scratchpad_desc().get_size(), copy_pd_.scratchpad_desc().get_size());
}

void Dropout::forward_training(StepList& steps, const ops::DropoutKey* key, const memory& src,
                               const memory& dst) const {
  float* mask = static_cast<float*>(mask_.get_data_handle());
  steps.add_host([this, key, mask] {
    // The mask of ones: the reference op applied to 1 gives exactly 0 or 1/(1 − p).
    std::fill(mask, mask + dims_.numel(), 1.0f);
    ops::dropout_forward(params_, *key, dims_, mask, mask);
  });
  steps.add(mul_, {{DNNL_ARG_SRC_0, src}, {DNNL_ARG_SRC_1, mask_}, {DNNL_ARG_DST, dst}}, "[dropout] forward");
}

void Dropout::forward_inference(StepList& steps, const memory& src, const memory& dst) const {
  steps.add(copy_, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}}, "[dropout] inference copy");
}

void Dropout::backward(StepList& steps, const memory& diff_dst, const memory& diff_src) const {
  steps.add(mul_, {{DNNL_ARG_SRC_0, diff_dst}, {DNNL_ARG_SRC_1, mask_}, {DNNL_ARG_DST, diff_src}},
            "[dropout] backward");
}

}  // namespace bigbatch::backend::cpu
