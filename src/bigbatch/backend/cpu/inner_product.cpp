// oneDNN inner product (linear layer) planned once per shape, with the weights reorders that
// keep the arena in plain O×I f32.
#include "bigbatch/backend/cpu/inner_product.h"

#include <algorithm>

#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/backend/cpu/memory.h"
#include "bigbatch/core/error.h"

namespace bigbatch::backend::cpu {

using tag = memory::format_tag;
using dt = memory::data_type;

InnerProduct::InnerProduct(const ops::LinearParams& p, const memory::desc& src_md, dt dtype, dt dst_dtype,
                           bool backward_data)
    : p_(p), src_md_(src_md) {
  const memory::dims src_dims = src_md.dims();
  BIGBATCH_CHECK(src_dims.size() == 2 || src_dims.size() == 4, "[linear] src of rank " << src_dims.size());
  memory::dim features = 1;
  for (size_t i = 1; i < src_dims.size(); ++i) features *= src_dims[i];
  BIGBATCH_CHECK(features == p.in_features,
                 "[linear] expected " << p.in_features << " input features, got " << features);
  // Weights O×C×H×W in OIHW are the same bytes as O×(C·H·W): PyTorch's flatten order.
  memory::dims weights_dims = src_dims;
  weights_dims[0] = p.out_features;
  weights_plain_md_ = plain_md(weights_dims, dt::f32);
  if (p.bias) bias_md_ = memory::desc({p.out_features}, dt::f32, tag::a);
  const memory::desc weights_any(weights_dims, dtype, tag::any);
  dst_md_ = memory::desc({src_dims[0], p.out_features}, dst_dtype, tag::ab);
  const memory::desc diff_dst_md({src_dims[0], p.out_features}, dtype, tag::ab);
  const Context& ctx = context();
  const dnnl::primitive_attr attr = scratchpad_attr();

  BIGBATCH_DNNL("[linear] forward plan " + describe(src_md), {
    fwd_pd_ = dnnl::inner_product_forward::primitive_desc(
        {dnnl::prop_kind::forward_training, src_md, weights_any, bias_md_, dst_md_}, attr, ctx.engine);
    fwd_ = dnnl::inner_product_forward(fwd_pd_);
    weights_reorder_ = dnnl::reorder(
        dnnl::reorder::primitive_desc(ctx.engine, weights_plain_md_, ctx.engine, fwd_pd_.weights_desc(), attr));
  });
  weights_ = make_memory(fwd_pd_.weights_desc());

  if (backward_data) {
    BIGBATCH_DNNL("[linear] backward_data plan " + describe(src_md), {
      bwd_data_pd_ = dnnl::inner_product_backward_data::primitive_desc({src_md, weights_any, diff_dst_md}, attr,
                                                                       ctx.engine, fwd_pd_);
      bwd_data_ = dnnl::inner_product_backward_data(bwd_data_pd_);
      if (bwd_data_pd_.weights_desc() != fwd_pd_.weights_desc())
        bwd_weights_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(ctx.engine, weights_plain_md_, ctx.engine,
                                                                           bwd_data_pd_.weights_desc(), attr));
    });
    if (bwd_weights_reorder_) bwd_data_weights_ = make_memory(bwd_data_pd_.weights_desc());
  }

  BIGBATCH_DNNL("[linear] backward_weights plan " + describe(src_md), {
    bwd_weights_pd_ = dnnl::inner_product_backward_weights::primitive_desc(
        {src_md, memory::desc(weights_dims, dt::f32, tag::any), bias_md_, diff_dst_md}, attr, ctx.engine, fwd_pd_);
    bwd_weights_ = dnnl::inner_product_backward_weights(bwd_weights_pd_);
    if (bwd_weights_pd_.diff_weights_desc() != weights_plain_md_)
      diff_weights_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(
          ctx.engine, bwd_weights_pd_.diff_weights_desc(), ctx.engine, weights_plain_md_, attr));
    if (dst_dtype != dtype)
      diff_dst_reorder_ =
          dnnl::reorder(dnnl::reorder::primitive_desc(ctx.engine, dst_md_, ctx.engine, diff_dst_md, attr));
  });
  if (diff_weights_reorder_) diff_weights_ = make_memory(bwd_weights_pd_.diff_weights_desc());
  if (diff_dst_reorder_) diff_dst_ = make_memory(diff_dst_md);
}

