// Reference element-wise add: values, aliasing the output with an input, large arrays.
#include "bigbatch/ops/add.h"

#include <gtest/gtest.h>

#include <vector>

#include "testing/gradcheck.h"

namespace bigbatch::ops {
namespace {

TEST(Add, HandComputedAndInPlace) {
  std::vector<double> a = {1, 2, 3}, b = {10, 20, -3}, dst(3);
  add_forward(3, a.data(), b.data(), dst.data());
  EXPECT_EQ(dst, (std::vector<double>{11, 22, 0}));
  add_forward(3, a.data(), b.data(), a.data());  // the residual add writes into its input
  EXPECT_EQ(a, dst);
}

TEST(Add, LargeArrayFloat) {
  const int64_t count = 100003;
  const auto a = testing::random_vector<float>(count, 1), b = testing::random_vector<float>(count, 2);
  auto dst = testing::nan_vector<float>(count);
  add_forward(count, a.data(), b.data(), dst.data());
  for (int64_t i = 0; i < count; ++i) ASSERT_EQ(dst[i], a[i] + b[i]) << i;
}

}  // namespace
}  // namespace bigbatch::ops
