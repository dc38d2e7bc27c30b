// Reference ReLU: hand-computed values, in-place use, and the gradient vs finite differences.
#include "bigbatch/ops/relu.h"

#include <gtest/gtest.h>

#include <vector>

#include "testing/gradcheck.h"

namespace bigbatch::ops {
namespace {

TEST(Relu, HandComputedAndInPlace) {
  std::vector<float> x = {-2, -0.0f, 0, 0.5f, 3};
  relu_forward(5, x.data(), x.data());
  EXPECT_EQ(x, (std::vector<float>{0, 0, 0, 0.5f, 3}));
  std::vector<float> grad = {1, 2, 3, 4, 5};
  relu_backward(5, x.data(), grad.data(), grad.data());  // the gradient at 0 is 0, as PyTorch
  EXPECT_EQ(grad, (std::vector<float>{0, 0, 0, 4, 5}));
}

TEST(Relu, GradientMatchesFiniteDifferences) {
  const int64_t count = 257;
  auto src = testing::random_vector(count, 1);
  const auto diff_dst = testing::random_vector(count, 2);
  auto dst = testing::nan_vector(count), diff_src = testing::nan_vector(count);
  auto loss = [&] {
    relu_forward(count, src.data(), dst.data());
    return testing::dot(dst.data(), diff_dst.data(), count);
  };
  loss();
  relu_backward(count, dst.data(), diff_dst.data(), diff_src.data());
  EXPECT_TRUE(testing::check_gradient(loss, src.data(), count, diff_src.data()));
}

// Large enough to take the parallel path.
TEST(Relu, LargeArrayMatchesScalarDefinition) {
  const int64_t count = 100003;
  const auto src = testing::random_vector<float>(count, 3);
  auto dst = testing::nan_vector<float>(count);
  relu_forward(count, src.data(), dst.data());
  for (int64_t i = 0; i < count; ++i) ASSERT_EQ(dst[i], src[i] > 0 ? src[i] : 0.0f) << i;
}

}  // namespace
}  // namespace bigbatch::ops
