// Device discovery for a build without CUDA (BIGBATCH_CUDA=OFF): there is never a device.
#include "bigbatch/backend/cuda/device.h"

#include "bigbatch/core/error.h"

namespace bigbatch::backend::cuda {

bool built_with_cuda() { return false; }

int device_count() { return 0; }

void require_device(const char* where, int /*index*/) {
  BIGBATCH_THROW(BackendError, where << " bigbatch was built without CUDA (configure with nvcc and cuDNN present, "
                                        "or -DBIGBATCH_CUDA=ON)");
}

}  // namespace bigbatch::backend::cuda
