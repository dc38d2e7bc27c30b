// Constructors of the CUDA resource owners and the type mappings.
#include "bigbatch/backend/cuda/resources.h"

#include <utility>

#include "bigbatch/backend/cuda/arena_ops.h"
#include "bigbatch/backend/cuda/check.h"
#include "bigbatch/core/error.h"

namespace bigbatch::backend::cuda {

cudnnDataType_t cudnn_type(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return CUDNN_DATA_FLOAT;
    case DType::bf16:
      return CUDNN_DATA_BFLOAT16;
    case DType::f16:
      return CUDNN_DATA_HALF;
  }
  return CUDNN_DATA_FLOAT;
}

cudaDataType_t cuda_type(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return CUDA_R_32F;
    case DType::bf16:
      return CUDA_R_16BF;
    case DType::f16:
      return CUDA_R_16F;
  }
  return CUDA_R_32F;
}

cudnnTensorFormat_t cudnn_format(Layout layout) {
  switch (layout) {
    case Layout::nchw:
      return CUDNN_TENSOR_NCHW;
    case Layout::nhwc:
      return CUDNN_TENSOR_NHWC;
  }
  return CUDNN_TENSOR_NCHW;
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMalloc(&ptr_, bytes));
  CUDA_CHECK(cudaMemset(ptr_, 0, bytes));
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) (void)cudaFree(ptr_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_) (void)cudaFree(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

PinnedBuffer::PinnedBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes > 0) CUDA_CHECK(cudaMallocHost(&ptr_, bytes));
}

PinnedBuffer::~PinnedBuffer() {
  if (ptr_) (void)cudaFreeHost(ptr_);
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&& other) noexcept
    : ptr_(std::exchange(other.ptr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_) (void)cudaFreeHost(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

StreamOwner make_stream() {
  cudaStream_t s = nullptr;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return StreamOwner(s);
}

EventOwner make_event(bool timing) {
  cudaEvent_t e = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&e, timing ? cudaEventDefault : cudaEventDisableTiming));
  return EventOwner(e);
}

CudnnOwner make_cudnn(cudaStream_t stream) {
  cudnnHandle_t h = nullptr;
  CUDNN_CHECK(cudnnCreate(&h));
  CudnnOwner owner(h);
  CUDNN_CHECK(cudnnSetStream(h, stream));
  return owner;
}

CublasOwner make_cublas(cudaStream_t stream) {
  cublasHandle_t h = nullptr;
  CUBLAS_CHECK(cublasCreate(&h));
  CublasOwner owner(h);
  CUBLAS_CHECK(cublasSetStream(h, stream));
  return owner;
}

namespace {
int to_int(int64_t v, const char* what) {
  BIGBATCH_CHECK(v > 0 && v <= (int64_t{1} << 31) - 1, "[cuda] " << what << " extent " << v << " out of int range");
  return static_cast<int>(v);
}
}  // namespace

TensorDescOwner make_tensor_desc(DType dtype, Layout layout, const ops::Dims4& d) {
  cudnnTensorDescriptor_t desc = nullptr;
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&desc));
  TensorDescOwner owner(desc);
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(desc, cudnn_format(layout), cudnn_type(dtype), to_int(d.n, "N"),
                                         to_int(d.c, "C"), to_int(d.h, "H"), to_int(d.w, "W")));
  return owner;
}

FilterDescOwner make_filter_desc(DType dtype, Layout layout, int64_t o, int64_t i, int64_t kh, int64_t kw) {
  cudnnFilterDescriptor_t desc = nullptr;
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&desc));
  FilterDescOwner owner(desc);
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(desc, cudnn_type(dtype), cudnn_format(layout), to_int(o, "O"), to_int(i, "I"),
                                         to_int(kh, "KH"), to_int(kw, "KW")));
  return owner;
}

Context::Context(int device_index) : device(device_index) {
  CUDA_CHECK(cudaSetDevice(device_index));
  stream = static_cast<cudaStream_t>(compute_stream(device_index));
  cudnn = make_cudnn(stream);
  cublas = make_cublas(stream);
}

void check_launch(const char* kernel) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) throw_cuda_error(status, kernel, __FILE__, __LINE__);
}

}  // namespace bigbatch::backend::cuda
