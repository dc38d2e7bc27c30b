// Test helpers shared by op and network tests: seeded random arrays, array comparison with a
// relative + absolute tolerance, and a central-difference gradient checker in double.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "bigbatch/core/rng.h"

namespace bigbatch::testing {

// Uniform values in [lo, hi) from a seeded stream: the same seed gives the same array.
template <class T>
void fill_uniform(T* data, int64_t count, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Rng rng(seed);
  for (int64_t i = 0; i < count; ++i) data[i] = static_cast<T>(lo + (hi - lo) * rng.uniform());
}

template <class T = double>
std::vector<T> random_vector(int64_t count, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::vector<T> v(static_cast<size_t>(count));
  fill_uniform(v.data(), count, seed, lo, hi);
  return v;
}

// NaN-filled: for outputs a function must overwrite, so that a missed element fails a comparison.
template <class T = double>
std::vector<T> nan_vector(int64_t count) {
  return std::vector<T>(static_cast<size_t>(count), std::numeric_limits<T>::quiet_NaN());
}

// Σ a[i]·b[i] in double: with b random, L = dot(dst, b) is a scalar loss whose dL/ddst = b.
template <class A, class B>
double dot(const A* a, const B* b, int64_t count) {
  double sum = 0.0;
  for (int64_t i = 0; i < count; ++i) sum += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return sum;
}

// |a[i] - b[i]| <= atol + rtol·max(|a[i]|, |b[i]|) for every i; the message names the first
// few offenders and the count.
template <class A, class B>
::testing::AssertionResult near_relative(const A* a, const B* b, int64_t count, double rtol, double atol) {
  int64_t bad = 0;
  ::testing::Message message;
  for (int64_t i = 0; i < count; ++i) {
    const double x = static_cast<double>(a[i]), y = static_cast<double>(b[i]);
    if (std::abs(x - y) <= atol + rtol * std::max(std::abs(x), std::abs(y))) continue;
    if (bad++ < 5) message << "\n  [" << i << "] " << x << " vs " << y << " (diff " << x - y << ")";
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << count << " values differ (rtol " << rtol << ", atol "
                                       << atol << "):" << message;
}

template <class A, class B>
void expect_near_relative(const A* a, const B* b, int64_t count, double rtol, double atol) {
  EXPECT_TRUE(near_relative(a, b, count, rtol, atol));
}

struct GradcheckOptions {
  double eps = 1e-6;
  double rtol = 1e-5;
  double atol = 1e-6;
  int64_t max_checks = 0;  // check at most this many entries, evenly spread; 0 = all
};

// Compares analytic[i] = dL/dx[i] with (L(x + eps·e_i) - L(x - eps·e_i)) / (2·eps), where
// loss() evaluates L from the current contents of x. x is perturbed in place and restored.
inline ::testing::AssertionResult check_gradient(const std::function<double()>& loss, double* x, int64_t count,
                                                 const double* analytic, const GradcheckOptions& options = {}) {
  const int64_t checks = options.max_checks > 0 ? std::min(options.max_checks, count) : count;
  std::vector<double> numeric(static_cast<size_t>(checks)), expected(static_cast<size_t>(checks));
  for (int64_t j = 0; j < checks; ++j) {
    const int64_t i = checks == count ? j : j * count / checks;
    const double saved = x[i];
    x[i] = saved + options.eps;
    const double up = loss();
    x[i] = saved - options.eps;
    const double down = loss();
    x[i] = saved;
    numeric[static_cast<size_t>(j)] = (up - down) / (2.0 * options.eps);
    expected[static_cast<size_t>(j)] = analytic[i];
  }
  ::testing::AssertionResult result =
      near_relative(expected.data(), numeric.data(), checks, options.rtol, options.atol);
  if (!result) result << "\n  (analytic vs numeric; indices are among the " << checks << " checked of " << count << ")";
  return result;
}

}  // namespace bigbatch::testing
