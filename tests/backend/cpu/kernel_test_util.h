// Helpers for the oneDNN kernel tests: move plain f32 arrays into a kernel's (blocked, maybe
// bf16) layout and back, run planned steps, and make bf16-exact random inputs.
#pragma once

#include <cmath>
#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "bigbatch/backend/cpu/context.h"
#include "bigbatch/backend/cpu/memory.h"
#include "bigbatch/backend/cpu/step.h"
#include "bigbatch/core/dtype.h"
#include "bigbatch/core/error.h"
#include "testing/gradcheck.h"

namespace bigbatch::backend::cpu::testing {

using dnnl::memory;

inline int64_t product(const memory::dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// Random values in [lo, hi), rounded to bf16 when `bf16` so both sides see the same inputs.
inline std::vector<double> random_values(int64_t count, uint64_t seed, bool bf16, double lo = -1.0, double hi = 1.0) {
  std::vector<double> v = bigbatch::testing::random_vector<double>(count, seed, lo, hi);
  if (bf16)
    for (double& x : v) x = bf16_to_f32(f32_to_bf16(static_cast<float>(x)));
  return v;
}

inline std::vector<float> to_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

// A new memory of md holding `values` (plain row-major f32 over md's dims), reordered in.
inline memory upload(const std::vector<double>& values, const memory::desc& md) {
  std::vector<float> f = to_float(values);
  memory plain = make_memory(plain_md(md.dims(), memory::data_type::f32), f.data());
  memory m = make_memory(md);
  dnnl::reorder(plain, m).execute(context().stream, plain, m);
  context().stream.wait();
  return m;
}

// The contents of m as plain row-major values over its dims.
inline std::vector<double> download(memory m) {
  const memory::desc md = m.get_desc();
  std::vector<float> f(static_cast<size_t>(product(md.dims())));
  memory plain = make_memory(plain_md(md.dims(), memory::data_type::f32), f.data());
  dnnl::reorder(m, plain).execute(context().stream, m, plain);
  context().stream.wait();
  return std::vector<double>(f.begin(), f.end());
}

// A plain f32 memory over a caller-owned vector (parameters and gradients, as in the arenas).
inline memory plain_view(std::vector<float>& data, const memory::dims& dims) {
  return make_memory(plain_md(dims, memory::data_type::f32), data.data());
}

inline double max_abs(const std::vector<double>& v) {
  double m = 0.0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// f32: tight; bf16: relative to the array's scale (outputs carry 8 significant bits).
struct Tolerance {
  double rtol, atol_scale;
};
inline Tolerance tolerance(bool bf16) { return bf16 ? Tolerance{2e-2, 2e-2} : Tolerance{1e-4, 1e-5}; }

template <class A>
::testing::AssertionResult close(const std::vector<double>& expected, const A& actual, bool bf16) {
  const Tolerance t = tolerance(bf16);
  if (expected.size() != actual.size())
    return ::testing::AssertionFailure() << "sizes " << expected.size() << " vs " << actual.size();
  return bigbatch::testing::near_relative(expected.data(), actual.data(), static_cast<int64_t>(expected.size()), t.rtol,
                                          t.atol_scale * std::max(1.0, max_abs(expected)));
}

inline memory::data_type data_type(bool bf16) { return bf16 ? memory::data_type::bf16 : memory::data_type::f32; }

inline void run(const StepList& steps) { steps.run(context().stream); }

}  // namespace bigbatch::backend::cpu::testing
