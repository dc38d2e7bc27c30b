// NCHW extents of an activation; every op's reference works on dense NCHW f32/f64 arrays.
#pragma once

#include <cstdint>
#include <string>

namespace bigbatch::ops {

struct Dims4 {
  int64_t n = 0, c = 0, h = 0, w = 0;

  int64_t numel() const { return n * c * h * w; }
  int64_t spatial() const { return h * w; }
  bool operator==(const Dims4&) const = default;
  std::string to_string() const;  // "16x3x32x32"
};

}  // namespace bigbatch::ops
