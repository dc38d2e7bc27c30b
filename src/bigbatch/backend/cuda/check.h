// One check macro per CUDA library (STYLE §6): a failed call throws BackendError with the
// expression, file:line and the library's own message. Kernel launches are followed by
// CUDA_CHECK(cudaGetLastError()).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

namespace bigbatch::backend::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t status, const char* expr, const char* file, int line);
[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* expr, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file, int line);

}  // namespace bigbatch::backend::cuda

#define CUDA_CHECK(expr)                                                                        \
  do {                                                                                          \
    const cudaError_t bigbatch_cuda_status_ = (expr);                                           \
    if (bigbatch_cuda_status_ != cudaSuccess)                                                   \
      ::bigbatch::backend::cuda::throw_cuda_error(bigbatch_cuda_status_, #expr, __FILE__, __LINE__); \
  } while (0)

#define CUDNN_CHECK(expr)                                                                         \
  do {                                                                                            \
    const cudnnStatus_t bigbatch_cudnn_status_ = (expr);                                          \
    if (bigbatch_cudnn_status_ != CUDNN_STATUS_SUCCESS)                                           \
      ::bigbatch::backend::cuda::throw_cudnn_error(bigbatch_cudnn_status_, #expr, __FILE__, __LINE__); \
  } while (0)

#define CUBLAS_CHECK(expr)                                                                          \
  do {                                                                                              \
    const cublasStatus_t bigbatch_cublas_status_ = (expr);                                          \
    if (bigbatch_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                           \
      ::bigbatch::backend::cuda::throw_cublas_error(bigbatch_cublas_status_, #expr, __FILE__, __LINE__); \
  } while (0)
