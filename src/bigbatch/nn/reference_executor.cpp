// ReferenceExecutor: one dense T array per node output and per node gradient, each node run
// by its op's reference loops. Fused ReLUs are applied as a separate step here, so this
// oracle does not depend on the ops' fused paths it is used to check.
#include "bigbatch/nn/reference_executor.h"

#include <algorithm>

#include "bigbatch/core/error.h"
#include "bigbatch/ops/add.h"
#include "bigbatch/ops/concat.h"
#include "bigbatch/ops/dropout.h"
#include "bigbatch/ops/relu.h"

namespace bigbatch::nn {

namespace {

size_t u(int64_t i) { return static_cast<size_t>(i); }

}  // namespace

template <class T>
ReferenceExecutor<T>::ReferenceExecutor(const ExecutorBindings& bindings, const ExecutorOptions& options)
    : exec_(bindings, options, "reference_executor"), graph_(*bindings.graph), bindings_(bindings), options_(options) {
  const Node& out = graph_.node(graph_.output());
  const int64_t groups = options.bn_group == 0 ? 1 : options.batch / options.bn_group;
  size_t largest = 0;
  for (const Node& n : graph_.nodes()) {
    const size_t count = u(options.batch * n.c * n.h * n.w);
    largest = std::max(largest, count);
    acts_.emplace_back(count);
    diffs_.emplace_back(count);
    save_mean_.emplace_back(n.kind == OpKind::batch_norm ? u(groups * n.c) : 0);
    save_invstd_.emplace_back(n.kind == OpKind::batch_norm ? u(groups * n.c) : 0);
  }
  scratch_.resize(largest);
  scratch2_.resize(largest);
  for (const ArenaEntry& e : graph_.parameter_layout()->entries()) {
    params_t_.emplace_back(u(e.shape.numel()));
    grads_t_.emplace_back(u(e.shape.numel()));
  }
  logits_ = Tensor::zeros(Shape{options.batch, out.c});
}

template <class T>
ops::DropoutKey ReferenceExecutor<T>::dropout_key(int id) const {
  return nn::dropout_key(forward_draw_, id);
}

template <class T>
std::vector<ops::Dims4> ReferenceExecutor<T>::input_dims(const Node& n) const {
  std::vector<ops::Dims4> d;
  for (int j : n.inputs) d.push_back(dims(j));
  return d;
}

template <class T>
ops::BatchNormParams ReferenceExecutor<T>::unfused_batch_norm(int id) const {
  ops::BatchNormParams p = exec_.batch_norm(id);
  p.fuse_relu = false;
  return p;
}

template <class T>
void ReferenceExecutor<T>::load_params() {
  for (size_t i = 0; i < params_t_.size(); ++i) {
    const float* p = bindings_.params->tensor(static_cast<int>(i)).template data<float>();
    std::copy(p, p + params_t_[i].size(), params_t_[i].begin());
  }
}

template <class T>
void ReferenceExecutor<T>::forward(const Tensor& src, bool training) {
  const Node& in = graph_.input_node();
  BIGBATCH_CHECK(src.dtype() == DType::f32 && src.shape() == Shape({options_.batch, in.c, in.h, in.w}),
                 "[reference_executor] forward expects an f32 src of "
                     << Shape({options_.batch, in.c, in.h, in.w}).to_string() << ", got " << dtype_name(src.dtype())
                     << " " << src.shape().to_string());
  load_params();
  if (training) forward_draw_ = dropout_draw();
  const float* s = src.data<float>();
  std::copy(s, s + src.numel(), acts_.front().begin());
  for (const Node& n : graph_.nodes()) forward_node(n, training);
  const std::vector<T>& out = logits_t();
  std::transform(out.begin(), out.end(), logits_.data<float>(), [](T x) { return static_cast<float>(x); });
  trained_forward_ = training;
}

template <class T>
void ReferenceExecutor<T>::forward_node(const Node& n, bool training) {
  const int id = static_cast<int>(&n - graph_.nodes().data());
  T* dst = acts_[u(id)].data();
  const int64_t count = static_cast<int64_t>(acts_[u(id)].size());
  auto src = [&](size_t k) { return acts_[u(n.inputs[k])].data(); };
  auto param = [&](int index) { return index < 0 ? nullptr : params_t_[u(index)].data(); };
  switch (n.kind) {
    case OpKind::input:
      break;
    case OpKind::conv2d:
      ops::conv2d_forward(std::get<ops::Conv2dParams>(n.params), dims(n.inputs[0]), src(0), param(n.weights),
                          param(n.bias), dst);
      break;
    case OpKind::batch_norm: {
      const ops::BatchNormParams p = unfused_batch_norm(id);  // the ReLU is applied below
      const Arena& buffers = *bindings_.buffers;
      float* rm = buffers.tensor(n.running_mean).data<float>();
      float* rv = buffers.tensor(n.running_var).data<float>();
      std::vector<T> mean(rm, rm + n.c), var(rv, rv + n.c);
      T* bn_dst = n.fuse_relu ? scratch_.data() : dst;
      if (training) {
        ops::batch_norm_forward_training(p, dims(id), src(0), param(n.gamma), param(n.beta), bn_dst,
                                         save_mean_[u(id)].data(), save_invstd_[u(id)].data(), mean.data(), var.data());
        std::transform(mean.begin(), mean.end(), rm, [](T x) { return static_cast<float>(x); });
        std::transform(var.begin(), var.end(), rv, [](T x) { return static_cast<float>(x); });
        buffers.tensor(n.num_batches_tracked).data<float>()[0] += 1.0f;
      } else {
        ops::batch_norm_forward_inference(p, dims(id), src(0), param(n.gamma), param(n.beta), mean.data(), var.data(),
                                          bn_dst);
      }
      if (n.fuse_relu) ops::relu_forward(count, bn_dst, dst);
      break;
    }
    case OpKind::relu:
      ops::relu_forward(count, src(0), dst);
      break;
    case OpKind::max_pool:
      ops::max_pool_forward(std::get<ops::PoolParams>(n.params), dims(n.inputs[0]), src(0), dst);
      break;
    case OpKind::avg_pool:
      ops::avg_pool_forward(std::get<ops::PoolParams>(n.params), dims(n.inputs[0]), src(0), dst);
      break;
    case OpKind::global_avg_pool:
      ops::global_avg_pool_forward(dims(n.inputs[0]), src(0), dst);
      break;
    case OpKind::linear:
      ops::linear_forward(std::get<ops::LinearParams>(n.params), options_.batch, src(0), param(n.weights),
                          param(n.bias), dst);
      break;
    case OpKind::add:
      if (n.fuse_relu) {
        ops::add_forward(count, src(0), src(1), scratch_.data());
        ops::relu_forward(count, scratch_.data(), dst);
      } else {
        ops::add_forward(count, src(0), src(1), dst);
      }
      break;
    case OpKind::concat: {
      std::vector<const T*> srcs;
      for (size_t k = 0; k < n.inputs.size(); ++k) srcs.push_back(src(k));
      ops::concat_forward<T>(input_dims(n), srcs, dst);
      break;
    }
    case OpKind::dropout:
      if (training) {
        ops::dropout_forward(std::get<ops::DropoutParams>(n.params), dropout_key(id), dims(id), src(0), dst);
      } else {
        std::copy(src(0), src(0) + count, dst);
      }
      break;
  }
}

template <class T>
void ReferenceExecutor<T>::backward(const Tensor& diff_logits, const GradsReadyHook& hook) {
  BIGBATCH_CHECK(diff_logits.dtype() == DType::f32 && diff_logits.shape() == logits_.shape(),
                 "[reference_executor] backward expects an f32 diff_logits of "
                     << logits_.shape().to_string() << ", got " << diff_logits.shape().to_string());
  const float* d = diff_logits.data<float>();
  backward_t(std::vector<T>(d, d + diff_logits.numel()), hook);
}

template <class T>
void ReferenceExecutor<T>::backward_t(const std::vector<T>& diff_logits, const GradsReadyHook& hook) {
  BIGBATCH_CHECK(trained_forward_, "[reference_executor] backward needs a training forward first");
  BIGBATCH_CHECK(bindings_.grads != nullptr, "[reference_executor] backward needs a bound grads arena");
  BIGBATCH_CHECK(diff_logits.size() == logits_t().size(), "[reference_executor] diff_logits has "
                                                              << diff_logits.size() << " values, expected "
                                                              << logits_t().size());
  for (std::vector<T>& d : diffs_) std::fill(d.begin(), d.end(), T(0));
  diffs_[u(graph_.output())] = diff_logits;
  // Every consumer has a larger id, so when node id is reached its diff is complete.
  for (int id = graph_.size() - 1; id > 0; --id) {
    const Node& n = graph_.node(id);
    backward_node(n);
    if (n.weights < 0 && n.gamma < 0) continue;
    for (int index : {n.weights, n.bias, n.gamma, n.beta}) {
      if (index < 0) continue;
      const std::vector<T>& g = grads_t_[u(index)];
      std::transform(g.begin(), g.end(), bindings_.grads->tensor(index).data<float>(),
                     [](T x) { return static_cast<float>(x); });
    }
    if (hook) hook(id);
  }
}

template <class T>
void ReferenceExecutor<T>::backward_node(const Node& n) {
  const int id = static_cast<int>(&n - graph_.nodes().data());
  const T* diff_dst = diffs_[u(id)].data();
  const int64_t count = static_cast<int64_t>(diffs_[u(id)].size());
  T* diff_src = scratch_.data();
  auto src = [&](size_t k) { return acts_[u(n.inputs[k])].data(); };
  auto param = [&](int index) { return index < 0 ? nullptr : params_t_[u(index)].data(); };
  auto grad = [&](int index) { return index < 0 ? nullptr : grads_t_[u(index)].data(); };
  switch (n.kind) {
    case OpKind::input:
      return;
    case OpKind::conv2d: {
      const auto& p = std::get<ops::Conv2dParams>(n.params);
      ops::conv2d_backward_weights(p, dims(n.inputs[0]), src(0), diff_dst, grad(n.weights), grad(n.bias));
      ops::conv2d_backward_data(p, dims(n.inputs[0]), diff_dst, param(n.weights), diff_src);
      break;
    }
    case OpKind::batch_norm: {
      const ops::BatchNormParams p = unfused_batch_norm(id);
      if (n.fuse_relu) {
        // The post-ReLU output is positive exactly where the BN output was.
        ops::relu_backward(count, acts_[u(id)].data(), diff_dst, scratch2_.data());
        diff_dst = scratch2_.data();
      }
      ops::batch_norm_backward(p, dims(id), src(0), acts_[u(id)].data(), diff_dst, param(n.gamma),
                               save_mean_[u(id)].data(), save_invstd_[u(id)].data(), diff_src, grad(n.gamma),
                               grad(n.beta));
      break;
    }
    case OpKind::relu:
      ops::relu_backward(count, acts_[u(id)].data(), diff_dst, diff_src);
      break;
    case OpKind::max_pool:
      ops::max_pool_backward(std::get<ops::PoolParams>(n.params), dims(n.inputs[0]), src(0), diff_dst, diff_src);
      break;
    case OpKind::avg_pool:
      ops::avg_pool_backward(std::get<ops::PoolParams>(n.params), dims(n.inputs[0]), diff_dst, diff_src);
      break;
    case OpKind::global_avg_pool:
      ops::global_avg_pool_backward(dims(n.inputs[0]), diff_dst, diff_src);
      break;
    case OpKind::linear: {
      const auto& p = std::get<ops::LinearParams>(n.params);
      ops::linear_backward_weights(p, options_.batch, src(0), diff_dst, grad(n.weights), grad(n.bias));
      ops::linear_backward_data(p, options_.batch, diff_dst, param(n.weights), diff_src);
      break;
    }
    case OpKind::add:
      // The sum passes its diff unchanged to both inputs (after the fused ReLU's mask).
      if (n.fuse_relu) {
        ops::relu_backward(count, acts_[u(id)].data(), diff_dst, diff_src);
      } else {
        std::copy(diff_dst, diff_dst + count, diff_src);
      }
      accumulate(n.inputs[1], diff_src);
      break;
    case OpKind::concat: {
      // Each input's slice, into a buffer of its own, then summed into its diff.
      std::vector<std::vector<T>> slices;
      std::vector<T*> targets;
      for (int j : n.inputs) slices.emplace_back(u(dims(j).numel()));
      for (std::vector<T>& slice : slices) targets.push_back(slice.data());
      ops::concat_backward<T>(input_dims(n), diff_dst, targets);
      for (size_t k = 0; k < n.inputs.size(); ++k) accumulate(n.inputs[k], slices[k].data());
      return;
    }
    case OpKind::dropout:
      ops::dropout_backward(std::get<ops::DropoutParams>(n.params), dropout_key(id), dims(id), diff_dst, diff_src);
      break;
  }
  accumulate(n.inputs[0], diff_src);
}

template <class T>
void ReferenceExecutor<T>::accumulate(int id, const T* diff) {
  // A node read by several consumers (a residual block's input) sums their diffs.
  std::vector<T>& d = diffs_[u(id)];
  for (size_t i = 0; i < d.size(); ++i) d[i] += diff[i];
}

template class ReferenceExecutor<float>;
template class ReferenceExecutor<double>;

template <class T>
std::unique_ptr<Executor> make_reference_executor(const ExecutorBindings& bindings, const ExecutorOptions& options) {
  return std::make_unique<ReferenceExecutor<T>>(bindings, options);
}

template std::unique_ptr<Executor> make_reference_executor<float>(const ExecutorBindings&, const ExecutorOptions&);
template std::unique_ptr<Executor> make_reference_executor<double>(const ExecutorBindings&, const ExecutorOptions&);

}  // namespace bigbatch::nn
