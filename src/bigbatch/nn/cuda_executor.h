// The GPU executor: a Graph planned once onto backend/cuda (cuDNN convolutions and pooling,
// cuBLAS for the fc layer, our ghost-BN and element-wise kernels). Free of CUDA headers, so
// that a build without CUDA links cuda_executor_stub.cpp behind the same declarations.
//
// Two ways to drive it:
// - the Executor interface (trainer, evaluator): the host arenas stay the truth. forward()
//   uploads params and buffers, a training forward downloads the updated running statistics,
//   backward() downloads the gradients node by node and fires hook(id) as each node's
//   gradients reach the host, so a host-side reducer overlaps with the rest of backward.
// - device-resident training (bench, NCCL): params, gradients, momentum and buffers live on
//   the device; stage_batch / train_step / wait_loss run whole steps with no host arena
//   traffic, the fused SGD kernel, and (optionally) a device allreduce per gradient bucket on
//   its own stream, overlapped with backward.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bigbatch/nn/executor.h"

namespace bigbatch::nn {

struct CudaOptions {
  int device = 0;
  bool tf32 = false;  // f32 convolutions and GEMMs on TF32 tensor cores
  bool nhwc = false;  // channels-last activations (cuDNN's fastest layout for 16-bit tensor cores)
};

// Parses "f32", "tf32", "bf16" or "f16" into a compute type and the TF32 switch.
void parse_cuda_precision(const std::string& text, DType& precision, bool& tf32);

// The update of the device-resident step: u-form SGD (RECIPE §3) with λ per parameter entry.
struct DeviceSgd {
  double momentum = 0.9;
  bool nesterov = false;
  std::vector<float> weight_decay{};  // one per parameter-layout entry
};

// Sums `count` f32 at a device pointer over all ranks, enqueued on `stream` (a cudaStream_t).
using DeviceAllreduce = std::function<void(float* data, int64_t count, void* stream)>;

class CudaExecutor : public Executor {
 public:
  // Host params and buffers -> device (and momentum zeroed): the start of resident training.
  virtual void upload_state() = 0;
  // Device params, buffers and momentum -> the host arenas (momentum into `momentum` if non-null).
  virtual void download_state(const Arena* momentum = nullptr) = 0;
  // Copies a batch (batch×C×H×W f32 and batch labels, host) into the next of two pinned slots
  // and enqueues its upload on a copy stream; returns while the previous step may still run.
  virtual void stage_batch(const Tensor& src, const int32_t* labels) = 0;
  // Runs the next train_step on the batch already on the device again (benchmarks on fixed
  // data, like a peer whose synthetic batch lives on the GPU).
  virtual void reuse_batch() = 0;
  // Enqueues forward, loss (sum ÷ divisor), backward, the bucketed allreduce (if set) and the
  // SGD update on the last staged batch; returns at once. fp16: loss scaled dynamically, the
  // update skipped on overflow.
  virtual void train_step(double divisor, double lr, const DeviceSgd& sgd) = 0;
  // Waits for the last step; returns its loss and (if non-null) its top-1 correct count.
  virtual double wait_loss(int64_t* correct = nullptr) = 0;
  // Installs a device allreduce per bucket during train_step: each bucket is a range of the
  // gradient arena whose owner is the node after whose backward it is complete (the buckets of
  // comm::plan_buckets, owner = the bucket's last node), in the order backward completes them.
  virtual void set_device_allreduce(DeviceAllreduce reduce, std::vector<ArenaRange> buckets) = 0;
  // The fp16 loss scale now (1 for other precisions).
  virtual float loss_scale() const = 0;
  // Device bytes planned at construction (activations, diffs, arenas, workspace).
  virtual int64_t device_bytes() const = 0;
};

// Throws BackendError "[cuda] bigbatch was built without CUDA" or "[cuda] no CUDA device ..."
// when the backend cannot run; InvalidArgument on bad options.
std::unique_ptr<CudaExecutor> make_cuda_executor(const ExecutorBindings& bindings, const ExecutorOptions& options,
                                                 const CudaOptions& cuda = {});

// Where a trainer or evaluator runs its executors.
struct DeviceChoice {
  Device device = Device::cpu;
  CudaOptions cuda{};  // device == cuda only
};

// The local GPU of this process: the launcher's local rank (Open MPI, PMIx, Slurm) modulo
// the visible devices, so that one rank per GPU needs no flag; 0 when not launched.
int local_cuda_device();

// make_cpu_executor or make_cuda_executor, by choice.device.
std::unique_ptr<Executor> make_executor(const DeviceChoice& choice, const ExecutorBindings& bindings,
                                        const ExecutorOptions& options);

}  // namespace bigbatch::nn
