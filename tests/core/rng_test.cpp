#include "bigbatch/core/rng.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace bigbatch {
namespace {

TEST(Rng, SameSeedSameStreamAndStateRestores) {
  Rng a(7), b(7), c(8);
  EXPECT_EQ(a.next_u64(), b.next_u64());
  EXPECT_NE(a.next_u64(), c.next_u64());
  Rng::State saved = a.state();
  double x = a.normal();
  a.set_state(saved);
  EXPECT_EQ(a.normal(), x);
}

TEST(Rng, NormalMomentsAndBelowRange) {
  Rng rng(123);
  const int n = 200000;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < n; ++i) {
    double x = rng.normal(1.0, 2.0);
    sum += x;
    sum_sq += x * x;
  }
  double mean = sum / n, var = sum_sq / n - mean * mean;
  EXPECT_NEAR(mean, 1.0, 0.03);
  EXPECT_NEAR(var, 4.0, 0.08);
  std::vector<int> hits(7, 0);
  for (int i = 0; i < 70000; ++i) ++hits[rng.below(7)];
  for (int h : hits) EXPECT_NEAR(h, 10000, 500);
}

TEST(Rng, DerivedSeedsDiffer) {
  EXPECT_NE(derive_seed(1, 0), derive_seed(1, 1));
  EXPECT_NE(derive_seed(1, 0), derive_seed(2, 0));
  EXPECT_EQ(derive_seed(5, 9), derive_seed(5, 9));
}

}  // namespace
}  // namespace bigbatch
