// Softmax cross-entropy whose loss is the SUM over the batch divided by a caller-given
// count (RECIPE §4: each worker divides by the global kn, not by its own n).
// Layouts: logits N×K (row-major), labels N (class indices in [0, K)).
#pragma once

#include <cstdint>

namespace bigbatch::ops {

// Returns sum_i -log softmax(logits_i)[label_i] / divisor. Throws InvalidArgument
// "[softmax_cross_entropy] ..." on a label out of range or a divisor <= 0.
template <class T>
double softmax_cross_entropy_forward(int64_t batch, int64_t classes, const T* logits, const int32_t* labels,
                                     double divisor);
// diff_logits = (softmax(logits) - onehot(labels)) / divisor; overwrites.
template <class T>
void softmax_cross_entropy_backward(int64_t batch, int64_t classes, const T* logits, const int32_t* labels,
                                    double divisor, T* diff_logits);

}  // namespace bigbatch::ops
