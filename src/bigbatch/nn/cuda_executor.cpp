// The GPU executor's plan and its Executor-interface path (host arenas are the truth). One
// kernel object and one activation slot per node, diff slots shared by liveness, all in
// device arenas sized at construction; a step allocates nothing. Diffs are routed without
// zeroing: the first consumer (in backward order) of a node overwrites its diff, later ones
// add to it.
#include <algorithm>
#include <cstring>

#include "bigbatch/backend/cuda/check.h"
#include "bigbatch/backend/cuda/device.h"
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

// Offsets of the scalars_ block: f64 loss, u64 correct, int nonfinite, int bad label.
constexpr size_t kLoss = 0, kCorrect = 8, kNonfinite = 16, kBadLabel = 20, kScalarBytes = 24;

// Enough fp16 overflows in a row to go from 2^24 to 1, and a few more.
constexpr int kMaxScaleRetries = 30;

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
  if (dtype_ == DType::f16) loss_scale_ = 65536.0f;

  plan_params();
  plan_nodes();
  const ArenaLayout& pl = *graph_.parameter_layout();
  const size_t param_bytes = u(pl.total_elems()) * sizeof(float);
  params_ = cuda::DeviceBuffer(param_bytes);
  grads_ = cuda::DeviceBuffer(param_bytes);
  momentum_ = cuda::DeviceBuffer(param_bytes);
  buffers_ = cuda::DeviceBuffer(u(graph_.buffer_layout()->total_elems()) * sizeof(float));
  pinned_grads_ = cuda::PinnedBuffer(param_bytes);

  const Node& in = graph_.input_node();
  const size_t input_bytes = u(options.batch * in.c * in.h * in.w) * sizeof(float);
  const size_t logits_bytes = u(options.batch * graph_.num_classes()) * sizeof(float);
  for (int s = 0; s < 2; ++s) {
    input_f32_[s] = cuda::DeviceBuffer(input_bytes);
    labels_[s] = cuda::DeviceBuffer(u(options.batch) * sizeof(int32_t));
    pinned_input_[s] = cuda::PinnedBuffer(input_bytes);
    pinned_labels_[s] = cuda::PinnedBuffer(u(options.batch) * sizeof(int32_t));
    uploaded_[s] = cuda::make_event();
    consumed_[s] = cuda::make_event();
  }
  logits_f32_ = cuda::DeviceBuffer(logits_bytes);
  diff_logits_f32_ = cuda::DeviceBuffer(logits_bytes);
  scalars_ = cuda::DeviceBuffer(kScalarBytes);
  pinned_scalars_ = cuda::PinnedBuffer(kScalarBytes);
  copy_stream_ = cuda::make_stream();
  comm_stream_ = cuda::make_stream();
  step_done_ = cuda::make_event();
  comm_done_ = cuda::make_event();
  for (int id = 0; id < graph_.size(); ++id) node_events_.push_back(cuda::make_event());
  logits_ = Tensor::zeros(Shape{options.batch, graph_.num_classes()});
  device_bytes_ = static_cast<int64_t>(3 * param_bytes + buffers_.bytes() + param_t_.bytes() + grad_t_.bytes() +
                                       acts_.bytes() + diffs_.bytes() + workspace_.bytes() + 2 * input_bytes +
                                       2 * logits_bytes);
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
  diffs_ = cuda::DeviceBuffer(diff_bytes);
  workspace_ = cuda::DeviceBuffer(workspace);
}

size_t CudaExecutorImpl::plan_diff_slots() {
  // Diffs with disjoint lives share memory. Activations are not shared: backward reads nearly
  // all of them.
  IntervalPlan diffs(kAlign);
  std::vector<int> slot(u(graph_.size()));
  for (int id = 0; id < graph_.size(); ++id)
    slot[u(id)] = diffs.add(u(plan(id).dims.numel()) * dtype_size(dtype_), exec_.diff_first_step(id),
                            exec_.diff_last_step(id));
  const size_t total = diffs.pack();
  for (int id = 0; id < graph_.size(); ++id) plan(id).diff = diffs.offset(slot[u(id)]);
  return total;
}

