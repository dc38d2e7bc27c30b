// Executors by device, and the GPU precision names; shared by builds with and without CUDA.
#include <cstdlib>
#include <string>

#include "bigbatch/backend/cuda/device.h"
#include "bigbatch/core/error.h"
#include "bigbatch/nn/cuda_executor.h"

namespace bigbatch::nn {

void parse_cuda_precision(const std::string& text, DType& precision, bool& tf32) {
  BIGBATCH_CHECK(text == "f32" || text == "tf32" || text == "bf16" || text == "f16",
                 "[cuda] precision: expected f32, tf32, bf16 or f16, got '" << text << "'");
  tf32 = text == "tf32";
  precision = tf32 ? DType::f32 : parse_dtype(text);
}

int local_cuda_device() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMIX_LOCAL_RANK", "SLURM_LOCALID"}) {
    const char* value = std::getenv(name);
    if (value == nullptr) continue;
    const int rank = std::atoi(value);
    const int count = backend::cuda::device_count();
    return count > 0 && rank >= 0 ? rank % count : 0;
  }
  return 0;
}

std::unique_ptr<Executor> make_executor(const DeviceChoice& choice, const ExecutorBindings& bindings,
                                        const ExecutorOptions& options) {
  switch (choice.device) {
    case Device::cpu: return make_cpu_executor(bindings, options);
    case Device::cuda: return make_cuda_executor(bindings, options, choice.cuda);
  }
  return nullptr;
}

}  // namespace bigbatch::nn
