// The oneDNN CPU executor: a Graph planned once onto the backend/cpu kernels. The shared
// ExecutionPlan says what runs backward and how diffs are routed; here layouts flow from layer
// to layer (blocked, as the convolutions choose), activations and diffs share one arena by
// liveness (in place where an op allows it, aliased where an add's diff can be), and every
// primitive and argument map is built at construction, so a training step allocates nothing.
#include <algorithm>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/backend/cpu/memory.h"
#include "bigbatch/backend/cpu/step.h"
#include "bigbatch/core/error.h"
#include "bigbatch/nn/cpu_executor_plan.h"
#include "bigbatch/nn/executor.h"
#include "bigbatch/nn/interval_plan.h"

namespace bigbatch::nn {

namespace {

using namespace cpu_plan;  // the executor's planning vocabulary: Route, NodePlan, cpu::, memory

class CpuExecutor final : public Executor {
 public:
  CpuExecutor(const ExecutorBindings& bindings, const ExecutorOptions& options);

  void forward(const Tensor& src, bool training) override;
  const Tensor& logits() const override { return logits_; }
  void backward(const Tensor& diff_logits, const GradsReadyHook& hook) override;

 private:
  int size() const { return graph_.size(); }
  int bwd_time(int id) const { return exec_.backward_step(id); }
  bool needs_grad(int id) const { return exec_.needs_grad(id); }
  const std::vector<int>& consumers(int id) const { return exec_.consumers(id); }
  NodePlan& plan(int id) { return nodes_[static_cast<size_t>(id)]; }
  const memory::desc& src_md(int id);  // layout of node id's output, resolving the input node
  void plan_kernels();
  void share_weights_staging();
  void plan_activations();
  void plan_diffs();
  bool alias_is_safe(int j, int c) const;
  size_t scratchpad_bytes() const;
  void bind_memories();
  void build_forward(cpu::StepList& steps, bool training);
  void build_backward();
  void* data(int buffer) const { return static_cast<char*>(arena_->data()) + buffers_.offset(buffer); }
  memory arena_memory(const Arena* arena, int index, const memory::desc& md) const;
  memory stat_memory(int index, int64_t channels) const;

