// Fuzz target: an MNIST-style pair of idx files (data::load_idx), plain or gzipped.
// Input: [u32 little-endian length n][n bytes: the idx3 image file][the rest: the idx1 label file].
#include "bigbatch/core/error.h"
#include "bigbatch/data/idx.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [images, labels] = bigbatch::fuzz::split_input(data, size);
  const std::string images_path = bigbatch::fuzz::write_scratch("images-idx3-ubyte", images);
  const std::string labels_path = bigbatch::fuzz::write_scratch("labels-idx1-ubyte", labels);
  try {
    (void)bigbatch::data::load_idx(images_path, labels_path, 10);
  } catch (const bigbatch::Error&) {
  }
  return 0;
}
