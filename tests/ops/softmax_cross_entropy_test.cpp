// Reference softmax cross-entropy: log-sum-exp by hand, stability, the global divisor of
// RECIPE §4, the gradient vs finite differences, float vs double, and label errors.
#include "bigbatch/ops/softmax_cross_entropy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "bigbatch/core/error.h"
#include "testing/gradcheck.h"

namespace bigbatch::ops {
namespace {

using testing::random_vector;

TEST(SoftmaxCrossEntropy, HandComputedLogSumExp) {
  const std::vector<double> logits = {1, 2, 3, 0.5, -1, 2};
  const std::vector<int32_t> labels = {0, 2};
  const double row0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 1.0;
  const double row1 = std::log(std::exp(0.5) + std::exp(-1.0) + std::exp(2.0)) - 2.0;
  EXPECT_NEAR(softmax_cross_entropy_forward(2, 3, logits.data(), labels.data(), 1.0), row0 + row1, 1e-14);
  EXPECT_NEAR(softmax_cross_entropy_forward(2, 3, logits.data(), labels.data(), 4.0), (row0 + row1) / 4, 1e-14);

  auto diff = testing::nan_vector(6);
  softmax_cross_entropy_backward(2, 3, logits.data(), labels.data(), 2.0, diff.data());
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(diff[0], (std::exp(1.0) / z - 1.0) / 2, 1e-15);
  EXPECT_NEAR(diff[2], std::exp(3.0) / z / 2, 1e-15);
}

TEST(SoftmaxCrossEntropy, LargeLogitsAreStable) {
  const std::vector<float> logits = {1000, 0, -1000, 1000};
  const std::vector<int32_t> labels = {1, 1};
  const double loss = softmax_cross_entropy_forward(2, 2, logits.data(), labels.data(), 1.0);
  EXPECT_NEAR(loss, 1000.0 + 0.0, 1e-9);  // row 0: 1000; row 1: ~0
  auto diff = testing::nan_vector<float>(4);
  softmax_cross_entropy_backward(2, 2, logits.data(), labels.data(), 1.0, diff.data());
  EXPECT_EQ(diff, (std::vector<float>{1, -1, 0, 0}));
}

// RECIPE §4: k workers each dividing their sum by the global kn add up to the global mean.
TEST(SoftmaxCrossEntropy, WorkerLossesWithGlobalDivisorSumToBatchMean) {
  const int64_t k = 3, n = 4, classes = 5;
  const auto logits = random_vector(k * n * classes, 1, -3, 3);
  std::vector<int32_t> labels(k * n);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int32_t>((i * 7) % classes);
  const double divisor = static_cast<double>(k * n);
  double sum = 0.0;
  for (int64_t w = 0; w < k; ++w) {
    sum += softmax_cross_entropy_forward(n, classes, logits.data() + w * n * classes, labels.data() + w * n, divisor);
  }
  EXPECT_NEAR(sum, softmax_cross_entropy_forward(k * n, classes, logits.data(), labels.data(), divisor), 1e-13);
}

TEST(SoftmaxCrossEntropy, GradientMatchesFiniteDifferences) {
  for (const auto& [batch, classes] : {std::pair<int64_t, int64_t>{1, 3}, {5, 10}, {7, 1}, {3, 17}}) {
    SCOPED_TRACE(std::to_string(batch) + "x" + std::to_string(classes));
    auto logits = random_vector(batch * classes, 2, -4, 4);
    std::vector<int32_t> labels(batch);
    for (int64_t i = 0; i < batch; ++i) labels[i] = static_cast<int32_t>((i * 5 + 1) % classes);
    auto loss = [&] { return softmax_cross_entropy_forward(batch, classes, logits.data(), labels.data(), 3.0); };
    auto diff = testing::nan_vector(batch * classes);
    softmax_cross_entropy_backward(batch, classes, logits.data(), labels.data(), 3.0, diff.data());
    EXPECT_TRUE(testing::check_gradient(loss, logits.data(), batch * classes, diff.data()));

    const std::vector<float> logits_f(logits.begin(), logits.end());
    const std::vector<double> logits_d(logits_f.begin(), logits_f.end());
    auto diff_f = testing::nan_vector<float>(batch * classes);
    softmax_cross_entropy_backward(batch, classes, logits_f.data(), labels.data(), 3.0, diff_f.data());
    softmax_cross_entropy_backward(batch, classes, logits_d.data(), labels.data(), 3.0, diff.data());
    testing::expect_near_relative(diff_f.data(), diff.data(), batch * classes, 1e-6, 1e-7);
    EXPECT_NEAR(softmax_cross_entropy_forward(batch, classes, logits_f.data(), labels.data(), 3.0),
                softmax_cross_entropy_forward(batch, classes, logits_d.data(), labels.data(), 3.0), 1e-12);
  }
}

TEST(SoftmaxCrossEntropy, BadLabelsAndDivisorThrow) {
  const std::vector<double> logits(6);
  const std::vector<int32_t> bad_high = {0, 3}, bad_low = {-1, 0}, good = {0, 2};
  auto diff = testing::nan_vector(6);
  EXPECT_THROW(softmax_cross_entropy_forward(2, 3, logits.data(), bad_high.data(), 1.0), InvalidArgument);
  EXPECT_THROW(softmax_cross_entropy_backward(2, 3, logits.data(), bad_low.data(), 1.0, diff.data()),
               InvalidArgument);
  EXPECT_THROW(softmax_cross_entropy_forward(2, 3, logits.data(), good.data(), 0.0), InvalidArgument);
  try {
    softmax_cross_entropy_forward(2, 3, logits.data(), bad_high.data(), 1.0);
    ADD_FAILURE() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()), "[softmax_cross_entropy] expected labels in [0, 3), got 3 at row 1");
  }
}

}  // namespace
}  // namespace bigbatch::ops
