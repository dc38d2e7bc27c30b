// An owning, 64-byte-aligned block of bytes on one device; tensors are views into it.
#pragma once

#include <cstddef>
#include <memory>

#include "bigbatch/core/dtype.h"

namespace bigbatch {

inline constexpr size_t kStorageAlignment = 64;

class Storage {
 public:
  // Allocates nbytes (rounded up to the alignment), zero-filled on the CPU. Other devices'
  // memory is allocated by their backend and handed over with adopt().
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device = Device::cpu);
  // Takes ownership of `data` (nbytes on `device`), released with release(data).
  static std::shared_ptr<Storage> adopt(void* data, size_t nbytes, Device device, void (*release)(void*));

  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  Storage(void* data, size_t nbytes, Device device, void (*release)(void*))
      : data_(data), nbytes_(nbytes), device_(device), release_(release) {}
  void* data_;
  size_t nbytes_;
  Device device_;
  void (*release_)(void*);
};

}  // namespace bigbatch
