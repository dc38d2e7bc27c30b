// The GPU executor in a build without CUDA (BIGBATCH_CUDA=OFF): it cannot be made.
#include "bigbatch/backend/cuda/device.h"
#include "bigbatch/core/error.h"
#include "bigbatch/nn/cuda_executor.h"

namespace bigbatch::nn {

std::unique_ptr<Executor> make_cuda_executor(const ExecutorBindings&, const ExecutorOptions&, const CudaOptions&) {
  backend::cuda::require_device("[cuda]");  // always throws here: "built without CUDA"
  return nullptr;
}

}  // namespace bigbatch::nn
