// Inverted dropout on the GPU, drawing exactly ops/dropout.h's mask: each element's keep bit
// is ops::dropout_keeps of its logical NCHW index in the step's global batch, whatever the
// layout it is stored in, and backward redraws it from the same key (nothing is stored).
// Our kernel, not cuDNN's dropout: cuDNN draws from its own generator state, which can give
// neither the CPU's masks nor the same masks for another split of the batch.
// Arrays: device pointers of dtype, N×C×H×W (dims) in layout. Enqueued on `stream`.
#pragma once

#include <cuda_runtime_api.h>

#include "bigbatch/backend/cuda/resources.h"
#include "bigbatch/ops/dropout.h"

namespace bigbatch::backend::cuda {

// dst = src · keep · dropout_scale(p) (in f32, rounded to dtype once); p = 0 copies. dst may be
// src. Throws InvalidArgument "[dropout] ..." unless 0 <= p < 1.
void dropout_forward(DType dtype, Layout layout, const ops::Dims4& dims, double p, const ops::DropoutKey& key,
                     const void* src, void* dst, cudaStream_t stream);
// diff_src = diff_dst · keep · dropout_scale(p) with the forward's mask (the same key); overwritten,
// or added to when accumulate.
void dropout_backward(DType dtype, Layout layout, const ops::Dims4& dims, double p, const ops::DropoutKey& key,
                      const void* diff_dst, void* diff_src, bool accumulate, cudaStream_t stream);

}  // namespace bigbatch::backend::cuda
