// The GPU executor over device arenas. One kernel object and one activation slot per node,
// diff slots shared by liveness (nn/interval_plan), all sized at construction; a step
// allocates nothing. Diffs are routed without zeroing, as the ExecutionPlan says: the first
// consumer (in backward order) of a node overwrites its diff, later ones add to it.
#include <algorithm>
#include <cstring>

#include "bigbatch/backend/cuda/check.h"
#include "bigbatch/backend/cuda/concat.h"
#include "bigbatch/backend/cuda/device.h"
#include "bigbatch/backend/cuda/dropout.h"
#include "bigbatch/backend/cuda/eltwise.h"
#include "bigbatch/core/error.h"
#include "bigbatch/nn/cuda_executor_impl.h"
#include "bigbatch/nn/interval_plan.h"

namespace bigbatch::nn {

namespace cuda_plan {

namespace {

constexpr size_t kAlign = 256;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }
size_t u(int64_t v) { return static_cast<size_t>(v); }

}  // namespace

CudaExecutorImpl::CudaExecutorImpl(const ExecutorBindings& bindings, const ExecutorOptions& options,
                                   const CudaOptions& cuda)
    : exec_(bindings, options, "cuda_executor"),
      graph_(*bindings.graph),
      bindings_(bindings),
      options_(options),
      cuda_(cuda),
      dtype_(options.precision),
      layout_(cuda.nhwc ? cuda::Layout::nhwc : cuda::Layout::nchw),
      ctx_(cuda.device) {
  BIGBATCH_CHECK(!cuda.tf32 || dtype_ == DType::f32, "[cuda_executor] TF32 applies to f32 only");
  auto on_gpu = [](const Arena* a) { return a == nullptr || a->device() == Device::cuda; };
  BIGBATCH_CHECK(on_gpu(bindings.params) && on_gpu(bindings.grads) && on_gpu(bindings.buffers),
                 "[cuda_executor] the arenas must live on the GPU (nn::make_arena(layout, Device::cuda))");
  plan_params();
  plan_nodes();
  const Node& in = graph_.input_node();
  input_f32_ = cuda::DeviceBuffer(u(options.batch * in.c * in.h * in.w) * sizeof(float));
  const size_t logits_bytes = u(options.batch * graph_.output_columns()) * sizeof(float);
  logits_f32_ = cuda::DeviceBuffer(logits_bytes);
  diff_logits_f32_ = cuda::DeviceBuffer(logits_bytes);
  logits_ = Tensor::zeros(Shape{options.batch, graph_.output_columns()});
}

void CudaExecutorImpl::plan_params() {
  const ArenaLayout& layout = *graph_.parameter_layout();
  param_plans_.resize(u(layout.size()));
  for (const Node& n : graph_.nodes())
    if (n.kind == OpKind::conv2d) {
      ParamPlan& pp = param_plans_[u(n.weights)];
      const Shape& s = layout.entry(n.weights).shape;
      pp.conv_filter = true;
      pp.oihw = {s[0], s[1], s[2], s[3]};
    }
  size_t bytes = 0;
  for (int i = 0; i < layout.size(); ++i) {
    const TensorRole role = layout.entry(i).role;
    ParamPlan& pp = param_plans_[u(i)];
    // BN's γ and β stay f32 (the BN kernels read f32); weights and biases follow the dtype,
    // and conv filters the layout's filter format.
    const bool bn = role == TensorRole::bn_gamma || role == TensorRole::bn_beta;
    pp.converted = !bn && (dtype_ != DType::f32 || (pp.conv_filter && layout_ == cuda::Layout::nhwc));
    if (!pp.converted) continue;
    pp.offset = bytes;
    bytes += align_up(u(layout.entry(i).shape.numel()) * dtype_size(dtype_));
  }
  param_t_ = cuda::DeviceBuffer(bytes);
  grad_t_ = cuda::DeviceBuffer(bytes);
}

void CudaExecutorImpl::plan_nodes() {
  nodes_.resize(u(graph_.size()));
  size_t act_bytes = 0, diff_bytes = 0, workspace = 0;
  const bool tf32 = cuda_.tf32;
  for (int id = 0; id < graph_.size(); ++id) {
    const Node& n = graph_.node(id);
    NodePlan& p = plan(id);
    p.dims = {options_.batch, n.c, n.h, n.w};
    const ops::Dims4 in = n.inputs.empty() ? p.dims : plan(n.inputs[0]).dims;
    switch (n.kind) {
      case OpKind::input:
      case OpKind::relu:
      case OpKind::global_avg_pool:
      case OpKind::add:
      case OpKind::dropout:
        break;
      case OpKind::concat:
        for (int j : n.inputs) p.concat_inputs.push_back(plan(j).dims);
        break;
      case OpKind::conv2d:
        p.conv = std::make_unique<cuda::Conv2d>(ctx_, std::get<ops::Conv2dParams>(n.params), in, dtype_, layout_, tf32);
        workspace = std::max(workspace, p.conv->workspace_bytes());
        break;
      case OpKind::batch_norm: {
        p.bn = std::make_unique<cuda::BatchNorm>(exec_.batch_norm(id), p.dims, dtype_, layout_);
        break;
      }
      case OpKind::max_pool:
      case OpKind::avg_pool:
        p.pool = std::make_unique<cuda::Pool>(n.kind == OpKind::max_pool ? cuda::PoolKind::max : cuda::PoolKind::avg,
                                              std::get<ops::PoolParams>(n.params), in, dtype_, layout_);
        break;
      case OpKind::linear:
        // The fc layer reads its src as N×(C·H·W) in NCHW order; NHWC is the same only at 1×1.
        BIGBATCH_CHECK(layout_ == cuda::Layout::nchw || (in.h == 1 && in.w == 1),
                       "[cuda_executor] NHWC needs the fc layer '" << n.name << "' after global pooling");
        p.linear = std::make_unique<cuda::Linear>(std::get<ops::LinearParams>(n.params), options_.batch, dtype_, tf32);
        break;
    }
    for (int index : {n.weights, n.bias, n.gamma, n.beta})
      if (index >= 0) p.params.push_back(index);
    p.act = act_bytes;
    act_bytes += align_up(u(p.dims.numel()) * dtype_size(dtype_));
  }
  diff_bytes = plan_diff_slots();
  acts_ = cuda::DeviceBuffer(act_bytes);
  // A concat's sources are fixed slots of the activation arena: listed once, not per forward.
  for (int id = 0; id < graph_.size(); ++id)
    for (int j : graph_.node(id).inputs)
      if (graph_.node(id).kind == OpKind::concat) plan(id).concat_srcs.push_back(act(j));
  diffs_ = cuda::DeviceBuffer(diff_bytes);
  workspace_ = cuda::DeviceBuffer(workspace);
}

size_t CudaExecutorImpl::plan_diff_slots() {
  // Diffs with disjoint lives share memory. Activations are not shared: backward reads nearly
  // all of them.
  IntervalPlan diffs(kAlign);
  std::vector<int> slot(u(graph_.size()));
  for (int id = 0; id < graph_.size(); ++id)
    slot[u(id)] =
        diffs.add(u(plan(id).dims.numel()) * dtype_size(dtype_), exec_.diff_first_step(id), exec_.diff_last_step(id));
  const size_t total = diffs.pack();
  for (int id = 0; id < graph_.size(); ++id) plan(id).diff = diffs.offset(slot[u(id)]);
  return total;
}

float* CudaExecutorImpl::param_f32(int index) const {
  return bindings_.params->data() + graph_.parameter_layout()->entry(index).offset;
}
float* CudaExecutorImpl::grad_f32(int index) const {
  return bindings_.grads->data() + graph_.parameter_layout()->entry(index).offset;
}
float* CudaExecutorImpl::buffer_f32(int index) const {
  return bindings_.buffers->data() + graph_.buffer_layout()->entry(index).offset;
}
const void* CudaExecutorImpl::param_compute(int index) const {
  if (index < 0) return nullptr;
  const ParamPlan& pp = param_plans_[u(index)];
  return pp.converted ? static_cast<const void*>(param_t_.as<char>() + pp.offset) : param_f32(index);
}
void* CudaExecutorImpl::grad_compute(int index) const {
  if (index < 0) return nullptr;
  const ParamPlan& pp = param_plans_[u(index)];
  return pp.converted ? static_cast<void*>(grad_t_.as<char>() + pp.offset) : grad_f32(index);
}

void CudaExecutorImpl::pack_params() {
  const ArenaLayout& layout = *graph_.parameter_layout();
  for (int i = 0; i < layout.size(); ++i) {
    const ParamPlan& pp = param_plans_[u(i)];
    if (!pp.converted) continue;
    void* dst = param_t_.as<char>() + pp.offset;
    if (pp.conv_filter)
      cuda::pack_weights(dtype_, layout_, pp.oihw, param_f32(i), dst, stream());
    else
      cuda::convert_from_f32(dtype_, layout.entry(i).shape.numel(), param_f32(i), dst, 1.0f, stream());
  }
}

void CudaExecutorImpl::finish_grads(int id) {
  const ArenaLayout& layout = *graph_.parameter_layout();
  for (int i : plan(id).params) {
    const ParamPlan& pp = param_plans_[u(i)];
    if (pp.converted && pp.conv_filter)
      cuda::unpack_weights(dtype_, layout_, pp.oihw, grad_compute(i), grad_f32(i), 1.0f, nullptr, stream());
    else if (pp.converted)
      cuda::convert_to_f32(dtype_, layout.entry(i).shape.numel(), grad_compute(i), grad_f32(i), 1.0f, nullptr,
                           stream());
  }
}

void CudaExecutorImpl::run_forward(bool training) {
  const float* input_f32 = input_f32_.as<float>();
  void* ws = workspace_.get();
  for (int id = 0; id < graph_.size(); ++id) {
    const Node& n = graph_.node(id);
    NodePlan& p = plan(id);
    const int in0 = n.inputs.empty() ? 0 : n.inputs[0];
    switch (n.kind) {
      case OpKind::input:
        cuda::convert_input(dtype_, layout_, p.dims, input_f32, act(id), stream());
        break;
      case OpKind::conv2d:
        p.conv->forward(act(in0), param_compute(n.weights), param_compute(n.bias), act(id), ws);
        break;
      case OpKind::batch_norm:
        if (training) {
          p.bn->forward_training(act(in0), param_f32(n.gamma), param_f32(n.beta), act(id), buffer_f32(n.running_mean),
                                 buffer_f32(n.running_var), stream());
          cuda::add_scalar(buffer_f32(n.num_batches_tracked), 1.0f, stream());
        } else {
          p.bn->forward_inference(act(in0), param_f32(n.gamma), param_f32(n.beta), buffer_f32(n.running_mean),
                                  buffer_f32(n.running_var), act(id), stream());
        }
        break;
      case OpKind::relu:
        cuda::relu_forward(dtype_, p.dims.numel(), act(in0), act(id), stream());
        break;
      case OpKind::max_pool:
      case OpKind::avg_pool:
        p.pool->forward(ctx_.cudnn.get(), act(in0), act(id));
        break;
      case OpKind::global_avg_pool:
        cuda::global_avg_pool_forward(dtype_, layout_, plan(in0).dims, act(in0), act(id), stream());
        break;
      case OpKind::linear:
        p.linear->forward(ctx_, act(in0), param_compute(n.weights), param_compute(n.bias), act(id));
        break;
      case OpKind::add:
        cuda::add_forward(dtype_, p.dims.numel(), act(in0), act(n.inputs[1]), act(id), n.fuse_relu, stream());
        break;
      case OpKind::concat:
        cuda::concat_forward(dtype_, layout_, p.concat_inputs, p.concat_srcs, act(id), stream());
        break;
      case OpKind::dropout:
        if (training) {
          cuda::dropout_forward(dtype_, layout_, p.dims, std::get<ops::DropoutParams>(n.params).p, dropout_key(id),
                                act(in0), act(id), stream());
        } else {
          CUDA_CHECK(cudaMemcpyAsync(act(id), act(in0), u(p.dims.numel()) * dtype_size(dtype_),
                                     cudaMemcpyDeviceToDevice, stream()));
        }
        break;
    }
  }
  const int out = graph_.output();
  cuda::convert_to_f32(dtype_, plan(out).dims.numel(), act(out), logits_f32_.as<float>(), 1.0f, nullptr, stream());
}

void CudaExecutorImpl::run_backward(const GradsReadyHook& hook) {
  void* ws = workspace_.get();
  for (int id = graph_.size() - 1; id > 0; --id) {
    const Node& n = graph_.node(id);
    NodePlan& p = plan(id);
    const void* dd = diff(id);
    const int in0 = n.inputs[0];
    const bool acc0 = accumulates(id, 0);
    switch (n.kind) {
      case OpKind::input:
        break;
      case OpKind::conv2d:
        p.conv->backward_weights(act(in0), dd, grad_compute(n.weights), grad_compute(n.bias), ws);
        if (in0 != 0) p.conv->backward_data(dd, param_compute(n.weights), diff(in0), acc0, ws);
        break;
      case OpKind::batch_norm:
        p.bn->backward(act(in0), act(id), dd, param_f32(n.gamma), diff(in0), acc0, grad_f32(n.gamma), grad_f32(n.beta),
                       stream());
        break;
      case OpKind::relu:
        cuda::relu_backward(dtype_, p.dims.numel(), act(id), dd, diff(in0), acc0, stream());
        break;
      case OpKind::max_pool:
      case OpKind::avg_pool:
        p.pool->backward(ctx_.cudnn.get(), act(in0), act(id), dd, diff(in0), acc0);
        break;
      case OpKind::global_avg_pool:
        cuda::global_avg_pool_backward(dtype_, layout_, plan(in0).dims, dd, diff(in0), acc0, stream());
        break;
      case OpKind::linear:
        p.linear->backward_weights(ctx_, act(in0), dd, grad_compute(n.weights), grad_compute(n.bias));
        p.linear->backward_data(ctx_, dd, param_compute(n.weights), diff(in0), acc0);
        break;
      case OpKind::add:
        // The sum passes its diff (after the fused ReLU's mask) to both inputs.
        for (size_t k = 0; k < 2; ++k) {
          const int in = n.inputs[k];
          if (n.fuse_relu)
            cuda::relu_backward(dtype_, p.dims.numel(), act(id), dd, diff(in), accumulates(id, k), stream());
          else
            cuda::copy_diff(dtype_, p.dims.numel(), dd, diff(in), accumulates(id, k), stream());
        }
        break;
      case OpKind::concat:
        for (size_t k = 0; k < n.inputs.size(); ++k)
          if (n.inputs[k] != 0)
            cuda::concat_backward(dtype_, layout_, p.concat_inputs, k, dd, diff(n.inputs[k]), accumulates(id, k),
                                  stream());
        break;
      case OpKind::dropout:
        if (in0 != 0)
          cuda::dropout_backward(dtype_, layout_, p.dims, std::get<ops::DropoutParams>(n.params).p, dropout_key(id), dd,
                                 diff(in0), acc0, stream());
        break;
    }
    if (!p.params.empty()) {
      finish_grads(id);
      if (hook) hook(id);  // enqueued: a stream-ordered allreduce may follow at once
    }
  }
}

ops::DropoutKey CudaExecutorImpl::dropout_key(int id) const {
  return nn::dropout_key(forward_draw_, id);
}

void CudaExecutorImpl::check_input(const Tensor& src) const {
  const Node& in = graph_.input_node();
  const Shape expected{options_.batch, in.c, in.h, in.w};
  BIGBATCH_CHECK(src.dtype() == DType::f32 && src.shape() == expected && src.device() == Device::cpu,
                 "[cuda_executor] expected a host f32 src of "
                     << expected.to_string() << ", got " << dtype_name(src.dtype()) << " " << src.shape().to_string());
}

void CudaExecutorImpl::forward(const Tensor& src, bool training) {
  check_input(src);
  CUDA_CHECK(cudaMemcpyAsync(input_f32_.get(), src.raw(), src.nbytes(), cudaMemcpyHostToDevice, stream()));
  pack_params();
  if (training) forward_draw_ = dropout_draw();
  run_forward(training);
  CUDA_CHECK(cudaMemcpyAsync(logits_.raw(), logits_f32_.get(), logits_.nbytes(), cudaMemcpyDeviceToHost, stream()));
  CUDA_CHECK(cudaStreamSynchronize(stream()));
  trained_forward_ = training;
}

void CudaExecutorImpl::backward(const Tensor& diff_logits, const GradsReadyHook& hook) {
  BIGBATCH_CHECK(trained_forward_, "[cuda_executor] backward needs a training forward first");
  BIGBATCH_CHECK(bindings_.grads != nullptr, "[cuda_executor] backward needs a bound grads arena");
  BIGBATCH_CHECK(diff_logits.dtype() == DType::f32 && diff_logits.shape() == logits_.shape() &&
                     diff_logits.device() == Device::cpu,
                 "[cuda_executor] backward expects a host f32 diff_logits of "
                     << logits_.shape().to_string() << ", got " << diff_logits.shape().to_string());
  CUDA_CHECK(cudaMemcpyAsync(diff_logits_f32_.get(), diff_logits.raw(), diff_logits.nbytes(), cudaMemcpyHostToDevice,
                             stream()));
  const int out = graph_.output();
  cuda::convert_from_f32(dtype_, plan(out).dims.numel(), diff_logits_f32_.as<float>(), diff(out), 1.0f, stream());
  // The copy above reads the caller's pageable memory; once it is on the device, the caller may
  // reuse it. Everything after is ordered on the compute stream.
  run_backward(hook);
}

}  // namespace cuda_plan

std::unique_ptr<Executor> make_cuda_executor(const ExecutorBindings& bindings, const ExecutorOptions& options,
                                             const CudaOptions& cuda) {
  backend::cuda::require_device("[cuda]", cuda.device);
  return std::make_unique<cuda_plan::CudaExecutorImpl>(bindings, options, cuda);
}

}  // namespace bigbatch::nn
