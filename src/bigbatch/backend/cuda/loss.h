// Softmax cross-entropy (÷ the caller's count, RECIPE §4) and top-k accuracy on the device,
// as ops/softmax_cross_entropy.h and ops/accuracy.h. Logits N×K f32 row-major, labels N int32.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace bigbatch::backend::cuda {

// Adds sum_i -log softmax(logits_i)[label_i] / divisor to *loss (f64, device), and writes
// diff_logits = scale · (softmax − onehot) / divisor (scale: the fp16 loss scale, else 1).
// A label outside [0, K) sets *bad_label = 1 and contributes nothing.
void softmax_cross_entropy(int64_t batch, int64_t classes, const float* logits, const int32_t* labels, double divisor,
                           float scale, double* loss, float* diff_logits, int* bad_label, cudaStream_t stream);

// Adds to *correct (device) the rows whose label has fewer than k strictly greater logits
// (ties count for the label, as the reference).
void topk_correct(int64_t batch, int64_t classes, const float* logits, const int32_t* labels, int64_t k,
                  unsigned long long* correct, cudaStream_t stream);

}  // namespace bigbatch::backend::cuda
