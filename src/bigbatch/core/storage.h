// An owning, 64-byte-aligned block of bytes on one device; tensors are views into it.
#pragma once

#include <cstddef>
#include <memory>

#include "bigbatch/core/dtype.h"

namespace bigbatch {

inline constexpr size_t kStorageAlignment = 64;

class Storage {
 public:
  // Allocates nbytes (rounded up to the alignment), zero-filled on the CPU.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device = Device::cpu);

  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  Storage(void* data, size_t nbytes, Device device) : data_(data), nbytes_(nbytes), device_(device) {}
  void* data_;
  size_t nbytes_;
  Device device_;
};

}  // namespace bigbatch
