// Helpers for the CUDA kernel tests: skip without a device, move f32 host arrays (NCHW, as
// the reference ops use) into a device array of any dtype and layout and back, and compare
// with tolerances per dtype.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "bigbatch/backend/cuda/check.h"
#include "bigbatch/backend/cuda/device.h"
#include "bigbatch/backend/cuda/eltwise.h"
#include "bigbatch/backend/cuda/resources.h"
#include "bigbatch/core/error.h"
#include "testing/gradcheck.h"

// Every CUDA test starts with this: no device (or no driver) skips, never fails.
#define BIGBATCH_REQUIRE_CUDA_DEVICE()                                                        \
  do {                                                                                        \
    if (::bigbatch::backend::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";     \
  } while (0)

namespace bigbatch::backend::cuda::testing {

struct Case {
  DType dtype;
  Layout layout;
};

inline const char* layout_name(Layout l) { return l == Layout::nhwc ? "nhwc" : "nchw"; }

// The combinations every op is checked in.
inline std::vector<Case> all_cases() {
  return {{DType::f32, Layout::nchw}, {DType::f32, Layout::nhwc}, {DType::bf16, Layout::nchw},
          {DType::bf16, Layout::nhwc}, {DType::f16, Layout::nhwc}};
}

// Values in [lo, hi) that the dtype represents exactly, so both sides see the same inputs.
inline std::vector<double> random_values(int64_t count, uint64_t seed, DType dtype, double lo = -1.0,
                                         double hi = 1.0) {
  std::vector<double> v = bigbatch::testing::random_vector<double>(count, seed, lo, hi);
  for (double& x : v) {
    if (dtype == DType::bf16) x = bf16_to_f32(f32_to_bf16(static_cast<float>(x)));
    if (dtype == DType::f16) {  // 11 significant bits (normal range only: |x| >= 2^-14)
      int e = 0;
      const double m = std::frexp(x, &e);
      x = std::abs(x) < 1.0 / 16384 ? 0.0 : std::ldexp(std::round(std::ldexp(m, 11)), e - 11);
    }
    if (dtype == DType::f32) x = static_cast<float>(x);
  }
  return v;
}

// NCHW <-> layout on the host.
inline std::vector<float> to_layout(const std::vector<double>& nchw, const ops::Dims4& d, Layout layout) {
  std::vector<float> out(nchw.size());
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t c = 0; c < d.c; ++c)
      for (int64_t i = 0; i < d.spatial(); ++i) {
        const int64_t src = (n * d.c + c) * d.spatial() + i;
        const int64_t dst = layout == Layout::nhwc ? (n * d.spatial() + i) * d.c + c : src;
        out[static_cast<size_t>(dst)] = static_cast<float>(nchw[static_cast<size_t>(src)]);
      }
  return out;
}

inline std::vector<double> from_layout(const std::vector<float>& v, const ops::Dims4& d, Layout layout) {
  std::vector<double> out(v.size());
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t c = 0; c < d.c; ++c)
      for (int64_t i = 0; i < d.spatial(); ++i) {
        const int64_t dst = (n * d.c + c) * d.spatial() + i;
        const int64_t src = layout == Layout::nhwc ? (n * d.spatial() + i) * d.c + c : dst;
        out[static_cast<size_t>(dst)] = v[static_cast<size_t>(src)];
      }
  return out;
}

// A device array of dtype holding an NCHW host array in `layout` (conversion on the device).
class DeviceArray {
 public:
  DeviceArray(const std::vector<double>& nchw, const ops::Dims4& d, DType dtype, Layout layout)
      : dims_(d), dtype_(dtype), layout_(layout), buffer_(static_cast<size_t>(d.numel()) * dtype_size(dtype)) {
    const std::vector<float> host = to_layout(nchw, d, layout);
    DeviceBuffer f32(host.size() * sizeof(float));
    CUDA_CHECK(cudaMemcpy(f32.get(), host.data(), f32.bytes(), cudaMemcpyHostToDevice));
    convert_from_f32(dtype, d.numel(), f32.as<float>(), buffer_.get(), 1.0f, nullptr);
    CUDA_CHECK(cudaDeviceSynchronize());
  }
  // A flat array (weights, vectors): no layout.
  DeviceArray(const std::vector<double>& flat, DType dtype)
      : DeviceArray(flat, {1, static_cast<int64_t>(flat.size()), 1, 1}, dtype, Layout::nchw) {}

  void* get() const { return buffer_.get(); }
  std::vector<double> download() const {
    CUDA_CHECK(cudaDeviceSynchronize());  // the ops ran on a non-blocking stream
    DeviceBuffer f32(static_cast<size_t>(dims_.numel()) * sizeof(float));
    convert_to_f32(dtype_, dims_.numel(), buffer_.get(), f32.as<float>(), 1.0f, nullptr, nullptr);
    std::vector<float> host(static_cast<size_t>(dims_.numel()));
    CUDA_CHECK(cudaMemcpy(host.data(), f32.get(), f32.bytes(), cudaMemcpyDeviceToHost));
    return from_layout(host, dims_, layout_);
  }

 private:
  ops::Dims4 dims_;
  DType dtype_;
  Layout layout_;
  DeviceBuffer buffer_;
};

// f32 device vector (BN parameters and statistics).
inline DeviceBuffer upload_f32(const std::vector<double>& v) {
  std::vector<float> f(v.begin(), v.end());
  DeviceBuffer b(f.size() * sizeof(float));
  CUDA_CHECK(cudaMemcpy(b.get(), f.data(), b.bytes(), cudaMemcpyHostToDevice));
  return b;
}

inline std::vector<double> download_f32(const float* p, int64_t count) {
  std::vector<float> f(static_cast<size_t>(count));
  CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaMemcpy(f.data(), p, f.size() * sizeof(float), cudaMemcpyDeviceToHost));
  return std::vector<double>(f.begin(), f.end());
}

// f32 (FMA math, no TF32): tight; 16-bit: relative to the array's scale.
inline ::testing::AssertionResult close(const std::vector<double>& expected, const std::vector<double>& actual,
                                        DType dtype) {
  if (expected.size() != actual.size())
    return ::testing::AssertionFailure() << "sizes " << expected.size() << " vs " << actual.size();
  double scale = 1.0;
  for (double x : expected) scale = std::max(scale, std::abs(x));
  const double rtol = dtype == DType::f32 ? 1e-3 : dtype == DType::f16 ? 1e-2 : 3e-2;
  return bigbatch::testing::near_relative(actual.data(), expected.data(), static_cast<int64_t>(expected.size()), rtol,
                                          rtol * scale);
}

}  // namespace bigbatch::backend::cuda::testing
