// Max and average pooling over H×W windows, and global average pooling (N×C×H×W -> N×C).
#pragma once

#include "bigbatch/ops/dims.h"

namespace bigbatch::ops {

struct PoolParams {
  int64_t kernel_h = 2, kernel_w = 2;
  int64_t stride_h = 2, stride_w = 2;
  int64_t pad_h = 0, pad_w = 0;
  // Average pooling only: divide by the window's in-bounds size instead of KH·KW
  // (PyTorch count_include_pad=False).
  bool exclude_padding = false;
};

// dst extents (floor mode); throws InvalidArgument "[pool] ..." on an empty output or a
// padding larger than half the kernel.
Dims4 pool_dst_dims(const PoolParams& p, const Dims4& src);

// Max pooling; padded positions never win. Backward routes each diff to the first maximum
// of its window (the forward's argmax, recomputed from src).
template <class T>
void max_pool_forward(const PoolParams& p, const Dims4& src_dims, const T* src, T* dst);
template <class T>
void max_pool_backward(const PoolParams& p, const Dims4& src_dims, const T* src, const T* diff_dst, T* diff_src);

template <class T>
void avg_pool_forward(const PoolParams& p, const Dims4& src_dims, const T* src, T* dst);
template <class T>
void avg_pool_backward(const PoolParams& p, const Dims4& src_dims, const T* diff_dst, T* diff_src);

// dst[n, c] = mean over H×W of src[n, c].
template <class T>
void global_avg_pool_forward(const Dims4& src_dims, const T* src, T* dst);
template <class T>
void global_avg_pool_backward(const Dims4& src_dims, const T* diff_dst, T* diff_src);

}  // namespace bigbatch::ops
