// oneDNN convolution: primitive descriptors planned once per shape, with the weights
// reorders that keep the arena in plain OIHW f32.
#include "bigbatch/backend/cpu/conv2d.h"

#include <algorithm>

#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/backend/cpu/memory.h"
#include "bigbatch/core/error.h"

namespace bigbatch::backend::cpu {

using tag = memory::format_tag;
using dt = memory::data_type;

Conv2d::Conv2d(const ops::Conv2dParams& p, const ops::Dims4& src_dims, dt dtype, const memory::desc& src_md,
               bool backward_data)
    : p_(p), dst_dims_(ops::conv2d_dst_dims(p, src_dims)) {
  const Context& ctx = context();
  const memory::dims strides = {p.stride_h, p.stride_w};
  const memory::dims pad_l = {p.pad_h, p.pad_w};
  // oneDNN wants the padding that makes its output size formula exact (floor mode); it may
  // be negative on the right when the last window would not fit.
  const memory::dims pad_r = {(dst_dims_.h - 1) * p.stride_h + p.kernel_h - src_dims.h - p.pad_h,
                              (dst_dims_.w - 1) * p.stride_w + p.kernel_w - src_dims.w - p.pad_w};
  const memory::dims weights_dims = {p.out_channels, p.in_channels, p.kernel_h, p.kernel_w};
  weights_plain_md_ = memory::desc(weights_dims, dt::f32, tag::oihw);
  if (p.bias) bias_md_ = memory::desc({p.out_channels}, dt::f32, tag::a);
  const memory::desc weights_any(weights_dims, dtype, tag::any);
  const memory::desc dst_any = any_md(dst_dims_, dtype);
  const dnnl::primitive_attr attr = scratchpad_attr();

  BIGBATCH_DNNL("[conv2d] forward plan " + src_dims.to_string(), {
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                      src_md, weights_any, bias_md_, dst_any, strides, pad_l, pad_r);
    fwd_pd_ = dnnl::convolution_forward::primitive_desc(d, attr, ctx.engine);
    fwd_ = dnnl::convolution_forward(fwd_pd_);
  });
  src_md_ = fwd_pd_.src_desc();
  dst_md_ = fwd_pd_.dst_desc();
  weights_ = make_memory(fwd_pd_.weights_desc());
  BIGBATCH_DNNL("[conv2d] weights reorder plan",
                weights_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(
                    ctx.engine, weights_plain_md_, ctx.engine, fwd_pd_.weights_desc(), attr)));

  if (backward_data) {
    BIGBATCH_DNNL("[conv2d] backward_data plan " + src_dims.to_string(), {
      dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, src_md_, weights_any, dst_md_,
                                              strides, pad_l, pad_r);
      bwd_data_pd_ = dnnl::convolution_backward_data::primitive_desc(d, attr, ctx.engine, fwd_pd_);
      bwd_data_ = dnnl::convolution_backward_data(bwd_data_pd_);
    });
    if (bwd_data_pd_.weights_desc() != fwd_pd_.weights_desc()) {
      bwd_data_weights_ = make_memory(bwd_data_pd_.weights_desc());
      BIGBATCH_DNNL("[conv2d] backward_data weights reorder plan",
                    bwd_weights_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(
                        ctx.engine, weights_plain_md_, ctx.engine, bwd_data_pd_.weights_desc(), attr)));
    }
  }

  BIGBATCH_DNNL("[conv2d] backward_weights plan " + src_dims.to_string(), {
    const memory::desc diff_weights_any(weights_dims, dt::f32, tag::any);
    dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, src_md_, diff_weights_any,
                                               bias_md_, dst_md_, strides, pad_l, pad_r);
    bwd_weights_pd_ = dnnl::convolution_backward_weights::primitive_desc(d, attr, ctx.engine, fwd_pd_);
    bwd_weights_ = dnnl::convolution_backward_weights(bwd_weights_pd_);
  });
  if (bwd_weights_pd_.diff_weights_desc() != weights_plain_md_) {
    diff_weights_ = make_memory(bwd_weights_pd_.diff_weights_desc());
    BIGBATCH_DNNL("[conv2d] diff_weights reorder plan",
                  diff_weights_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(
                      ctx.engine, bwd_weights_pd_.diff_weights_desc(), ctx.engine, weights_plain_md_, attr)));
  }
}

size_t Conv2d::scratchpad_bytes() const {
  size_t bytes = std::max(fwd_pd_.scratchpad_desc().get_size(), bwd_weights_pd_.scratchpad_desc().get_size());
  if (bwd_data_) bytes = std::max(bytes, bwd_data_pd_.scratchpad_desc().get_size());
  return bytes;
}

void Conv2d::forward(StepList& steps, const memory& src, const memory& weights, const memory& bias,
                     const memory& dst) const {
  steps.add(weights_reorder_, {{DNNL_ARG_FROM, weights}, {DNNL_ARG_TO, weights_}}, "[conv2d] weights reorder");
  ArgMap args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst}};
  if (p_.bias) args.emplace(DNNL_ARG_BIAS, bias);
  steps.add(fwd_, std::move(args), "[conv2d] forward");
}

void Conv2d::backward_data(StepList& steps, const memory& diff_dst, const memory& weights,
                           const memory& diff_src) const {
  BIGBATCH_CHECK(bwd_data_, "[conv2d] backward_data was not planned");
  memory bwd_weights = weights_;
  if (bwd_weights_reorder_) {
    steps.add(bwd_weights_reorder_, {{DNNL_ARG_FROM, weights}, {DNNL_ARG_TO, bwd_data_weights_}},
              "[conv2d] backward_data weights reorder");
    bwd_weights = bwd_data_weights_;
  }
  steps.add(bwd_data_, {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_WEIGHTS, bwd_weights}, {DNNL_ARG_DIFF_SRC, diff_src}},
            "[conv2d] backward_data");
}

void Conv2d::backward_weights(StepList& steps, const memory& src, const memory& diff_dst,
                              const memory& diff_weights, const memory& diff_bias) const {
  ArgMap args = {{DNNL_ARG_SRC, src},
                 {DNNL_ARG_DIFF_DST, diff_dst},
                 {DNNL_ARG_DIFF_WEIGHTS, diff_weights_reorder_ ? diff_weights_ : diff_weights}};
  if (p_.bias) args.emplace(DNNL_ARG_DIFF_BIAS, diff_bias);
  steps.add(bwd_weights_, std::move(args), "[conv2d] backward_weights");
  if (diff_weights_reorder_)
    steps.add(diff_weights_reorder_, {{DNNL_ARG_FROM, diff_weights_}, {DNNL_ARG_TO, diff_weights}},
              "[conv2d] diff_weights reorder");
}

}  // namespace bigbatch::backend::cpu
