// Device discovery for a build with CUDA.
#include "bigbatch/backend/cuda/device.h"

#include <cuda_runtime_api.h>

#include "bigbatch/core/error.h"

namespace bigbatch::backend::cuda {

bool built_with_cuda() { return true; }

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no driver" status for later calls
    return 0;
  }
  return count;
}

void require_device(const char* where, int index) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    BIGBATCH_THROW(BackendError, where << " no CUDA device: cudaGetDeviceCount says " << cudaGetErrorName(status)
                                       << " (" << cudaGetErrorString(status) << ")");
  }
  if (count == 0) BIGBATCH_THROW(BackendError, where << " no CUDA device: cudaGetDeviceCount found 0 devices");
  BIGBATCH_CHECK(index >= 0 && index < count,
                 where << " CUDA device " << index << " does not exist (" << count << " visible)");
}

}  // namespace bigbatch::backend::cuda
