// The throwing halves of CUDA_CHECK, CUDNN_CHECK and CUBLAS_CHECK.
#include "bigbatch/backend/cuda/check.h"

#include "bigbatch/core/error.h"

namespace bigbatch::backend::cuda {

void throw_cuda_error(cudaError_t status, const char* expr, const char* file, int line) {
  BIGBATCH_THROW(BackendError, "[cuda] " << expr << " failed at " << file << ":" << line << ": "
                                         << cudaGetErrorName(status) << " (" << cudaGetErrorString(status) << ")");
}

void throw_cudnn_error(cudnnStatus_t status, const char* expr, const char* file, int line) {
  BIGBATCH_THROW(BackendError, "[cudnn] " << expr << " failed at " << file << ":" << line << ": "
                                          << cudnnGetErrorString(status));
}

void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file, int line) {
  BIGBATCH_THROW(BackendError, "[cublas] " << expr << " failed at " << file << ":" << line << ": "
                                           << cublasGetStatusName(status) << " (" << cublasGetStatusString(status)
                                           << ")");
}

}  // namespace bigbatch::backend::cuda
