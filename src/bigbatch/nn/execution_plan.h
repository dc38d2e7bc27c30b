// What every executor derives from (graph, bindings, options) before its backend plans any
// kernel: the checked bindings, each node's consumers, which nodes run backward and in what
// order, how each backward delivers its inputs' diffs, the ops' parameters resolved for this
// run, and when each node's output and diff are live on the one forward+backward timeline.
// The CPU, CUDA and reference executors keep only what is theirs (layouts and primitives,
// kernels and streams, plain loops).
#pragma once

#include <vector>

#include "bigbatch/nn/executor.h"
#include "bigbatch/nn/graph.h"

namespace bigbatch::nn {

// What an op's backward reads of its forward, as a backend's kernels implement it.
struct BackwardReads {
  bool src = false;  // the output of its first input (conv, BN, fc: for the weight gradients)
  bool dst = false;  // its own output (ReLU and a fused add: the mask)
};
using BackwardReadsRule = BackwardReads (*)(const Node& node);

class ExecutionPlan {
 public:
  // Throws InvalidArgument "[<who>] ..." for a missing graph or arena, an arena not laid out
  // by the graph's layouts, a graph without an input or an output node (classes x 1 x 1), a
  // node that feeds nothing, or a batch that is not a positive multiple of bn_group.
  // bindings.grads may be null (forward only): then no node needs a gradient.
  ExecutionPlan(const ExecutorBindings& bindings, const ExecutorOptions& options, const char* who);

  const Graph& graph() const { return graph_; }
  const ExecutorBindings& bindings() const { return bindings_; }
  const ExecutorOptions& options() const { return options_; }
  int size() const { return graph_.size(); }
  const Node& node(int id) const { return graph_.node(id); }
  // Batch x C x H x W of node id's output.
  ops::Dims4 dims(int id) const;

  // Nodes that read node id's output, in increasing id.
  const std::vector<int>& consumers(int id) const { return nodes_[static_cast<size_t>(id)].consumers; }
  // Backward runs for node id: it has parameters or an input that needs a diff, and a grads
  // arena is bound.
  bool needs_grad(int id) const { return nodes_[static_cast<size_t>(id)].needs_grad; }
  // Backward visits nodes in decreasing id, so every consumer of a node comes before it. The
  // first consumer met (the last in the graph) writes the node's diff; later ones add to it.
  // True when node id's backward is the one that writes the diff of its k-th input.
  bool writes_input_diff(int id, size_t k) const { return nodes_[static_cast<size_t>(id)].writes[k]; }
  // A batch-norm node's parameters with this run's statistics group (n) and its fused ReLU.
  const ops::BatchNormParams& batch_norm(int id) const;

  // The timeline that liveness is planned on: the forward of node id at step id, its backward
  // at step 2·size − 1 − id.
  int backward_step(int id) const { return 2 * size() - 1 - id; }
  // The last step that reads node id's output: its consumers' forwards, the backwards that read
  // it as their src, and its own backward when that reads its dst.
  int activation_last_step(int id, BackwardReadsRule reads) const;
  // Node id's diff is written first by its last consumer's backward (the output's: right after
  // forward) and read last by its own backward.
  int diff_first_step(int id) const;
  int diff_last_step(int id) const { return backward_step(id); }

 private:
  struct Planned {
    std::vector<int> consumers;
    bool needs_grad = false;
    std::vector<bool> writes;   // per input
    ops::BatchNormParams bn{};  // batch_norm nodes only
  };
  const Graph& graph_;
  ExecutorBindings bindings_;
  ExecutorOptions options_;
  std::vector<Planned> nodes_;
};

}  // namespace bigbatch::nn
