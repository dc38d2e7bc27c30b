#include "bigbatch/core/storage.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "bigbatch/core/error.h"

namespace bigbatch {

std::shared_ptr<Storage> Storage::allocate(size_t nbytes, Device device) {
  BIGBATCH_CHECK(device == Device::cpu,
                 "[storage] " << device_name(device) << " memory is owned by its backend, not by core Storage");
  size_t rounded = (nbytes + kStorageAlignment - 1) / kStorageAlignment * kStorageAlignment;
  if (rounded == 0) rounded = kStorageAlignment;
  void* data = std::aligned_alloc(kStorageAlignment, rounded);
  if (data == nullptr) throw std::bad_alloc();
  std::memset(data, 0, rounded);
  return std::shared_ptr<Storage>(new Storage(data, nbytes, device, std::free));
}

std::shared_ptr<Storage> Storage::adopt(void* data, size_t nbytes, Device device, void (*release)(void*)) {
  BIGBATCH_CHECK(data != nullptr && release != nullptr, "[storage] adopt() needs memory and its release function");
  return std::shared_ptr<Storage>(new Storage(data, nbytes, device, release));
}

Storage::~Storage() { release_(data_); }

}  // namespace bigbatch
