// Reference top-k accuracy: a row is correct when fewer than k logits beat its label's.
#include "bigbatch/ops/accuracy.h"

#include "bigbatch/core/error.h"

namespace bigbatch::ops {

template <class T>
int64_t topk_correct(int64_t batch, int64_t classes, const T* logits, const int32_t* labels, int64_t k) {
  BIGBATCH_CHECK(batch >= 0 && classes > 0,
                 "[accuracy] expected batch >= 0 and classes > 0, got batch " << batch << ", classes " << classes);
  // k > classes is allowed (every row counts), so top-5 works on tiny test models.
  BIGBATCH_CHECK(k >= 1, "[accuracy] expected k >= 1, got " << k);
  int64_t correct = 0;
  for (int64_t n = 0; n < batch; ++n) {
    BIGBATCH_CHECK(labels[n] >= 0 && labels[n] < classes,
                   "[accuracy] expected labels in [0, " << classes << "), got " << labels[n] << " at row " << n);
    const T* x = logits + n * classes;
    const T target = x[labels[n]];
    int64_t greater = 0;
    for (int64_t c = 0; c < classes; ++c) greater += x[c] > target ? 1 : 0;
    correct += greater < k ? 1 : 0;
  }
  return correct;
}

template int64_t topk_correct<float>(int64_t, int64_t, const float*, const int32_t*, int64_t);
template int64_t topk_correct<double>(int64_t, int64_t, const double*, const int32_t*, int64_t);

}  // namespace bigbatch::ops
