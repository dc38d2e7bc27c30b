#include "bigbatch/core/tensor.h"

#include <algorithm>
#include <cstring>

namespace bigbatch {

Tensor Tensor::zeros(Shape shape, DType dtype, Device device) {
  for (int64_t d : shape.dims()) BIGBATCH_CHECK(d >= 0, "[tensor] negative extent in shape " << shape.to_string());
  size_t nbytes = static_cast<size_t>(shape.numel()) * dtype_size(dtype);
  return view_of(Storage::allocate(nbytes, device), 0, std::move(shape), dtype);
}

Tensor Tensor::view_of(std::shared_ptr<Storage> storage, size_t byte_offset, Shape shape, DType dtype) {
  BIGBATCH_CHECK(storage != nullptr, "[tensor] view of null storage");
  size_t nbytes = static_cast<size_t>(shape.numel()) * dtype_size(dtype);
  BIGBATCH_CHECK(byte_offset + nbytes <= storage->nbytes(),
                 "[tensor] view " << shape.to_string() << " at byte " << byte_offset << " exceeds storage of "
                                  << storage->nbytes() << " bytes");
  Tensor t;
  t.storage_ = std::move(storage);
  t.byte_offset_ = byte_offset;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::reshape(Shape shape) const {
  BIGBATCH_CHECK(shape.numel() == numel(),
                 "[tensor] reshape " << shape_.to_string() << " to " << shape.to_string() << " changes numel");
  return view_of(storage_, byte_offset_, std::move(shape), dtype_);
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  BIGBATCH_CHECK(rank() >= 1 && 0 <= begin && begin <= end && end <= dim(0),
                 "[tensor] slice [" << begin << ", " << end << ") of " << shape_.to_string());
  std::vector<int64_t> dims = shape_.dims();
  int64_t row = numel() / std::max<int64_t>(dims[0], 1);
  dims[0] = end - begin;
  return view_of(storage_, byte_offset_ + static_cast<size_t>(begin * row) * dtype_size(dtype_), Shape(dims),
                 dtype_);
}

void Tensor::fill(float value) const {
  float* p = data<float>();
  std::fill(p, p + numel(), value);
}

void Tensor::copy_from(const Tensor& src) const {
  BIGBATCH_CHECK(src.dtype() == dtype_ && src.numel() == numel(),
                 "[tensor] copy " << src.shape().to_string() << " " << dtype_name(src.dtype()) << " into "
                                  << shape_.to_string() << " " << dtype_name(dtype_));
  std::memmove(raw(), src.raw(), nbytes());
}

}  // namespace bigbatch
