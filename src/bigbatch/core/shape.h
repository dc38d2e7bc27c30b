// Tensor shapes: a short list of non-negative extents, outermost first (N, C, H, W).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace bigbatch {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}

  int rank() const { return static_cast<int>(dims_.size()); }
  int64_t operator[](int i) const { return dims_[static_cast<size_t>(i)]; }
  const std::vector<int64_t>& dims() const { return dims_; }
  int64_t numel() const;

  bool operator==(const Shape& other) const = default;
  std::string to_string() const;  // "[16, 3, 3, 3]"

 private:
  std::vector<int64_t> dims_;
};

}  // namespace bigbatch
