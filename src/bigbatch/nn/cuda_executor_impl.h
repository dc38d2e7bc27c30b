// Internal to cuda_executor.cpp: the GPU executor's plan (one kernel object and one activation
// and diff slot per node) and its state.
#pragma once

#include <memory>
#include <vector>

#include "bigbatch/backend/cuda/batch_norm.h"
#include "bigbatch/backend/cuda/conv2d.h"
#include "bigbatch/backend/cuda/linear.h"
#include "bigbatch/backend/cuda/pooling.h"
#include "bigbatch/backend/cuda/resources.h"
#include "bigbatch/nn/cuda_executor.h"
#include "bigbatch/nn/execution_plan.h"

namespace bigbatch::nn::cuda_plan {

namespace cuda = backend::cuda;

struct NodePlan {
  std::unique_ptr<cuda::Conv2d> conv;
  std::unique_ptr<cuda::BatchNorm> bn;
  std::unique_ptr<cuda::Pool> pool;
  std::unique_ptr<cuda::Linear> linear;
  ops::Dims4 dims;                        // output extents (N = batch)
  std::vector<ops::Dims4> concat_inputs;  // concat: each input's extents
  std::vector<const void*> concat_srcs;   // concat: each input's activation (set once planned)
  size_t act = 0, diff = 0;               // byte offsets into the activation and diff arenas (diffs shared by liveness)
  std::vector<int> params;                // parameter entries of this node (weights, bias, gamma, beta)
};

// Where a parameter entry is read from and its gradient written to in compute form: the f32
// master itself, or a converted copy (16-bit dtype, or an OHWI conv filter in NHWC).
struct ParamPlan {
  bool converted = false;
  bool conv_filter = false;  // packed with the layout's filter format
  ops::Dims4 oihw;           // conv filters: O, I, KH, KW
  size_t offset = 0;         // bytes into param_t_ / grad_t_ when converted
};

class CudaExecutorImpl final : public Executor {
 public:
  CudaExecutorImpl(const ExecutorBindings& bindings, const ExecutorOptions& options, const CudaOptions& cuda);

  void forward(const Tensor& src, bool training) override;
  const Tensor& logits() const override { return logits_; }
  void backward(const Tensor& diff_logits, const GradsReadyHook& hook) override;

 private:
  cudaStream_t stream() const { return ctx_.stream; }
  NodePlan& plan(int id) { return nodes_[static_cast<size_t>(id)]; }
  void* act(int id) { return static_cast<char*>(acts_.get()) + plan(id).act; }
  void* diff(int id) { return static_cast<char*>(diffs_.get()) + plan(id).diff; }
  float* param_f32(int index) const;
  float* grad_f32(int index) const;
  float* buffer_f32(int index) const;
  const void* param_compute(int index) const;  // nullptr for index < 0
  void* grad_compute(int index) const;
  void plan_nodes();
  void plan_params();
  size_t plan_diff_slots();  // returns the diff arena's bytes
  bool accumulates(int id, size_t k) const { return !exec_.writes_input_diff(id, k); }
  void check_input(const Tensor& src) const;
  void pack_params();  // f32 masters -> compute copies
  void run_forward(bool training);
  void run_backward(const GradsReadyHook& hook);
  void finish_grads(int id);                  // compute-form gradients -> the f32 arena
  ops::DropoutKey dropout_key(int id) const;  // of the last training forward

  ExecutionPlan exec_;
  const Graph& graph_;
  ExecutorBindings bindings_;
  ExecutorOptions options_;
  CudaOptions cuda_;
  DType dtype_;
  cuda::Layout layout_;
  cuda::Context ctx_;
  std::vector<NodePlan> nodes_;
  std::vector<ParamPlan> param_plans_;
  cuda::DeviceBuffer param_t_, grad_t_;  // converted parameters and their gradients
  cuda::DeviceBuffer acts_, diffs_, workspace_;
  cuda::DeviceBuffer input_f32_;  // the batch (f32 NCHW)
  cuda::DeviceBuffer logits_f32_, diff_logits_f32_;
  Tensor logits_;
  bool trained_forward_ = false;
  DropoutDraw forward_draw_;  // the last training forward's (backward redraws its masks)
};

}  // namespace bigbatch::nn::cuda_plan
