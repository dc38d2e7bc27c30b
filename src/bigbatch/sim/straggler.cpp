// The expected maximum of p normals, for the straggler model (see the header).
#include "bigbatch/sim/straggler.h"

#include <cmath>
#include <numbers>

#include "bigbatch/core/error.h"

namespace bigbatch::sim {

double expected_max_of_normals(int64_t p) {
  BIGBATCH_CHECK(p >= 1, "[sim] expected at least 1 GPU, got " << p);
  if (p == 1) return 0.0;
  // Simpson's rule on [-10, 10]: the density of the maximum is p·φ(x)·Φ(x)^(p−1), negligible
  // outside for any p this model takes (its mode grows like sqrt(2 ln p) < 6 for p < 2^20).
  constexpr int kIntervals = 4000;
  constexpr double kLo = -10.0, kHi = 10.0, kH = (kHi - kLo) / kIntervals;
  const auto n = static_cast<double>(p);
  double sum = 0.0;
  for (int i = 0; i <= kIntervals; ++i) {
    const double x = kLo + kH * i;
    const double phi = std::exp(-0.5 * x * x) / std::sqrt(2.0 * std::numbers::pi);
    const double cdf = 0.5 * std::erfc(-x / std::numbers::sqrt2);
    const double f = cdf > 0.0 ? x * n * phi * std::exp((n - 1.0) * std::log(cdf)) : 0.0;
    sum += f * (i == 0 || i == kIntervals ? 1.0 : (i % 2 == 1 ? 4.0 : 2.0));
  }
  return sum * kH / 3.0;
}

double straggler_factor(int64_t p, double spread) {
  BIGBATCH_CHECK(std::isfinite(spread) && spread >= 0, "[sim] expected a compute-time spread >= 0, got " << spread);
  return 1.0 + spread * expected_max_of_normals(p);
}

}  // namespace bigbatch::sim
