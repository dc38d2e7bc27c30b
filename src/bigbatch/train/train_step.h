// One optimizer step of large-minibatch synchronous SGD, the same code on the CPU and the GPU:
// forward and backward of this rank's v·n examples, whole or in micro-batches of whole workers
// whose gradients and BN statistics are accumulated (RECIPE §8); the loss divided by kn (§4);
// the gradients summed over ranks by the bucketed reducer, overlapped with backward (MPI on
// host arenas, NCCL on GPU arenas); fp16 loss scaling; and the optimizer where the arenas
// live. The trainer runs it on the data set, `bigbatch bench` on a synthetic batch.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "bigbatch/comm/communicator.h"
#include "bigbatch/comm/gradient_reducer.h"
#include "bigbatch/comm/parameter_server.h"
#include "bigbatch/core/arena.h"
#include "bigbatch/core/tensor.h"
#include "bigbatch/nn/cuda_executor.h"
#include "bigbatch/nn/executor.h"
#include "bigbatch/nn/graph.h"
#include "bigbatch/optim/sgd.h"
#include "bigbatch/train/host_staged_exchange.h"
#include "bigbatch/train/loss_scaler.h"

namespace bigbatch::train {

struct StepPlan {
  const nn::Graph* graph = nullptr;
  int64_t global_batch = 0;  // kn: the loss divisor
  int64_t local_batch = 0;   // v·n: this rank's examples per step
  int64_t micro_batch = 0;   // examples per forward/backward pass, whole workers (0: local_batch)
  int64_t bn_group = 0;      // n: examples per batch-norm statistics group (0: the pass)
  DType precision = DType::f32;
  // Graphs with several heads (Inception-v3's auxiliary classifier): the loss is head 0's plus
  // this weight times each other head's (torchvision's reference recipe: 0.4).
  double aux_loss_weight = 0.4;
  // Dropout masks (ops/dropout.h) are drawn from the run's seed, the step, and each example's
  // index in the global batch: this rank's first example is first_example (its workers' offset).
  uint64_t seed = 0;
  int64_t first_example = 0;
  nn::DeviceChoice device{};
  optim::SgdOptions sgd{};
  // Ranks (null: one). Host collectives (loss, counts) go through comm; the gradients through
  // grad_comm when set (NCCL for GPU arenas), else comm.
  comm::Communicator* comm = nullptr;
  comm::Communicator* grad_comm = nullptr;
  comm::ReducerOptions reducer{};
  // comm ps with the update on the servers: the step sends them its lr, pulls the new weights
  // (the reducer's exchange writes them into params) and does not update itself. On a GPU the
  // exchange goes through pinned host copies (HostStagedExchange).
  comm::ParameterServerJob* servers_update = nullptr;
};

class TrainStep {
 public:
  // Allocates the arenas on the plan's device (zero; the caller initialises params and buffers)
  // and plans the executor (the CPU's convolution choices must be replayed before). Throws
  // InvalidArgument when the micro-batch does not divide the rank's examples.
  explicit TrainStep(const StepPlan& plan);
  TrainStep(const TrainStep&) = delete;
  TrainStep& operator=(const TrainStep&) = delete;

  // images: local_batch x C x H x W f32 on the host, labels: local_batch; step: the optimizer
  // step (the dropout masks' key). Returns the loss of the global batch (sum over kn / kn,
  // summed over ranks; with several heads their weighted sum) and adds the main head's top-1
  // hits of every rank to `correct`. A non-finite loss returns before the update, on every
  // rank alike.
  double run(const Tensor& images, const int32_t* labels, double lr, int64_t step, int64_t& correct);

  // Precise batch-norm statistics (as pycls, from the paper's group, computes them): the
  // running mean and variance become plain averages, over `count` batches of this rank
  // (batch(i): local_batch x C x H x W f32 on the host), of the statistics of each group of n
  // examples, as training normalises with them. Training forwards only, in the step's passes:
  // no backward, no update; the parameters and num_batches_tracked are kept. Over ranks the
  // caller averages the result (it is linear in the groups).
  void recompute_bn_statistics(int64_t count, const std::function<const Tensor&(int64_t)>& batch);

  // On the plan's device.
  const Arena& params() const { return params_; }
  const Arena& buffers() const { return buffers_; }
  optim::Sgd& sgd() { return *sgd_; }
  const nn::Graph& graph() const { return graph_; }
  // Null on one rank.
  const comm::ReducerStats* reducer_stats() const { return reducer_ ? &reducer_->last_stats() : nullptr; }
  const LossScaler& loss_scaler() const { return scaler_; }
  int64_t micro_batches() const { return local_batch_ / micro_; }

 private:
  // The heads' weighted loss of one pass (sum over its examples / kn); writes diff_logits_ and
  // adds the main head's hits to correct.
  double pass_loss(const float* logits, const int32_t* labels, int64_t& correct);

  const nn::Graph& graph_;
  comm::Communicator* comm_;
  int64_t global_batch_, local_batch_, micro_;
  double aux_loss_weight_;
  uint64_t seed_;
  int64_t first_example_;
  Arena params_, grads_, buffers_;
  Arena grad_sum_, buffers_start_, buffers_sum_;  // accumulated micro-batches only
  std::optional<optim::Sgd> sgd_;
  std::unique_ptr<nn::Executor> executor_;
  Arena host_grads_, host_params_;              // comm ps on a GPU: the pushes' and pulls' host side
  std::unique_ptr<HostStagedExchange> staged_;  // before reducer_, which uses it
  std::unique_ptr<comm::GradientReducer> reducer_;
  comm::ParameterServerJob* servers_update_;
  LossScaler scaler_;
  Tensor diff_logits_;
  std::vector<float> head_logits_, head_diff_;  // one head's columns (several heads only)
};

}  // namespace bigbatch::train
