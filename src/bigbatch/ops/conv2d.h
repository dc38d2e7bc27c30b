// 2-D convolution (cross-correlation, groups 1). Layouts: src N×C×H×W, weights O×C×KH×KW
// (OIHW, as PyTorch), bias O, dst N×O×OH×OW. The reference loops are the oracle for the
// fast backends and for the tests.
#pragma once

#include "bigbatch/ops/dims.h"

namespace bigbatch::ops {

struct Conv2dParams {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  bool bias = false;
};

// dst extents for src; throws InvalidArgument "[conv2d] ..." on a mismatch or empty output.
Dims4 conv2d_dst_dims(const Conv2dParams& p, const Dims4& src);

template <class T>
void conv2d_forward(const Conv2dParams& p, const Dims4& src_dims, const T* src, const T* weights, const T* bias,
                    T* dst);
// diff_src = conv_transpose(diff_dst, weights); overwrites diff_src.
template <class T>
void conv2d_backward_data(const Conv2dParams& p, const Dims4& src_dims, const T* diff_dst, const T* weights,
                          T* diff_src);
// Overwrites diff_weights and (when p.bias) diff_bias.
template <class T>
void conv2d_backward_weights(const Conv2dParams& p, const Dims4& src_dims, const T* src, const T* diff_dst,
                             T* diff_weights, T* diff_bias);

}  // namespace bigbatch::ops