size_t InnerProduct::staging_bytes() const {
  size_t bytes = fwd_pd_.weights_desc().get_size();
  if (bwd_data_) bytes = std::max(bytes, bwd_data_pd_.weights_desc().get_size());
  return std::max(bytes, bwd_weights_pd_.diff_weights_desc().get_size());
}

void InnerProduct::set_staging(void* buffer) {
  const Context& ctx = context();
  weights_ = make_memory(fwd_pd_.weights_desc(), buffer);
  if (bwd_data_) {
    bwd_data_weights_ = make_memory(bwd_data_pd_.weights_desc(), buffer);
    if (!bwd_weights_reorder_)
      BIGBATCH_DNNL("[linear] backward_data weights reorder plan",
                    bwd_weights_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(
                        ctx.engine, weights_plain_md_, ctx.engine, bwd_data_pd_.weights_desc(), scratchpad_attr())));
  }
  if (diff_weights_reorder_) diff_weights_ = make_memory(bwd_weights_pd_.diff_weights_desc(), buffer);
}

size_t InnerProduct::scratchpad_bytes() const {
  size_t bytes = std::max(fwd_pd_.scratchpad_desc().get_size(), bwd_weights_pd_.scratchpad_desc().get_size());
  if (bwd_data_) bytes = std::max(bytes, bwd_data_pd_.scratchpad_desc().get_size());
  return bytes;
}

void InnerProduct::forward(StepList& steps, const memory& src, const memory& weights, const memory& bias,
                           const memory& dst) const {
  steps.add(weights_reorder_, {{DNNL_ARG_FROM, weights}, {DNNL_ARG_TO, weights_}}, "[linear] weights reorder");
  ArgMap args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights_}, {DNNL_ARG_DST, dst}};
  if (p_.bias) args.emplace(DNNL_ARG_BIAS, bias);
  steps.add(fwd_, std::move(args), "[linear] forward");
}

memory InnerProduct::compute_diff_dst(StepList& steps, const memory& diff_dst) const {
  if (!diff_dst_reorder_) return diff_dst;
  steps.add(diff_dst_reorder_, {{DNNL_ARG_FROM, diff_dst}, {DNNL_ARG_TO, diff_dst_}}, "[linear] diff_dst reorder");
  return diff_dst_;
}

void InnerProduct::backward_data(StepList& steps, const memory& diff_dst, const memory& weights,
                                 const memory& diff_src) const {
  BIGBATCH_CHECK(bwd_data_, "[linear] backward_data was not planned");
  memory bwd_weights = weights_;
  if (bwd_weights_reorder_) {
    steps.add(bwd_weights_reorder_, {{DNNL_ARG_FROM, weights}, {DNNL_ARG_TO, bwd_data_weights_}},
              "[linear] backward_data weights reorder");
    bwd_weights = bwd_data_weights_;
  }
  steps.add(bwd_data_,
            {{DNNL_ARG_DIFF_DST, compute_diff_dst(steps, diff_dst)},
             {DNNL_ARG_WEIGHTS, bwd_weights},
             {DNNL_ARG_DIFF_SRC, diff_src}},
            "[linear] backward_data");
}

void InnerProduct::backward_weights(StepList& steps, const memory& src, const memory& diff_dst,
                                    const memory& diff_weights, const memory& diff_bias) const {
  ArgMap args = {{DNNL_ARG_SRC, src},
                 {DNNL_ARG_DIFF_DST, compute_diff_dst(steps, diff_dst)},
                 {DNNL_ARG_DIFF_WEIGHTS, diff_weights_reorder_ ? diff_weights_ : diff_weights}};
  if (p_.bias) args.emplace(DNNL_ARG_DIFF_BIAS, diff_bias);
  steps.add(bwd_weights_, std::move(args), "[linear] backward_weights");
  if (diff_weights_reorder_)
    steps.add(diff_weights_reorder_, {{DNNL_ARG_FROM, diff_weights_}, {DNNL_ARG_TO, diff_weights}},
              "[linear] diff_weights reorder");
}

}  // namespace bigbatch::backend::cpu
