// Max and average pooling with cuDNN (floor mode, as ops/pool.h). Max pooling's backward
// routes each diff to the window's maximum; padded positions never win.
// Layouts: src/dst NCHW or NHWC in dtype.
#pragma once

#include "bigbatch/backend/cuda/resources.h"
#include "bigbatch/ops/pool.h"

namespace bigbatch::backend::cuda {

enum class PoolKind { max, avg };

class Pool {
 public:
  Pool(PoolKind kind, const ops::PoolParams& p, const ops::Dims4& src, DType dtype, Layout layout);

  const ops::Dims4& dst_dims() const { return dst_dims_; }
  void forward(cudnnHandle_t cudnn, const void* src, void* dst) const;
  // src and dst are the forward's; diff_src is overwritten, or added to when accumulate.
  void backward(cudnnHandle_t cudnn, const void* src, const void* dst, const void* diff_dst, void* diff_src,
                bool accumulate) const;

 private:
  ops::Dims4 dst_dims_;
  TensorDescOwner src_desc_, dst_desc_;
  PoolDescOwner desc_;
};

}  // namespace bigbatch::backend::cuda
