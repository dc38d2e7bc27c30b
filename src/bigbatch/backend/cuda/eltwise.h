// Small element-wise kernels the libraries do not provide (ReLU, residual add, diff routing,
// global average pooling, bias, type and layout conversion). Every function enqueues on
// `stream` and returns at once. Arrays are device pointers of `dtype` unless typed float.
// Backward functions overwrite their output, or add to it when accumulate (several consumers).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "bigbatch/backend/cuda/resources.h"

namespace bigbatch::backend::cuda {

void relu_forward(DType dtype, int64_t count, const void* src, void* dst, cudaStream_t stream);
// diff_src = diff_dst where dst > 0, else 0 (dst: the forward's output).
void relu_backward(DType dtype, int64_t count, const void* dst, const void* diff_dst, void* diff_src, bool accumulate,
                   cudaStream_t stream);
// dst = a + b, then max(0, ·) when relu.
void add_forward(DType dtype, int64_t count, const void* a, const void* b, void* dst, bool relu, cudaStream_t stream);
// dst = src, or dst += src.
void copy_diff(DType dtype, int64_t count, const void* src, void* dst, bool accumulate, cudaStream_t stream);
// dst[r·dst_pitch + j] += src[r·src_pitch + j] for r < rows, j < cols (pitches in elements):
// a diff added out of a strided view (concat's backward; its plain copies are cudaMemcpy2DAsync).
void add_2d(DType dtype, int64_t rows, int64_t cols, const void* src, int64_t src_pitch, void* dst, int64_t dst_pitch,
            cudaStream_t stream);

// dst (N×C) = mean over H×W of src (N×C×H×W in layout).
void global_avg_pool_forward(DType dtype, Layout layout, const ops::Dims4& src_dims, const void* src, void* dst,
                             cudaStream_t stream);
void global_avg_pool_backward(DType dtype, Layout layout, const ops::Dims4& src_dims, const void* diff_dst,
                              void* diff_src, bool accumulate, cudaStream_t stream);

// dst[r, j] += bias[j] for a rows×cols row-major dst; diff_bias[j] = sum over r of diff_dst[r, j].
void bias_add_rows(DType dtype, int64_t rows, int64_t cols, const void* bias, void* dst, cudaStream_t stream);
void bias_backward_rows(DType dtype, int64_t rows, int64_t cols, const void* diff_dst, void* diff_bias,
                        cudaStream_t stream);

// Conv bias: dst[n, c, ·] += bias[c]; diff_bias[c] = sum over N, H, W of diff_dst[·, c, ·] (our
// own kernels: cuDNN's AddTensor / BackwardBias do not promise every dtype and layout).
void channel_bias_forward(DType dtype, Layout layout, const ops::Dims4& dims, const void* bias, void* dst,
                          cudaStream_t stream);
void channel_bias_backward(DType dtype, Layout layout, const ops::Dims4& dims, const void* diff_dst, void* diff_bias,
                           cudaStream_t stream);

// An f32 NCHW batch into dtype and layout.
void convert_input(DType dtype, Layout layout, const ops::Dims4& dims, const float* src, void* dst,
                   cudaStream_t stream);
// dst = dtype(scale · src).
void convert_from_f32(DType dtype, int64_t count, const float* src, void* dst, float scale, cudaStream_t stream);
// dst = f32(src) · scale; sets *nonfinite = 1 when a value is Inf or NaN (nonfinite may be null).
void convert_to_f32(DType dtype, int64_t count, const void* src, float* dst, float scale, int* nonfinite,
                    cudaStream_t stream);
// f32 OIHW weights into dtype OIHW (nchw) or OHWI (nhwc), and back with scale and the check.
void pack_weights(DType dtype, Layout layout, const ops::Dims4& oihw, const float* src, void* dst,
                  cudaStream_t stream);
void unpack_weights(DType dtype, Layout layout, const ops::Dims4& oihw, const void* src, float* dst, float scale,
                    int* nonfinite, cudaStream_t stream);

// *p += value (a counter in device memory: BN's num_batches_tracked).
void add_scalar(float* p, float value, cudaStream_t stream);

}  // namespace bigbatch::backend::cuda
