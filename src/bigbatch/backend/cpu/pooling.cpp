// oneDNN pooling: max / average / global average, planned once per shape.
#include "bigbatch/backend/cpu/pooling.h"

#include <algorithm>

#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/backend/cpu/memory.h"

namespace bigbatch::backend::cpu {

Pool::Pool(PoolKind kind, const ops::PoolParams& params, const ops::Dims4& src_dims, const memory::desc& src_md)
    : src_md_(src_md) {
  ops::PoolParams p = params;
  if (kind == PoolKind::global_avg) {
    p = ops::PoolParams{src_dims.h, src_dims.w, 1, 1, 0, 0, false};
    dst_dims_ = {src_dims.n, src_dims.c, 1, 1};
  } else {
    dst_dims_ = ops::pool_dst_dims(p, src_dims);
  }
  dnnl::algorithm alg = dnnl::algorithm::pooling_max;
  if (kind != PoolKind::max)
    alg =
        p.exclude_padding ? dnnl::algorithm::pooling_avg_exclude_padding : dnnl::algorithm::pooling_avg_include_padding;
  const memory::dims strides = {p.stride_h, p.stride_w};
  const memory::dims kernel = {p.kernel_h, p.kernel_w};
  const memory::dims pad_l = {p.pad_h, p.pad_w};
  // Floor mode: the right padding that makes oneDNN's size formula exact (may be negative).
  const memory::dims pad_r = {(dst_dims_.h - 1) * p.stride_h + p.kernel_h - src_dims.h - p.pad_h,
                              (dst_dims_.w - 1) * p.stride_w + p.kernel_w - src_dims.w - p.pad_w};
  const auto dtype = static_cast<memory::data_type>(src_md.data.data_type);
  const Context& ctx = context();
  const dnnl::primitive_attr attr = scratchpad_attr();
  BIGBATCH_DNNL("[pool] plan " + src_dims.to_string() + " " + describe(src_md), {
    fwd_pd_ = dnnl::pooling_forward::primitive_desc(
        {dnnl::prop_kind::forward_training, alg, src_md, any_md(dst_dims_, dtype), strides, kernel, pad_l, pad_r}, attr,
        ctx.engine);
    fwd_ = dnnl::pooling_forward(fwd_pd_);
    dst_md_ = fwd_pd_.dst_desc();
    bwd_pd_ = dnnl::pooling_backward::primitive_desc({alg, src_md, dst_md_, strides, kernel, pad_l, pad_r}, attr,
                                                     ctx.engine, fwd_pd_);
    bwd_ = dnnl::pooling_backward(bwd_pd_);
  });
  if (kind == PoolKind::max) workspace_ = make_memory(fwd_pd_.workspace_desc());
}

size_t Pool::scratchpad_bytes() const {
  return std::max(fwd_pd_.scratchpad_desc().get_size(), bwd_pd_.scratchpad_desc().get_size());
}

void Pool::forward(StepList& steps, const memory& src, const memory& dst) const {
  ArgMap args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
  if (workspace_) args.emplace(DNNL_ARG_WORKSPACE, workspace_);
  steps.add(fwd_, std::move(args), "[pool] forward");
}

void Pool::backward(StepList& steps, const memory& diff_dst, const memory& diff_src) const {
  ArgMap args = {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_SRC, diff_src}};
  if (workspace_) args.emplace(DNNL_ARG_WORKSPACE, workspace_);
  steps.add(bwd_, std::move(args), "[pool] backward");
}

}  // namespace bigbatch::backend::cpu
