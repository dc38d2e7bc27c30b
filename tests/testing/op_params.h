// Square-kernel op parameters in one call, for tests that build ops and graphs by hand.
#pragma once

#include <cstdint>

#include "bigbatch/ops/conv2d.h"
#include "bigbatch/ops/linear.h"
#include "bigbatch/ops/pool.h"

namespace bigbatch::testing {

// in -> out channels, k×k kernel, the same stride and padding along H and W.
inline ops::Conv2dParams conv_params(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad,
                                     bool bias = false) {
  return {.in_channels = in, .out_channels = out, .kernel_h = k, .kernel_w = k, .stride_h = stride,
          .stride_w = stride, .pad_h = pad, .pad_w = pad, .bias = bias};
}

// k×k window, the same stride and padding along H and W.
inline ops::PoolParams pool_params(int64_t k, int64_t stride, int64_t pad, bool exclude_padding = false) {
  return {.kernel_h = k, .kernel_w = k, .stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad,
          .exclude_padding = exclude_padding};
}

inline ops::LinearParams linear_params(int64_t in, int64_t out, bool bias = true) {
  return {.in_features = in, .out_features = out, .bias = bias};
}

}  // namespace bigbatch::testing
