// Fuzz target: a safetensors file (io::SafetensorsFile::read), then every tensor it holds
// read back raw and, where the dtype converts, as f32 (the path of --init and --resume).
#include <vector>

#include "bigbatch/core/error.h"
#include "bigbatch/io/safetensors.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = bigbatch::fuzz::write_scratch("input.safetensors", {data, size});
  try {
    const auto file = bigbatch::io::SafetensorsFile::read(path);
    std::vector<float> values;
    for (const std::string& name : file.names()) {
      const bigbatch::io::TensorInfo& info = file.info(name);
      (void)file.raw(name);
      values.assign(static_cast<size_t>(info.shape.numel()), 0.0f);
      try {
        file.read_f32(name, values.data(), info.shape);
      } catch (const bigbatch::InvalidArgument&) {
        // U8, BOOL, ...: stored but not convertible, an error by contract.
      }
    }
    (void)file.metadata();
  } catch (const bigbatch::Error&) {
  }
  return 0;
}
