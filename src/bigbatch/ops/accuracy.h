// Top-k accuracy: how many rows have their label among the k largest logits.
#pragma once

#include <cstdint>

namespace bigbatch::ops {

// A row counts as correct when fewer than k classes have a logit strictly greater than the
// label's (ties resolve in the label's favour). Labels must be in [0, classes).
template <class T>
int64_t topk_correct(int64_t batch, int64_t classes, const T* logits, const int32_t* labels, int64_t k);

}  // namespace bigbatch::ops
