// The GPU executor: a Graph planned once onto backend/cuda (cuDNN convolutions and pooling,
// cuBLAS for the fc layer, our ghost-BN and element-wise kernels). Free of CUDA headers, so
// that a build without CUDA links cuda_executor_stub.cpp behind the same declarations.
//
// It binds arenas that live on the GPU (nn::make_arena(layout, Device::cuda)) and is driven
// through the Executor interface like the CPU's: forward() takes the host batch and leaves the
// logits on the host, backward() takes the host diff of the logits and writes the gradients
// into the device arena, firing hook(id) in stream order as each node's gradients are
// enqueued, so a stream-ordered reducer (NCCL) overlaps with the rest of backward. Every
// kernel runs on the GPU's one compute stream (backend/cuda/arena_ops.h), which the trainer's
// arena operations and optimizer share.
#pragma once

#include <memory>
#include <string>

#include "bigbatch/nn/executor.h"

namespace bigbatch::nn {

struct CudaOptions {
  int device = 0;
  bool tf32 = false;  // f32 convolutions and GEMMs on TF32 tensor cores
  bool nhwc = false;  // channels-last activations (cuDNN's fastest layout for 16-bit tensor cores)
};

// Parses "f32", "tf32", "bf16" or "f16" into a compute type and the TF32 switch.
void parse_cuda_precision(const std::string& text, DType& precision, bool& tf32);

// Throws BackendError "[cuda] bigbatch was built without CUDA" or "[cuda] no CUDA device ..."
// when the backend cannot run; InvalidArgument on bad options.
std::unique_ptr<Executor> make_cuda_executor(const ExecutorBindings& bindings, const ExecutorOptions& options,
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
