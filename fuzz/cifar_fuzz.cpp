// Fuzz target: a CIFAR binary file (data::load_cifar_files), plain or gzipped. The first input
// byte picks the record layout (CIFAR-10, CIFAR-100 fine or coarse labels); the rest is the file.
#include "bigbatch/core/error.h"
#include "bigbatch/data/cifar.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  struct Layout {
    int64_t label_bytes, label_index, num_classes;
  };
  constexpr Layout kLayouts[] = {{1, 0, 10}, {2, 1, 100}, {2, 0, 20}};
  const Layout& layout = kLayouts[data[0] % 3];
  const std::string path = bigbatch::fuzz::write_scratch("data_batch.bin", {data + 1, size - 1});
  try {
    (void)bigbatch::data::load_cifar_files({path}, layout.label_bytes, layout.label_index, layout.num_classes);
  } catch (const bigbatch::Error&) {
  }
  return 0;
}
