// Batch normalisation over ghost groups (RECIPE §6): our f32 loops (batch_norm_f32.cpp), or
// per-group oneDNN primitives on slices planned once; running statistics (and oneDNN's
// diff_gamma / diff_beta) reduced over groups on the host (C×groups values, negligible next to
// the normalisation itself).
#include "bigbatch/backend/cpu/batch_norm.h"

#include <algorithm>

#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/backend/cpu/memory.h"
#include "bigbatch/core/error.h"

namespace bigbatch::backend::cpu {

using dt = memory::data_type;
using flags = dnnl::normalization_flags;

namespace {

constexpr size_t kWorkspaceAlign = 64;

}  // namespace

BatchNorm::BatchNorm(const ops::BatchNormParams& p, const ops::Dims4& dims, const memory::desc& src_md)
    : p_(p), dims_(dims), md_(src_md) {
  groups_ = ops::batch_norm_groups(p, dims);
  group_ = dims.n / groups_;
  group_md_ = with_batch(md_, group_);
  param_md_ = memory::desc({dims.c}, dt::f32, memory::format_tag::a);
  const Context& ctx = context();
  const dnnl::primitive_attr attr = scratchpad_attr();
  const float eps = static_cast<float>(p.eps);
  flags f = flags::use_scale | flags::use_shift;
  if (p.fuse_relu) f = f | flags::fuse_norm_relu;

  const std::optional<BnLayout> layout = BnLayout::of(md_);
  BIGBATCH_DNNL("[batch_norm] plan " + dims.to_string() + " " + describe(md_), {
    infer_pd_ = dnnl::batch_normalization_forward::primitive_desc(
        {dnnl::prop_kind::forward_inference, md_, eps, f | flags::use_global_stats}, attr, ctx.engine);
    infer_ = dnnl::batch_normalization_forward(infer_pd_);
    if (!layout) {
      train_pd_ = dnnl::batch_normalization_forward::primitive_desc(
          {dnnl::prop_kind::forward_training, group_md_, eps, f}, attr, ctx.engine);
      train_ = dnnl::batch_normalization_forward(train_pd_);
      bwd_pd_ = dnnl::batch_normalization_backward::primitive_desc(
          {dnnl::prop_kind::backward, group_md_, group_md_, eps, f}, attr, ctx.engine, train_pd_);
      bwd_ = dnnl::batch_normalization_backward(bwd_pd_);
    }
  });

  const memory::desc stats_md({groups_, dims.c}, dt::f32, memory::format_tag::ab);
  mean_ = make_memory(stats_md);
  var_ = make_memory(stats_md);
  if (layout) {
    f32_.emplace(*layout, group_, p.eps, p.fuse_relu);
    invstd_ = make_memory(stats_md);
    return;
  }
  if (groups_ > 1) {
    diff_gamma_ = make_memory(stats_md);
    diff_beta_ = make_memory(stats_md);
  }
  if (p.fuse_relu) {
    const size_t ws = (train_pd_.workspace_desc().get_size() + kWorkspaceAlign - 1) / kWorkspaceAlign * kWorkspaceAlign;
    workspace_ = make_memory(
        memory::desc({static_cast<memory::dim>(ws * static_cast<size_t>(groups_))}, dt::u8, memory::format_tag::a));
  }
}

size_t BatchNorm::scratchpad_bytes() const {
  if (f32_) return infer_pd_.scratchpad_desc().get_size();
  return std::max({train_pd_.scratchpad_desc().get_size(), infer_pd_.scratchpad_desc().get_size(),
                   bwd_pd_.scratchpad_desc().get_size()});
}

namespace {

template <class T>
T* data_of(const memory& m) {
  return static_cast<T*>(m.get_data_handle());
}

}  // namespace

memory BatchNorm::slice(const memory& full, int64_t g) const {
  char* base = static_cast<char*>(full.get_data_handle());
  return make_memory(group_md_, base + static_cast<size_t>(g * group_) * batch_stride_bytes(md_));
}

memory BatchNorm::stat(const memory& all, int64_t g) const {
  return make_memory(param_md_, static_cast<float*>(all.get_data_handle()) + g * dims_.c);
}

void BatchNorm::forward_training(StepList& steps, const memory& src, const memory& gamma, const memory& beta,
                                 const memory& dst, const memory& running_mean, const memory& running_var) const {
  if (f32_) {
    const BatchNormF32* kernel = &*f32_;
    const float *x = data_of<const float>(src), *g = data_of<const float>(gamma), *b = data_of<const float>(beta);
    float *y = data_of<float>(dst), *mean = data_of<float>(mean_), *var = data_of<float>(var_);
    float* invstd = data_of<float>(invstd_);
    steps.add_host([=] { kernel->forward_training(x, g, b, y, mean, var, invstd); });
  } else {
    const size_t ws_bytes = p_.fuse_relu ? workspace_.get_desc().get_size() / static_cast<size_t>(groups_) : 0;
    for (int64_t g = 0; g < groups_; ++g) {
      ArgMap args = {{DNNL_ARG_SRC, slice(src, g)},   {DNNL_ARG_DST, slice(dst, g)},
                     {DNNL_ARG_SCALE, gamma},         {DNNL_ARG_SHIFT, beta},
                     {DNNL_ARG_MEAN, stat(mean_, g)}, {DNNL_ARG_VARIANCE, stat(var_, g)}};
      if (p_.fuse_relu)
        args.emplace(DNNL_ARG_WORKSPACE,
                     make_memory(train_pd_.workspace_desc(),
                                 static_cast<char*>(workspace_.get_data_handle()) + static_cast<size_t>(g) * ws_bytes));
      steps.add(train_, std::move(args), "[batch_norm] forward_training");
    }
  }
  // running = (1 - m)·running + m·mean_g(stat_g); the groups' variance is biased, the running
  // one is not (PyTorch), hence the factor count/(count - 1) over each group's count.
  const int64_t count = group_ * dims_.h * dims_.w;
  const float unbias = count > 1 ? static_cast<float>(count) / static_cast<float>(count - 1) : 1.0f;
  const float momentum = static_cast<float>(p_.momentum);
  const float inv_groups = 1.0f / static_cast<float>(groups_);
  const int64_t channels = dims_.c, groups = groups_;
  const float* mean = static_cast<const float*>(mean_.get_data_handle());
  const float* var = static_cast<const float*>(var_.get_data_handle());
  float* run_mean = static_cast<float*>(running_mean.get_data_handle());
  float* run_var = static_cast<float*>(running_var.get_data_handle());
  steps.add_host([=] {
    for (int64_t c = 0; c < channels; ++c) {
      float m = 0.0f, v = 0.0f;
      for (int64_t g = 0; g < groups; ++g) {
        m += mean[g * channels + c];
        v += var[g * channels + c];
      }
      run_mean[c] = (1.0f - momentum) * run_mean[c] + momentum * m * inv_groups;
      run_var[c] = (1.0f - momentum) * run_var[c] + momentum * v * inv_groups * unbias;
    }
  });
}

void BatchNorm::forward_inference(StepList& steps, const memory& src, const memory& gamma, const memory& beta,
                                  const memory& running_mean, const memory& running_var, const memory& dst) const {
  steps.add(infer_,
            {{DNNL_ARG_SRC, src},
             {DNNL_ARG_DST, dst},
             {DNNL_ARG_SCALE, gamma},
             {DNNL_ARG_SHIFT, beta},
             {DNNL_ARG_MEAN, running_mean},
             {DNNL_ARG_VARIANCE, running_var}},
            "[batch_norm] forward_inference");
}

void BatchNorm::backward(StepList& steps, const memory& src, const memory& diff_dst, const memory& gamma,
                         const memory& beta, const memory& diff_src, const memory& diff_gamma,
                         const memory& diff_beta) const {
  if (f32_) {
    const BatchNormF32* kernel = &*f32_;
    const float *x = data_of<const float>(src), *dy = data_of<const float>(diff_dst);
    const float *g = data_of<const float>(gamma), *b = data_of<const float>(beta);
    const float *mean = data_of<const float>(mean_), *invstd = data_of<const float>(invstd_);
    float *dx = data_of<float>(diff_src), *dg = data_of<float>(diff_gamma), *db = data_of<float>(diff_beta);
    steps.add_host([=] { kernel->backward(x, dy, g, b, mean, invstd, dx, dg, db); });
    return;
  }
  const size_t ws_bytes = p_.fuse_relu ? workspace_.get_desc().get_size() / static_cast<size_t>(groups_) : 0;
  for (int64_t g = 0; g < groups_; ++g) {
    ArgMap args = {{DNNL_ARG_SRC, slice(src, g)},
                   {DNNL_ARG_DIFF_DST, slice(diff_dst, g)},
                   {DNNL_ARG_DIFF_SRC, slice(diff_src, g)},
                   {DNNL_ARG_SCALE, gamma},
                   {DNNL_ARG_SHIFT, beta},
                   {DNNL_ARG_MEAN, stat(mean_, g)},
                   {DNNL_ARG_VARIANCE, stat(var_, g)},
                   {DNNL_ARG_DIFF_SCALE, groups_ > 1 ? stat(diff_gamma_, g) : diff_gamma},
                   {DNNL_ARG_DIFF_SHIFT, groups_ > 1 ? stat(diff_beta_, g) : diff_beta}};
    if (p_.fuse_relu)
      args.emplace(DNNL_ARG_WORKSPACE,
                   make_memory(train_pd_.workspace_desc(),
                               static_cast<char*>(workspace_.get_data_handle()) + static_cast<size_t>(g) * ws_bytes));
    steps.add(bwd_, std::move(args), "[batch_norm] backward");
  }
  if (groups_ == 1) return;
  const int64_t channels = dims_.c, groups = groups_;
  const float* dg = static_cast<const float*>(diff_gamma_.get_data_handle());
  const float* db = static_cast<const float*>(diff_beta_.get_data_handle());
  float* out_g = static_cast<float*>(diff_gamma.get_data_handle());
  float* out_b = static_cast<float*>(diff_beta.get_data_handle());
  steps.add_host([=] {
    for (int64_t c = 0; c < channels; ++c) {
      float sg = 0.0f, sb = 0.0f;
      for (int64_t g = 0; g < groups; ++g) {
        sg += dg[g * channels + c];
        sb += db[g * channels + c];
      }
      out_g[c] = sg;
      out_b[c] = sb;
    }
  });
}

}  // namespace bigbatch::backend::cpu
