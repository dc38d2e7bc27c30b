// cuDNN convolution (legacy API, still in cuDNN 9's cudnn_cnn): forward, backward data and
// backward weights of one shape, with the algorithms chosen once by cudnnFind* (cached per
// shape key for the process) and the largest workspace reported for the caller to plan.
// Layouts: src/dst N×C×H×W or N×H×W×C (Layout), weights OIHW or OHWI in the same dtype.
#pragma once

#include <cstddef>

#include "bigbatch/backend/cuda/resources.h"
#include "bigbatch/ops/conv2d.h"

namespace bigbatch::backend::cuda {

class Conv2d {
 public:
  // allow_tf32: f32 data may use TF32 tensor cores; bf16/f16 data always use tensor cores
  // with f32 accumulation. Runs cudnnFind* once per new shape key (it times real kernels).
  Conv2d(Context& ctx, const ops::Conv2dParams& p, const ops::Dims4& src, DType dtype, Layout layout,
         bool allow_tf32);

  const ops::Dims4& dst_dims() const { return dst_dims_; }
  size_t workspace_bytes() const { return workspace_bytes_; }

  // dst = conv(src, weights) (+ bias, an O-vector in dtype, when p.bias).
  void forward(const void* src, const void* weights, const void* bias, void* dst, void* workspace) const;
  // diff_src = conv_transpose(diff_dst, weights); accumulate: diff_src += ... instead.
  void backward_data(const void* diff_dst, const void* weights, void* diff_src, bool accumulate,
                     void* workspace) const;
  // Overwrites diff_weights and (p.bias) diff_bias.
  void backward_weights(const void* src, const void* diff_dst, void* diff_weights, void* diff_bias,
                        void* workspace) const;

 private:
  Context& ctx_;
  ops::Conv2dParams p_;
  ops::Dims4 dst_dims_;
  DType dtype_;
  Layout layout_;
  TensorDescOwner src_desc_, dst_desc_;
  FilterDescOwner weights_desc_;
  ConvDescOwner fwd_desc_, bwd_data_desc_, bwd_weights_desc_;  // one per direction: math types differ
  cudnnConvolutionFwdAlgo_t fwd_algo_{};
  cudnnConvolutionBwdDataAlgo_t bwd_data_algo_{};
  cudnnConvolutionBwdFilterAlgo_t bwd_weights_algo_{};
  size_t workspace_bytes_ = 0;
};

}  // namespace bigbatch::backend::cuda
