// Move-only owners of CUDA, cuDNN and cuBLAS resources (STYLE §5), and the mapping of
// bigbatch's element types and layouts onto the libraries' enums.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "bigbatch/core/dtype.h"
#include "bigbatch/ops/dims.h"

namespace bigbatch::backend::cuda {

// Activation layout on the device. Parameters stay OIHW f32 in the arenas; conv weights are
// converted per forward to the layout's filter format (OIHW or OHWI).
enum class Layout { nchw, nhwc };

cudnnDataType_t cudnn_type(DType dtype);
cudaDataType_t cuda_type(DType dtype);
cudnnTensorFormat_t cudnn_format(Layout layout);

namespace detail {
template <class T, auto Destroy>
struct Destroyer {
  void operator()(T* p) const noexcept { (void)Destroy(p); }
};
}  // namespace detail

// Owning handle of a library object whose C handle is a pointer (all of CUDA's are).
template <class T, auto Destroy>
using Owner = std::unique_ptr<T, detail::Destroyer<T, Destroy>>;

using StreamOwner = Owner<CUstream_st, cudaStreamDestroy>;
using EventOwner = Owner<CUevent_st, cudaEventDestroy>;
using CudnnOwner = Owner<cudnnContext, cudnnDestroy>;
using CublasOwner = Owner<cublasContext, cublasDestroy>;
using TensorDescOwner = Owner<cudnnTensorStruct, cudnnDestroyTensorDescriptor>;
using FilterDescOwner = Owner<cudnnFilterStruct, cudnnDestroyFilterDescriptor>;
using ConvDescOwner = Owner<cudnnConvolutionStruct, cudnnDestroyConvolutionDescriptor>;
using PoolDescOwner = Owner<cudnnPoolingStruct, cudnnDestroyPoolingDescriptor>;

// Device memory (cudaMalloc), freed on destruction; never copied.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);  // zero-filled
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Page-locked host memory (cudaMallocHost): the only host memory async copies overlap with.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t bytes);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& other) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  void* get() const { return ptr_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }
  // Gives the memory up to the caller, who frees it with cudaFreeHost.
  void* release() {
    bytes_ = 0;
    return std::exchange(ptr_, nullptr);
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

StreamOwner make_stream();  // non-blocking with respect to the legacy stream
EventOwner make_event(bool timing = false);
CudnnOwner make_cudnn(cudaStream_t stream);
CublasOwner make_cublas(cudaStream_t stream);
// A 4-D activation descriptor (N, C, H, W extents) in the given layout.
TensorDescOwner make_tensor_desc(DType dtype, Layout layout, const ops::Dims4& dims);
// A 4-D filter descriptor (O, I, KH, KW extents) in the given layout (OIHW or OHWI).
FilterDescOwner make_filter_desc(DType dtype, Layout layout, int64_t o, int64_t i, int64_t kh, int64_t kw);

// The handles a set of ops shares: the device's compute stream (arena_ops.h, one per device
// for the process, not owned here), cuDNN and cuBLAS bound to it.
struct Context {
  explicit Context(int device = 0);
  int device = 0;
  cudaStream_t stream = nullptr;
  CudnnOwner cudnn;
  CublasOwner cublas;
};

// Checks a kernel launch (launch-configuration errors surface here, not at the next call).
void check_launch(const char* kernel);

// Blocks of `threads` threads covering n elements, capped so grid-stride loops take over.
inline unsigned blocks_for(int64_t n, int threads = 256) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

}  // namespace bigbatch::backend::cuda