  ExecutionPlan exec_;
  const Graph& graph_;
  ExecutorBindings bindings_;
  ExecutorOptions options_;
  memory::data_type dtype_;
  bool linear_output_ = false;
  std::vector<NodePlan> nodes_;
  std::vector<int> diff_group_;                // per node: the alias group of its diff
  std::vector<std::vector<int>> groups_;       // alias group -> member nodes
  IntervalPlan buffers_{64};                   // activations, diffs and temporaries, by liveness
  std::shared_ptr<Storage> arena_;             // their bytes
  std::shared_ptr<Storage> staging_;           // reordered weights / diff_weights of the current layer
  std::vector<ops::DropoutKey> dropout_keys_;  // per node, set at each training forward
  std::unique_ptr<cpu::Reorder> input_reorder_, logits_reorder_, diff_logits_reorder_;
  memory input_user_, logits_mem_, diff_logits_user_;
  Tensor logits_;
  cpu::StepList train_steps_, infer_steps_, backward_steps_;
  bool trained_forward_ = false;
};

CpuExecutor::CpuExecutor(const ExecutorBindings& bindings, const ExecutorOptions& options)
    : exec_(bindings, options, "cpu_executor"),
      graph_(*bindings.graph),
      bindings_(bindings),
      options_(options),
      dtype_(cpu::to_dnnl(options.precision)) {
  BIGBATCH_CHECK(options.precision != DType::bf16 || cpu::has_native_bf16(),
                 "[cpu_executor] bf16 needs a CPU with AVX512-BF16 or AMX");
  nodes_.resize(static_cast<size_t>(size()));
  dropout_keys_.resize(static_cast<size_t>(size()));
  for (int id = 0; id < size(); ++id) plan(id).routes.resize(graph_.node(id).inputs.size());
  const Node& out = graph_.node(graph_.output());
  logits_ = Tensor::zeros(Shape{options.batch, out.c * out.h * out.w});
  plan_kernels();
  share_weights_staging();
  plan_activations();
  if (bindings.grads) plan_diffs();
  arena_ = Storage::allocate(std::max<size_t>(buffers_.pack(), 1));
  bind_memories();
  const memory scratchpad = cpu::make_scratchpad(scratchpad_bytes());
  train_steps_ = cpu::StepList(scratchpad);
  infer_steps_ = cpu::StepList(scratchpad);
  backward_steps_ = cpu::StepList(scratchpad);
  build_forward(train_steps_, true);
  build_forward(infer_steps_, false);
  if (bindings.grads) build_backward();
}

const memory::desc& CpuExecutor::src_md(int id) {
  NodePlan& p = plan(id);
  if (p.md.data.ndims == 0) {
    const Node& n = graph_.node(id);
    p.md = cpu::nchw_md({options_.batch, n.c, n.h, n.w}, dtype_);
  }
  return p.md;
}

void CpuExecutor::plan_kernels() {
  for (int id = 1; id < size(); ++id) {
    const Node& n = graph_.node(id);
    NodePlan& p = plan(id);
    const int in = n.inputs[0];
    const Node& src = graph_.node(in);
    const ops::Dims4 src_dims{options_.batch, src.c, src.h, src.w};
    switch (n.kind) {
      case OpKind::input:
        BIGBATCH_THROW(InvalidArgument, "[cpu_executor] a second input node");
        break;
      case OpKind::conv2d: {
        // The network input takes whatever layout the first convolution prefers.
        const bool resolved = plan(in).md.data.ndims != 0;
        const memory::desc md = resolved ? plan(in).md : cpu::any_md(src_dims, dtype_);
        p.conv = std::make_unique<cpu::Conv2d>(std::get<ops::Conv2dParams>(n.params), src_dims, dtype_, md,
                                               needs_grad(in), conv_algorithm());
        if (!resolved) plan(in).md = p.conv->src_md();
        p.md = p.conv->dst_md();
        break;
      }
      case OpKind::batch_norm: {
        p.bn = std::make_unique<cpu::BatchNorm>(exec_.batch_norm(id), src_dims, src_md(in));
        p.md = p.bn->dst_md();
        break;
      }
      case OpKind::relu:
        p.relu = std::make_unique<cpu::Relu>(src_md(in));
        p.md = p.relu->dst_md();
        break;
      case OpKind::max_pool:
      case OpKind::avg_pool:
      case OpKind::global_avg_pool: {
        const cpu::PoolKind kind = n.kind == OpKind::max_pool   ? cpu::PoolKind::max
                                   : n.kind == OpKind::avg_pool ? cpu::PoolKind::avg
                                                                : cpu::PoolKind::global_avg;
        const ops::PoolParams pp =
            n.kind == OpKind::global_avg_pool ? ops::PoolParams{} : std::get<ops::PoolParams>(n.params);
        p.pool = std::make_unique<cpu::Pool>(kind, pp, src_dims, src_md(in));
        p.md = p.pool->dst_md();
        break;
      }
      case OpKind::linear: {
        // The logits leave in f32 whatever the compute type.
        const memory::data_type dst_dtype = id == graph_.output() ? memory::data_type::f32 : dtype_;
        p.linear = std::make_unique<cpu::InnerProduct>(std::get<ops::LinearParams>(n.params), src_md(in), dtype_,
                                                       dst_dtype, needs_grad(in));
        p.md = p.linear->dst_md();
        break;
      }
      case OpKind::add: {
        // In place on an input that nothing reads after this add (the block's last BN).
        for (int k = 0; k < 2 && p.in_place < 0; ++k) {
          const int j = n.inputs[static_cast<size_t>(k)];
          if (j != 0 && consumers(j).size() == 1 && !needs_own_dst(graph_.node(j))) p.in_place = k;
        }
        const int first = n.inputs[p.in_place == 1 ? 1 : 0], second = n.inputs[p.in_place == 1 ? 0 : 1];
        p.add = std::make_unique<cpu::Add>(src_md(first), src_md(second), n.fuse_relu);
        p.md = p.add->dst_md();
        if (!p.add->supports_in_place()) p.in_place = -1;
        break;
      }
      case OpKind::concat: {
        std::vector<memory::desc> mds;
        for (int j : n.inputs) mds.push_back(src_md(j));
        p.concat = std::make_unique<cpu::Concat>(mds, dtype_);
        p.md = p.concat->dst_md();
        break;
      }
      case OpKind::dropout:
        p.dropout = std::make_unique<cpu::Dropout>(std::get<ops::DropoutParams>(n.params), exec_.dims(id), src_md(in));
        p.md = p.dropout->dst_md();
        break;
    }
    // A ReLU may overwrite an input that only it reads (its backward needs only its dst).
    if (n.kind == OpKind::relu && in != 0 && consumers(in).size() == 1 && !needs_own_dst(src)) p.in_place = 0;
  }
  // Edges: the NCHW f32 input into the first layer's layout (copied even when the layouts
  // agree: the first conv's backward_weights reads it after the caller may have reused src);
  // the output into plain f32 logits.
  src_md(0);
  const Node& in = graph_.input_node();
  const memory::desc user_md = cpu::nchw_md({options_.batch, in.c, in.h, in.w}, memory::data_type::f32);
  input_reorder_ = std::make_unique<cpu::Reorder>(user_md, plan(0).md);
  input_user_ = cpu::make_memory(user_md, nullptr);
  const NodePlan& out = plan(graph_.output());
  linear_output_ = static_cast<bool>(out.linear);
  const memory::desc logits_md = cpu::plain_md(out.md.dims(), memory::data_type::f32);
  logits_mem_ = cpu::make_memory(logits_md, logits_.raw());
  diff_logits_user_ = cpu::make_memory(logits_md, nullptr);
  if (!linear_output_) {
    logits_reorder_ = std::make_unique<cpu::Reorder>(out.md, logits_md);
    diff_logits_reorder_ = std::make_unique<cpu::Reorder>(logits_md, out.md);
  }
}

// One buffer for every layer's reordered weights and blocked diff_weights: a ResNet-50 would
// otherwise keep three copies of its weights (~300 MB) next to the arena.
void CpuExecutor::share_weights_staging() {
  size_t bytes = 0;
  for (const NodePlan& p : nodes_) {
    if (p.conv) bytes = std::max(bytes, p.conv->staging_bytes());
    if (p.linear) bytes = std::max(bytes, p.linear->staging_bytes());
  }
  staging_ = Storage::allocate(bytes);
  for (NodePlan& p : nodes_) {
    if (p.conv) p.conv->set_staging(staging_->data());
    if (p.linear) p.linear->set_staging(staging_->data());
  }
}

void CpuExecutor::plan_activations() {
  for (int id = 0; id < size(); ++id) {
    NodePlan& p = plan(id);
    if (id == graph_.output() && linear_output_) continue;  // written straight into logits_
    const int last = exec_.activation_last_step(id, cpu_backward_reads);
    p.act = buffers_.add(p.md.get_size(), id, last);
    if (p.in_place >= 0) {
      const int j = graph_.node(id).inputs[static_cast<size_t>(p.in_place)];
      if (plan(j).md == p.md && plan(j).act >= 0) {
        buffers_.merge(plan(j).act, p.act);
      } else {
        p.in_place = -1;
      }
    }
  }
}

// Would sharing one buffer between the diff of input j and the alias group of add c's diff
// corrupt a member? A member is written after the merge by accumulations from its later
// consumers and by its own in-place ReLU backward (a fused add); such a write must not come
// before another member's backward has read it.
bool CpuExecutor::alias_is_safe(int j, int c) const {
  const int t = bwd_time(c);
  auto writes_before = [&](int m, int deadline) {
    for (int consumer : consumers(m)) {
      const int w = bwd_time(consumer);
      if (w > t && w < deadline) return true;
    }
    const Node& n = graph_.node(m);
    return n.kind == OpKind::add && n.fuse_relu && bwd_time(m) > t && bwd_time(m) < deadline;
  };
  for (int k : groups_[static_cast<size_t>(diff_group_[static_cast<size_t>(c)])]) {
    if (k == j || bwd_time(k) <= t) continue;  // k already consumed
    if (writes_before(j, bwd_time(k)) || writes_before(k, bwd_time(j))) return false;
  }
  return true;
}

void CpuExecutor::plan_diffs() {
  diff_group_.assign(static_cast<size_t>(size()), -1);
  auto new_diff = [&](int j) {
    plan(j).diff = buffers_.add(plan(j).md.get_size(), exec_.diff_first_step(j), exec_.diff_last_step(j));
    diff_group_[static_cast<size_t>(j)] = static_cast<int>(groups_.size());
    groups_.push_back({j});
  };
  const int out = graph_.output();
  if (!linear_output_) new_diff(out);
  for (int c = size() - 1; c > 0; --c) {
    NodePlan& p = plan(c);
    const Node& n = graph_.node(c);
    if (!needs_grad(c)) continue;
    const int t = bwd_time(c);
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const int j = n.inputs[k];
      Route& r = p.routes[k];
      const memory::desc& md = plan(j).md;
      const bool first = exec_.writes_input_diff(c, k);
      if (!needs_grad(j)) {
        if (n.kind == OpKind::batch_norm) {
          r.kind = RouteKind::discard;
          r.temp = buffers_.add(md.get_size(), t, t);
        }
      } else if (n.kind != OpKind::add) {
        if (first) {
          r.kind = RouteKind::direct;
          new_diff(j);
        } else {
          r.kind = RouteKind::via_temp;
          r.temp = buffers_.add(md.get_size(), t, t);
          r.accumulate = std::make_unique<cpu::Accumulate>(md, md);
        }
      } else if (!first) {
        r.kind = RouteKind::add_to;
        r.accumulate = std::make_unique<cpu::Accumulate>(md, p.md);
      } else if (md == p.md && alias_is_safe(j, c)) {
        r.kind = RouteKind::alias;
        plan(j).diff = buffers_.add(md.get_size(), exec_.diff_first_step(j), exec_.diff_last_step(j));
        buffers_.merge(p.diff, plan(j).diff);
        const int g = diff_group_[static_cast<size_t>(c)];
        diff_group_[static_cast<size_t>(j)] = g;
        groups_[static_cast<size_t>(g)].push_back(j);
      } else {
        r.kind = RouteKind::copy;
        r.copy = std::make_unique<cpu::Reorder>(p.md, md);
        new_diff(j);
      }
    }
  }
}

size_t CpuExecutor::scratchpad_bytes() const {
  size_t bytes =
      std::max(input_reorder_->scratchpad_bytes(), logits_reorder_ ? logits_reorder_->scratchpad_bytes() : 0);
  if (diff_logits_reorder_) bytes = std::max(bytes, diff_logits_reorder_->scratchpad_bytes());
  for (const NodePlan& p : nodes_) {
    if (p.conv) bytes = std::max(bytes, p.conv->scratchpad_bytes());
    if (p.bn) bytes = std::max(bytes, p.bn->scratchpad_bytes());
    if (p.relu) bytes = std::max(bytes, p.relu->scratchpad_bytes());
    if (p.pool) bytes = std::max(bytes, p.pool->scratchpad_bytes());
    if (p.linear) bytes = std::max(bytes, p.linear->scratchpad_bytes());
    if (p.add) bytes = std::max(bytes, p.add->scratchpad_bytes());
    if (p.concat) bytes = std::max(bytes, p.concat->scratchpad_bytes());
    if (p.dropout) bytes = std::max(bytes, p.dropout->scratchpad_bytes());
    for (const Route& r : p.routes) {
      if (r.accumulate) bytes = std::max(bytes, r.accumulate->scratchpad_bytes());
      if (r.copy) bytes = std::max(bytes, r.copy->scratchpad_bytes());
    }
  }
  return bytes;
}

void CpuExecutor::bind_memories() {
  for (int id = 0; id < size(); ++id) {
    NodePlan& p = plan(id);
    p.act_mem = p.act >= 0 ? cpu::make_memory(p.md, data(p.act)) : logits_mem_;
    if (p.diff >= 0) p.diff_mem = cpu::make_memory(p.md, data(p.diff));
    for (size_t k = 0; k < p.routes.size(); ++k) {
      Route& r = p.routes[k];
      if (r.temp >= 0) r.temp_mem = cpu::make_memory(plan(graph_.node(id).inputs[k]).md, data(r.temp));
    }
  }
  if (linear_output_ && bindings_.grads) plan(graph_.output()).diff_mem = diff_logits_user_;
}

memory CpuExecutor::arena_memory(const Arena* arena, int index, const memory::desc& md) const {
  if (index < 0) return {};
  const Tensor& t = arena->tensor(index);
  BIGBATCH_CHECK(static_cast<size_t>(t.nbytes()) == md.get_size(),
                 "[cpu_executor] arena tensor " << arena->layout().entry(index).name << " has " << t.numel()
                                                << " values, the kernel expects " << md.get_size() / sizeof(float));
  return cpu::make_memory(md, t.raw());
}

memory CpuExecutor::stat_memory(int index, int64_t channels) const {
  return arena_memory(bindings_.buffers, index,
                      memory::desc({channels}, memory::data_type::f32, memory::format_tag::a));
}

void CpuExecutor::build_forward(cpu::StepList& steps, bool training) {
  const bool has_dropout =
      std::any_of(nodes_.begin(), nodes_.end(), [](const NodePlan& p) { return p.dropout != nullptr; });
  if (training && has_dropout) {
    steps.add_host([this] {
      const DropoutDraw& draw = dropout_draw();
      for (int id = 0; id < size(); ++id)
        if (plan(id).dropout) dropout_keys_[static_cast<size_t>(id)] = dropout_key(draw, id);
    });
  }
  input_reorder_->forward(steps, input_user_, plan(0).act_mem);
  const Arena* params = bindings_.params;
  for (int id = 1; id < size(); ++id) {
    const Node& n = graph_.node(id);
    const NodePlan& p = plan(id);
    const memory& src = plan(n.inputs[0]).act_mem;
    switch (n.kind) {
      case OpKind::input:
        break;
      case OpKind::conv2d:
        p.conv->forward(steps, src, arena_memory(params, n.weights, p.conv->weights_plain_md()),
                        arena_memory(params, n.bias, p.conv->bias_md()), p.act_mem);
        break;
      case OpKind::batch_norm: {
        const memory gamma = arena_memory(params, n.gamma, p.bn->param_md());
        const memory beta = arena_memory(params, n.beta, p.bn->param_md());
        const memory mean = stat_memory(n.running_mean, n.c), var = stat_memory(n.running_var, n.c);
        if (!training) {
          p.bn->forward_inference(steps, src, gamma, beta, mean, var, p.act_mem);
          break;
        }
        p.bn->forward_training(steps, src, gamma, beta, p.act_mem, mean, var);
        if (n.num_batches_tracked >= 0) {
          float* tracked = bindings_.buffers->tensor(n.num_batches_tracked).data<float>();
          steps.add_host([tracked] { *tracked += 1.0f; });
        }
        break;
      }
      case OpKind::relu:
        p.relu->forward(steps, src, p.act_mem);
        break;
      case OpKind::max_pool:
      case OpKind::avg_pool:
      case OpKind::global_avg_pool:
        p.pool->forward(steps, src, p.act_mem);
        break;
      case OpKind::linear:
        p.linear->forward(steps, src, arena_memory(params, n.weights, p.linear->weights_plain_md()),
                          arena_memory(params, n.bias, p.linear->bias_md()), p.act_mem);
        break;
      case OpKind::add: {
        const bool swap = p.in_place == 1;
        p.add->forward(steps, plan(n.inputs[swap ? 1 : 0]).act_mem, plan(n.inputs[swap ? 0 : 1]).act_mem, p.act_mem);
        break;
      }
      case OpKind::concat: {
        std::vector<memory> srcs;
        for (int j : n.inputs) srcs.push_back(plan(j).act_mem);
        p.concat->forward(steps, srcs, p.act_mem);
        break;
      }
      case OpKind::dropout:
        if (training) {
          p.dropout->forward_training(steps, &dropout_keys_[static_cast<size_t>(id)], src, p.act_mem);
        } else {
          p.dropout->forward_inference(steps, src, p.act_mem);
        }
        break;
    }
  }
  if (logits_reorder_) logits_reorder_->forward(steps, plan(graph_.output()).act_mem, logits_mem_);
}

void CpuExecutor::build_backward() {
  cpu::StepList& steps = backward_steps_;
  const Arena* params = bindings_.params;
  const Arena* grads = bindings_.grads;
  if (diff_logits_reorder_) diff_logits_reorder_->forward(steps, diff_logits_user_, plan(graph_.output()).diff_mem);
  for (int c = size() - 1; c > 0; --c) {
    const Node& n = graph_.node(c);
    NodePlan& p = plan(c);
    if (!needs_grad(c)) continue;
    auto target = [&](size_t k) -> memory {
      const Route& r = p.routes[k];
      return r.temp >= 0 ? r.temp_mem : plan(n.inputs[k]).diff_mem;
    };
    const memory& src = plan(n.inputs[0]).act_mem;
    const bool data = p.routes[0].kind != RouteKind::none;
    switch (n.kind) {
      case OpKind::input:
        break;
      case OpKind::conv2d: {
        p.conv->backward_weights(steps, src, p.diff_mem, arena_memory(grads, n.weights, p.conv->weights_plain_md()),
                                 arena_memory(grads, n.bias, p.conv->bias_md()));
        steps.add_hook(c);
        if (data)
          p.conv->backward_data(steps, p.diff_mem, arena_memory(params, n.weights, p.conv->weights_plain_md()),
                                target(0));
        break;
      }
      case OpKind::batch_norm:
        p.bn->backward(steps, src, p.diff_mem, arena_memory(params, n.gamma, p.bn->param_md()),
                       arena_memory(params, n.beta, p.bn->param_md()), target(0),
                       arena_memory(grads, n.gamma, p.bn->param_md()), arena_memory(grads, n.beta, p.bn->param_md()));
        steps.add_hook(c);
        break;
      case OpKind::relu:
        p.relu->backward(steps, p.act_mem, p.diff_mem, target(0));
        break;
      case OpKind::max_pool:
      case OpKind::avg_pool:
      case OpKind::global_avg_pool:
        p.pool->backward(steps, p.diff_mem, target(0));
        break;
      case OpKind::linear:
        p.linear->backward_weights(steps, src, p.diff_mem, arena_memory(grads, n.weights, p.linear->weights_plain_md()),
                                   arena_memory(grads, n.bias, p.linear->bias_md()));
        steps.add_hook(c);
        if (data)
          p.linear->backward_data(steps, p.diff_mem, arena_memory(params, n.weights, p.linear->weights_plain_md()),
                                  target(0));
        break;
      case OpKind::add:
        p.add->backward_relu(steps, p.act_mem, p.diff_mem, p.diff_mem);
        break;
      case OpKind::concat:
        for (size_t k = 0; k < p.routes.size(); ++k)
          if (p.routes[k].kind != RouteKind::none) p.concat->backward(steps, p.diff_mem, k, target(k));
        break;
      case OpKind::dropout:
        if (data) p.dropout->backward(steps, p.diff_mem, target(0));
        break;
    }
    for (size_t k = 0; k < p.routes.size(); ++k) {
      const Route& r = p.routes[k];
      const memory& diff = plan(n.inputs[k]).diff_mem;
      if (r.kind == RouteKind::via_temp) r.accumulate->forward(steps, diff, r.temp_mem);
      if (r.kind == RouteKind::add_to) r.accumulate->forward(steps, diff, p.diff_mem);
      if (r.kind == RouteKind::copy) r.copy->forward(steps, p.diff_mem, diff);
    }
  }
}

void CpuExecutor::forward(const Tensor& src, bool training) {
  const Node& in = graph_.input_node();
  BIGBATCH_CHECK(src.dtype() == DType::f32 && src.shape() == Shape({options_.batch, in.c, in.h, in.w}),
                 "[cpu_executor] forward expects an f32 src of "
                     << Shape({options_.batch, in.c, in.h, in.w}).to_string() << ", got " << dtype_name(src.dtype())
                     << " " << src.shape().to_string());
  input_user_.set_data_handle(src.raw());
  (training ? train_steps_ : infer_steps_).run(cpu::context().stream);
  trained_forward_ = training;
}

void CpuExecutor::backward(const Tensor& diff_logits, const GradsReadyHook& hook) {
  BIGBATCH_CHECK(bindings_.grads != nullptr, "[cpu_executor] backward needs a bound grads arena");
  BIGBATCH_CHECK(trained_forward_, "[cpu_executor] backward needs a training forward first");
  BIGBATCH_CHECK(diff_logits.dtype() == DType::f32 && diff_logits.shape() == logits_.shape(),
                 "[cpu_executor] backward expects an f32 diff_logits of " << logits_.shape().to_string() << ", got "
                                                                          << dtype_name(diff_logits.dtype()) << " "
                                                                          << diff_logits.shape().to_string());
  diff_logits_user_.set_data_handle(diff_logits.raw());
  backward_steps_.run(cpu::context().stream, hook);
}

}  // namespace

std::unique_ptr<Executor> make_cpu_executor(const ExecutorBindings& bindings, const ExecutorOptions& options) {
  return std::make_unique<CpuExecutor>(bindings, options);
}

}  // namespace bigbatch::nn
