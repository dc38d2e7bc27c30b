// Reference top-k accuracy: ties resolve for the label, k over the class count, errors.
#include "bigbatch/ops/accuracy.h"

#include <gtest/gtest.h>

#include <vector>

#include "bigbatch/core/error.h"

namespace bigbatch::ops {
namespace {

TEST(Accuracy, TopOneAndTopK) {
  const std::vector<float> logits = {0.1f, 0.9f, 0.3f,   // argmax 1
                                     0.5f, 0.2f, 0.4f,   // argmax 0
                                     0.2f, 0.3f, 0.1f};  // label 2 is last
  const std::vector<int32_t> labels = {1, 2, 2};
  EXPECT_EQ(topk_correct(3, 3, logits.data(), labels.data(), 1), 1);
  EXPECT_EQ(topk_correct(3, 3, logits.data(), labels.data(), 2), 2);
  EXPECT_EQ(topk_correct(3, 3, logits.data(), labels.data(), 3), 3);
  EXPECT_EQ(topk_correct(3, 3, logits.data(), labels.data(), 5), 3);  // k > classes: every row
  EXPECT_EQ(topk_correct(0, 3, logits.data(), labels.data(), 1), 0);
}

TEST(Accuracy, TiesResolveInTheLabelsFavour) {
  const std::vector<double> logits = {1, 2, 2, 2};
  for (const int32_t label : {1, 2, 3}) {
    EXPECT_EQ(topk_correct(1, 4, logits.data(), &label, 1), 1) << label;
  }
  const int32_t label = 0;  // three logits strictly greater
  EXPECT_EQ(topk_correct(1, 4, logits.data(), &label, 3), 0);
  EXPECT_EQ(topk_correct(1, 4, logits.data(), &label, 4), 1);
}

TEST(Accuracy, BadArgumentsThrow) {
  const std::vector<double> logits(6);
  const std::vector<int32_t> bad = {0, 3}, good = {0, 1};
  EXPECT_THROW(topk_correct(2, 3, logits.data(), bad.data(), 1), InvalidArgument);
  EXPECT_THROW(topk_correct(2, 3, logits.data(), good.data(), 0), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::ops
