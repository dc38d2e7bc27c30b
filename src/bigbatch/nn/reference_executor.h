// The oracle executor: runs a Graph node by node with the ops' reference loops on dense
// NCHW arrays of T (float or double). Slow and simple; tests compare the fast executors
// and finite differences (in double) against it.
#pragma once

#include <vector>

#include "bigbatch/nn/execution_plan.h"
#include "bigbatch/nn/executor.h"

namespace bigbatch::nn {

template <class T>
class ReferenceExecutor : public Executor {
 public:
  // options.precision is ignored: everything is computed in T. bindings.grads may be null
  // when only forward is used.
  ReferenceExecutor(const ExecutorBindings& bindings, const ExecutorOptions& options);

  // Converts the f32 parameters to T, then runs every node. Training updates the running
  // statistics (and num_batches_tracked) in the buffer arena.
  void forward(const Tensor& src, bool training) override;
  const Tensor& logits() const override { return logits_; }
  // Writes f32 gradients into the grads arena (overwriting); hook(id) fires for each node
  // that has parameters, in reverse node order, once its gradients are written.
  void backward(const Tensor& diff_logits, const GradsReadyHook& hook = {}) override;
  // Same as backward, from a T-typed batch×classes diff (no f32 rounding on the way in).
  void backward_t(const std::vector<T>& diff_logits, const GradsReadyHook& hook = {});

  // batch×classes logits of the last forward, in T.
  const std::vector<T>& logits_t() const { return acts_[static_cast<size_t>(graph_.output())]; }
  // Gradient of parameter `param_index` (an index into the parameter layout) from the last
  // backward, in T.
  const std::vector<T>& grad(int param_index) const { return grads_t_[static_cast<size_t>(param_index)]; }
  // Gradient with respect to the forward's src (batch×C×H×W), in T.
  const std::vector<T>& diff_src() const { return diffs_.front(); }
  // The output of node `id` in the last forward (batch×c×h×w), in T.
  const std::vector<T>& activation(int id) const { return acts_[static_cast<size_t>(id)]; }

 private:
  ops::Dims4 dims(int id) const { return exec_.dims(id); }
  // This oracle applies fused ReLUs as a separate step, never through the op's fused path.
  ops::BatchNormParams unfused_batch_norm(int id) const;
  void load_params();
  void forward_node(const Node& n, bool training);
  void backward_node(const Node& n);
  void accumulate(int id, const T* diff);
  // The mask stream of dropout node id in the last training forward.
  ops::DropoutKey dropout_key(int id) const;
  std::vector<ops::Dims4> input_dims(const Node& n) const;

  ExecutionPlan exec_;
  const Graph& graph_;
  ExecutorBindings bindings_;
  ExecutorOptions options_;
  Tensor logits_;
  bool trained_forward_ = false;  // backward needs the saved statistics of a training forward
  DropoutDraw forward_draw_;      // the draw of the last training forward (backward's masks)
  std::vector<std::vector<T>> params_t_, grads_t_;
  std::vector<std::vector<T>> acts_, diffs_;             // per node, batch×c×h×w
  std::vector<std::vector<T>> save_mean_, save_invstd_;  // per BN node, groups×C
  std::vector<T> scratch_, scratch2_;                    // largest activation
};

extern template class ReferenceExecutor<float>;
extern template class ReferenceExecutor<double>;

}  // namespace bigbatch::nn
