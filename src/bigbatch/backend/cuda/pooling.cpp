// cuDNN pooling: one descriptor per shape, forward and backward with blending for accumulation.
#include "bigbatch/backend/cuda/pooling.h"

#include "bigbatch/backend/cuda/check.h"

namespace bigbatch::backend::cuda {

Pool::Pool(PoolKind kind, const ops::PoolParams& p, const ops::Dims4& src, DType dtype, Layout layout)
    : dst_dims_(ops::pool_dst_dims(p, src)) {
  src_desc_ = make_tensor_desc(dtype, layout, src);
  dst_desc_ = make_tensor_desc(dtype, layout, dst_dims_);
  cudnnPoolingDescriptor_t desc = nullptr;
  CUDNN_CHECK(cudnnCreatePoolingDescriptor(&desc));
  desc_ = PoolDescOwner(desc);
  // The deterministic max mode picks one maximum per window, as the reference does.
  const cudnnPoolingMode_t mode = kind == PoolKind::max ? CUDNN_POOLING_MAX_DETERMINISTIC
                                  : p.exclude_padding   ? CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING
                                                        : CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING;
  CUDNN_CHECK(cudnnSetPooling2dDescriptor(desc, mode, CUDNN_NOT_PROPAGATE_NAN, static_cast<int>(p.kernel_h),
                                          static_cast<int>(p.kernel_w), static_cast<int>(p.pad_h),
                                          static_cast<int>(p.pad_w), static_cast<int>(p.stride_h),
                                          static_cast<int>(p.stride_w)));
}

void Pool::forward(cudnnHandle_t cudnn, const void* src, void* dst) const {
  const float one = 1.0f, zero = 0.0f;
  CUDNN_CHECK(cudnnPoolingForward(cudnn, desc_.get(), &one, src_desc_.get(), src, &zero, dst_desc_.get(), dst));
}

void Pool::backward(cudnnHandle_t cudnn, const void* src, const void* dst, const void* diff_dst, void* diff_src,
                    bool accumulate) const {
  const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  CUDNN_CHECK(cudnnPoolingBackward(cudnn, desc_.get(), &one, dst_desc_.get(), dst, dst_desc_.get(), diff_dst,
                                   src_desc_.get(), src, &beta, src_desc_.get(), diff_src));
}

}  // namespace bigbatch::backend::cuda