float* CudaExecutorImpl::param_f32(int index) const {
  return params_.as<float>() + graph_.parameter_layout()->entry(index).offset;
}
float* CudaExecutorImpl::grad_f32(int index) const {
  return grads_.as<float>() + graph_.parameter_layout()->entry(index).offset;
}
float* CudaExecutorImpl::buffer_f32(int index) const {
  return buffers_.as<float>() + graph_.buffer_layout()->entry(index).offset;
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
  const float inv = 1.0f / loss_scale_;
  int* nonfinite = dtype_ == DType::f16 ? reinterpret_cast<int*>(scalars_.as<char>() + kNonfinite) : nullptr;
  for (int i : plan(id).params) {
    const ParamPlan& pp = param_plans_[u(i)];
    const int64_t count = layout.entry(i).shape.numel();
    if (pp.converted && pp.conv_filter)
      cuda::unpack_weights(dtype_, layout_, pp.oihw, grad_compute(i), grad_f32(i), inv, nonfinite, stream());
    else if (pp.converted)
      cuda::convert_to_f32(dtype_, count, grad_compute(i), grad_f32(i), inv, nonfinite, stream());
    else if (loss_scale_ != 1.0f)  // f32 gradients of a scaled loss (BN's γ, β in fp16 runs)
      cuda::convert_to_f32(DType::f32, count, grad_f32(i), grad_f32(i), inv, nonfinite, stream());
  }
}

void CudaExecutorImpl::run_forward(const float* input_f32, bool training) {
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
    }
  }
  const int out = graph_.output();
  cuda::convert_to_f32(dtype_, plan(out).dims.numel(), act(out), logits_f32_.as<float>(), 1.0f, nullptr, stream());
}

void CudaExecutorImpl::run_backward(const std::function<void(int)>& node_done) {
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
        p.bn->backward(act(in0), act(id), dd, param_f32(n.gamma), diff(in0), acc0, grad_f32(n.gamma),
                       grad_f32(n.beta), stream());
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
    }
    if (!p.params.empty()) {
      finish_grads(id);
      if (node_done) node_done(id);
    }
  }
}

void CudaExecutorImpl::check_input(const Tensor& src) const {
  const Node& in = graph_.input_node();
  const Shape expected{options_.batch, in.c, in.h, in.w};
  BIGBATCH_CHECK(src.dtype() == DType::f32 && src.shape() == expected && src.device() == Device::cpu,
                 "[cuda_executor] expected a host f32 src of " << expected.to_string() << ", got "
                                                               << dtype_name(src.dtype()) << " "
                                                               << src.shape().to_string());
}

void CudaExecutorImpl::forward(const Tensor& src, bool training) {
  check_input(src);
  const Arena& params = *bindings_.params;
  const Arena& buffers = *bindings_.buffers;
  CUDA_CHECK(cudaMemcpyAsync(params_.get(), params.data(), params_.bytes(), cudaMemcpyHostToDevice, stream()));
  CUDA_CHECK(cudaMemcpyAsync(buffers_.get(), buffers.data(), buffers_.bytes(), cudaMemcpyHostToDevice, stream()));
  CUDA_CHECK(cudaMemcpyAsync(input_f32_[0].get(), src.raw(), src.nbytes(), cudaMemcpyHostToDevice, stream()));
  pack_params();
  run_forward(input_f32_[0].as<float>(), training);
  if (training)
    CUDA_CHECK(cudaMemcpyAsync(buffers.data(), buffers_.get(), buffers_.bytes(), cudaMemcpyDeviceToHost, stream()));
  CUDA_CHECK(cudaMemcpyAsync(logits_.raw(), logits_f32_.get(), logits_.nbytes(), cudaMemcpyDeviceToHost, stream()));
  CUDA_CHECK(cudaStreamSynchronize(stream()));
  trained_forward_ = training;
}

