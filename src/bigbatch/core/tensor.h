// Tensor: a shape and a dtype over a byte range of shared Storage. Always dense and
// row-major (outermost dimension first); views share the storage and never copy.
#pragma once

#include <cstdint>
#include <memory>

#include "bigbatch/core/dtype.h"
#include "bigbatch/core/error.h"
#include "bigbatch/core/shape.h"
#include "bigbatch/core/storage.h"

namespace bigbatch {

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() { return DType::f32; }
template <>
constexpr DType dtype_of<uint16_t>() { return DType::bf16; }

class Tensor {
 public:
  Tensor() = default;

  // New zero-filled storage of exactly this shape.
  static Tensor zeros(Shape shape, DType dtype = DType::f32, Device device = Device::cpu);
  // A view of `shape` starting byte_offset bytes into storage (bounds checked).
  static Tensor view_of(std::shared_ptr<Storage> storage, size_t byte_offset, Shape shape, DType dtype);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[i]; }
  int rank() const { return shape_.rank(); }
  int64_t numel() const { return shape_.numel(); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu; }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  size_t byte_offset() const { return byte_offset_; }

  void* raw() const { return static_cast<char*>(storage_->data()) + byte_offset_; }
  template <class T>
  T* data() const {
    BIGBATCH_CHECK(dtype_of<T>() == dtype_,
                   "[tensor] data<" << dtype_name(dtype_of<T>()) << ">() on a " << dtype_name(dtype_) << " tensor");
    return static_cast<T*>(raw());
  }

  // Same elements, another shape of equal numel.
  Tensor reshape(Shape shape) const;
  // Rows [begin, end) of the outermost dimension.
  Tensor slice(int64_t begin, int64_t end) const;

  void fill(float value) const;       // f32 only
  void copy_from(const Tensor& src) const;  // same dtype and numel

 private:
  std::shared_ptr<Storage> storage_;
  size_t byte_offset_ = 0;
  Shape shape_;
  DType dtype_ = DType::f32;
};

}  // namespace bigbatch
