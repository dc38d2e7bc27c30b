// Dataset checks, normalisation and the synthetic dataset (deterministic and learnable).
#include "bigbatch/data/dataset.h"

#include <gtest/gtest.h>

#include "bigbatch/core/error.h"
#include "bigbatch/data/synthetic.h"

namespace bigbatch::data {
namespace {

TEST(Dataset, ValidateCatchesInconsistentFields) {
  Dataset d = make_synthetic({.size = 20, .channels = 2, .height = 4, .width = 4, .num_classes = 3, .seed = 1});
  validate(d);
  Dataset bad = d;
  bad.labels[7] = 3;
  EXPECT_THROW(validate(bad), InvalidArgument);
  bad = d;
  bad.pixels.pop_back();
  EXPECT_THROW(validate(bad), InvalidArgument);
  bad = d;
  bad.stddev[1] = 0;
  EXPECT_THROW(validate(bad), InvalidArgument);
}

TEST(Dataset, WriteNormalizedAndStatistics) {
  Dataset d = make_synthetic({.size = 50, .channels = 3, .height = 5, .width = 6, .num_classes = 4, .seed = 2});
  // compute_normalization makes each channel of the whole normalised set mean 0, variance 1.
  std::vector<int64_t> all(50);
  for (int64_t i = 0; i < 50; ++i) all[static_cast<size_t>(i)] = i;
  std::vector<float> dst(50 * 90);
  std::vector<int32_t> labels(50);
  write_normalized(d, all, dst, labels);
  for (int64_t c = 0; c < 3; ++c) {
    double sum = 0, sum_sq = 0;
    for (int64_t i = 0; i < 50; ++i)
      for (int64_t p = 0; p < 30; ++p) {
        const double x = dst[static_cast<size_t>(i * 90 + c * 30 + p)];
        sum += x;
        sum_sq += x * x;
      }
    EXPECT_NEAR(sum / 1500, 0.0, 1e-4);
    EXPECT_NEAR(sum_sq / 1500, 1.0, 1e-3);
  }
  EXPECT_EQ(labels[13], 13 % 4);
  EXPECT_NEAR(dst[90 * 7 + 31], (d.image(7)[31] / 255.0 - d.mean[1]) / d.stddev[1], 1e-5);
}

TEST(Synthetic, DeterministicAndLearnable) {
  const SyntheticOptions o{.size = 400, .channels = 3, .height = 8, .width = 8, .num_classes = 10, .seed = 9};
  const Dataset a = make_synthetic(o), b = make_synthetic(o);
  EXPECT_EQ(a.pixels, b.pixels);
  SyntheticOptions other = o;
  other.seed = 10;
  EXPECT_NE(make_synthetic(other).pixels, a.pixels);
  // Nearest class mean, estimated on the first half, classifies the second half well.
  const int64_t chw = a.example_numel();
  std::vector<double> means(static_cast<size_t>(10 * chw), 0.0);
  for (int64_t i = 0; i < 200; ++i)
    for (int64_t p = 0; p < chw; ++p)
      means[static_cast<size_t>(a.labels[static_cast<size_t>(i)] * chw + p)] += a.image(i)[p] / 20.0;
  int correct = 0;
  for (int64_t i = 200; i < 400; ++i) {
    int best = -1;
    double best_distance = 1e300;
    for (int k = 0; k < 10; ++k) {
      double distance = 0;
      for (int64_t p = 0; p < chw; ++p) {
        const double diff = a.image(i)[p] - means[static_cast<size_t>(k * chw + p)];
        distance += diff * diff;
      }
      if (distance < best_distance) best_distance = distance, best = k;
    }
    correct += best == a.labels[static_cast<size_t>(i)];
  }
  EXPECT_GT(correct, 190);
}

}  // namespace
}  // namespace bigbatch::data
