// The checks and graph analysis shared by every executor, done once per executor.
#include "bigbatch/nn/execution_plan.h"

#include <algorithm>

#include "bigbatch/core/error.h"

namespace bigbatch::nn {

namespace {

const Graph& bound_graph(const ExecutorBindings& bindings, const char* who) {
  BIGBATCH_CHECK(bindings.graph != nullptr, "[" << who << "] no graph bound");
  return *bindings.graph;
}

void check_layout(const char* who, const char* what, const ArenaLayout& layout, const Arena* arena) {
  BIGBATCH_CHECK(arena == nullptr ||
                     (arena->layout().size() == layout.size() && arena->layout().total_elems() == layout.total_elems()),
                 "[" << who << "] the " << what << " arena is not laid out by the graph's " << what << " layout");
}

}  // namespace

ExecutionPlan::ExecutionPlan(const ExecutorBindings& bindings, const ExecutorOptions& options, const char* who)
    : graph_(bound_graph(bindings, who)), bindings_(bindings), options_(options) {
  BIGBATCH_CHECK(bindings.params && bindings.buffers, "[" << who << "] params and buffers arenas must be bound");
  check_layout(who, "parameter", *graph_.parameter_layout(), bindings.params);
  check_layout(who, "gradient", *graph_.parameter_layout(), bindings.grads);
  check_layout(who, "buffer", *graph_.buffer_layout(), bindings.buffers);
  BIGBATCH_CHECK(graph_.size() > 0 && graph_.input_node().kind == OpKind::input,
                 "[" << who << "] the graph has no input node");
  BIGBATCH_CHECK(graph_.output() > 0 && graph_.output() < graph_.size(),
                 "[" << who << "] the graph's output node is not set (set_output)");
  const Node& out = graph_.node(graph_.output());
  BIGBATCH_CHECK(out.h == 1 && out.w == 1, "[" << who << "] the output node '" << out.name << "' is " << out.c << "x"
                                               << out.h << "x" << out.w << ", expected classes x 1 x 1");
  BIGBATCH_CHECK(
      options.batch > 0 && options.bn_group >= 0 && (options.bn_group == 0 || options.batch % options.bn_group == 0),
      "[" << who << "] batch " << options.batch << " is not a positive multiple of bn_group " << options.bn_group);

  nodes_.resize(static_cast<size_t>(size()));
  for (int id = 0; id < size(); ++id) {
    const Node& n = graph_.node(id);
    Planned& p = nodes_[static_cast<size_t>(id)];
    bool grad = n.weights >= 0 || n.gamma >= 0;
    for (int j : n.inputs) {
      grad = grad || needs_grad(j);
      nodes_[static_cast<size_t>(j)].consumers.push_back(id);
    }
    p.needs_grad = grad && bindings.grads != nullptr;
    p.writes.assign(n.inputs.size(), false);
    if (n.kind == OpKind::batch_norm) {
      p.bn = std::get<ops::BatchNormParams>(n.params);
      p.bn.group_size = options.bn_group;
      p.bn.fuse_relu = n.fuse_relu;
    }
  }
  for (int id = 0; id < size(); ++id) {
    const Node& n = graph_.node(id);
    BIGBATCH_CHECK(id == graph_.output() || !consumers(id).empty(),
                   "[" << who << "] node " << id << " (" << op_kind_name(n.kind) << " '" << n.name
                       << "') feeds nothing: remove it from the graph");
  }
  std::vector<bool> delivered(static_cast<size_t>(size()), false);
  for (int id = size() - 1; id > 0; --id) {
    const Node& n = graph_.node(id);
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const auto j = static_cast<size_t>(n.inputs[k]);
      nodes_[static_cast<size_t>(id)].writes[k] = !delivered[j];
      delivered[j] = true;
    }
  }
}

ops::Dims4 ExecutionPlan::dims(int id) const {
  const Node& n = graph_.node(id);
  return {options_.batch, n.c, n.h, n.w};
}

const ops::BatchNormParams& ExecutionPlan::batch_norm(int id) const {
  BIGBATCH_CHECK(graph_.node(id).kind == OpKind::batch_norm, "[execution_plan] node " << id << " is not batch norm");
  return nodes_[static_cast<size_t>(id)].bn;
}

int ExecutionPlan::activation_last_step(int id, BackwardReadsRule reads) const {
  int last = id;
  for (int c : consumers(id)) {
    last = std::max(last, c);
    if (needs_grad(c) && reads(graph_.node(c)).src) last = std::max(last, backward_step(c));
  }
  if (needs_grad(id) && reads(graph_.node(id)).dst) last = std::max(last, backward_step(id));
  return last;
}

int ExecutionPlan::diff_first_step(int id) const {
  const std::vector<int>& c = consumers(id);
  return c.empty() ? size() - 1 : backward_step(c.back());
}

}  // namespace bigbatch::nn
