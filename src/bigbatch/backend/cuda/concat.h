// Channel concatenation on the GPU (ops/concat.h), as strided library copies with no kernel of
// its own: input i is a 2-D slice of dst. In NCHW it is, per example, one block of C_i·H·W
// elements at pitch C·H·W; in NHWC one block of C_i elements per pixel at pitch C.
// Arrays: device pointers of dtype in layout; N, C_i, H, W as src_dims. Enqueued on `stream`.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <span>

#include "bigbatch/backend/cuda/resources.h"
#include "bigbatch/ops/concat.h"

namespace bigbatch::backend::cuda {

// dst (N×ΣC_i×H×W) from srcs[i] (N×C_i×H×W), in order. Throws InvalidArgument "[concat] ..."
// as ops::concat_dst_dims, or when srcs and src_dims differ in length.
void concat_forward(DType dtype, Layout layout, std::span<const ops::Dims4> src_dims, std::span<const void* const> srcs,
                    void* dst, cudaStream_t stream);

// Input `input`'s diff: diff_src = its channels of diff_dst; overwritten (a copy), or added to
// when accumulate (eltwise's add_2d). One call per input, since whether an input's diff already
// holds another consumer's gradient is a per-input fact (an input may even appear twice).
void concat_backward(DType dtype, Layout layout, std::span<const ops::Dims4> src_dims, size_t input,
                     const void* diff_dst, void* diff_src, bool accumulate, cudaStream_t stream);

}  // namespace bigbatch::backend::cuda
