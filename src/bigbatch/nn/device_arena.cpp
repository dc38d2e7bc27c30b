// Dispatch of the arena operations by the device the arena lives on.
#include "bigbatch/nn/device_arena.h"

#include <cmath>

#include "bigbatch/backend/cuda/arena_ops.h"
#include "bigbatch/core/error.h"

namespace bigbatch::nn {

namespace {
size_t bytes_of(const Arena& a) { return static_cast<size_t>(a.total_elems()) * sizeof(float); }
}  // namespace

Arena make_arena(std::shared_ptr<const ArenaLayout> layout, Device device) {
  if (device == Device::cpu) return Arena(std::move(layout));
  const size_t bytes = static_cast<size_t>(layout->total_elems()) * sizeof(float);
  return Arena(std::move(layout), backend::cuda::allocate_storage(bytes));
}

void copy_arena(const Arena& dst, const Arena& src) {
  BIGBATCH_CHECK(dst.total_elems() == src.total_elems(), "[arena] copy between different layouts");
  if (dst.same_storage(src)) return;
  if (dst.device() == Device::cpu && src.device() == Device::cpu)
    dst.copy_from(src);
  else
    backend::cuda::copy_bytes(dst.data(), src.data(), bytes_of(dst));
}

void zero_arena(const Arena& a) {
  if (a.device() == Device::cpu)
    a.zero();
  else
    backend::cuda::zero_bytes(a.data(), bytes_of(a));
}

void add_arena(const Arena& dst, const Arena& src) {
  BIGBATCH_CHECK(dst.total_elems() == src.total_elems() && dst.device() == src.device(),
                 "[arena] add between different layouts or devices");
  float* d = dst.data();
  const float* s = src.data();
  const int64_t n = dst.total_elems();
  if (dst.device() != Device::cpu) return backend::cuda::add_into(d, s, n);
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i) d[i] += s[i];
}

void scale_arena(const Arena& a, float factor) {
  float* d = a.data();
  const int64_t n = a.total_elems();
  if (a.device() != Device::cpu) return backend::cuda::scale(d, n, factor);
#pragma omp parallel for simd
  for (int64_t i = 0; i < n; ++i) d[i] *= factor;
}

bool arena_is_finite(const Arena& a) {
  const float* d = a.data();
  const int64_t n = a.total_elems();
  if (a.device() != Device::cpu) return backend::cuda::all_finite(d, n);
  bool finite = true;
#pragma omp parallel for reduction(&& : finite)
  for (int64_t i = 0; i < n; ++i) finite = finite && std::isfinite(d[i]);
  return finite;
}

}  // namespace bigbatch::nn