void CudaExecutorImpl::adjust_loss_scale(bool overflow) {
  if (dtype_ != DType::f16) return;
  // Dynamic loss scaling (as torch.cuda.amp.GradScaler): halve on overflow, double after a
  // run of 1000 clean steps.
  if (overflow) {
    BIGBATCH_CHECK(loss_scale_ > 1.0f, "[cuda_executor] fp16 gradients overflow even with loss scale 1");
    loss_scale_ = std::max(1.0f, loss_scale_ / 2.0f);
    good_steps_ = 0;
  } else if (++good_steps_ >= 1000) {
    loss_scale_ = std::min(loss_scale_ * 2.0f, 16777216.0f);
    good_steps_ = 0;
  }
}

void CudaExecutorImpl::backward(const Tensor& diff_logits, const GradsReadyHook& hook) {
  BIGBATCH_CHECK(trained_forward_, "[cuda_executor] backward needs a training forward first");
  BIGBATCH_CHECK(bindings_.grads != nullptr, "[cuda_executor] backward needs a bound grads arena");
  BIGBATCH_CHECK(diff_logits.dtype() == DType::f32 && diff_logits.shape() == logits_.shape(),
                 "[cuda_executor] backward expects an f32 diff_logits of " << logits_.shape().to_string() << ", got "
                                                                           << diff_logits.shape().to_string());
  const ArenaLayout& layout = *graph_.parameter_layout();
  CUDA_CHECK(cudaMemcpyAsync(diff_logits_f32_.get(), diff_logits.raw(), diff_logits.nbytes(), cudaMemcpyHostToDevice,
                             stream()));
  const int out = graph_.output();
  auto enqueue_download = [&](int id) {
    for (int i : plan(id).params) {
      const size_t off = u(layout.entry(i).offset) * sizeof(float);
      CUDA_CHECK(cudaMemcpyAsync(pinned_grads_.as<char>() + off, grad_f32(i),
                                 u(layout.entry(i).shape.numel()) * sizeof(float), cudaMemcpyDeviceToHost, stream()));
    }
    CUDA_CHECK(cudaEventRecord(node_events_[u(id)].get(), stream()));
  };
  for (int attempt = 0;; ++attempt) {
    CUDA_CHECK(cudaMemsetAsync(scalars_.get(), 0, kScalarBytes, stream()));
    cuda::convert_from_f32(dtype_, plan(out).dims.numel(), diff_logits_f32_.as<float>(), diff(out), loss_scale_,
                           stream());
    // fp16 must know that no gradient overflowed before any reaches the host; the others
    // download each node's gradients as soon as they are final.
    run_backward(dtype_ == DType::f16 ? std::function<void(int)>{} : std::function<void(int)>(enqueue_download));
    if (dtype_ != DType::f16) break;
    int overflow = 0;
    CUDA_CHECK(cudaMemcpyAsync(&overflow, scalars_.as<char>() + kNonfinite, sizeof(int), cudaMemcpyDeviceToHost,
                               stream()));
    CUDA_CHECK(cudaStreamSynchronize(stream()));
    adjust_loss_scale(overflow != 0);
    if (overflow == 0) {
      for (int id = graph_.size() - 1; id > 0; --id)
        if (!plan(id).params.empty()) enqueue_download(id);
      break;
    }
    BIGBATCH_CHECK(attempt < kMaxScaleRetries, "[cuda_executor] fp16 gradients keep overflowing");
  }
  // Hand each node's gradients to the host (and the hook) in backward order, as they land.
  for (int id = graph_.size() - 1; id > 0; --id) {
    if (plan(id).params.empty()) continue;
    CUDA_CHECK(cudaEventSynchronize(node_events_[u(id)].get()));
    for (int i : plan(id).params) {
      const size_t off = u(layout.entry(i).offset) * sizeof(float);
      std::memcpy(bindings_.grads->tensor(i).raw(), pinned_grads_.as<char>() + off,
                  u(layout.entry(i).shape.numel()) * sizeof(float));
    }
    if (hook) hook(id);
  }
}

}  // namespace cuda_plan

std::unique_ptr<CudaExecutor> make_cuda_executor(const ExecutorBindings& bindings, const ExecutorOptions& options,
                                                 const CudaOptions& cuda) {
  backend::cuda::require_device("[cuda]", cuda.device);
  return std::make_unique<cuda_plan::CudaExecutorImpl>(bindings, options, cuda);
}

}  // namespace bigbatch::nn
