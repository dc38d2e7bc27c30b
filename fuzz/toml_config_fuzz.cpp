// Fuzz target: a TOML training config (cli::apply_toml, then train::validate as `bigbatch
// train --config` does). A config that parses must also survive to_toml and read back to the
// same text (train_options.h's contract); a break of that is a finding too (abort).
#include <cstdlib>

#include "bigbatch/cli/train_options.h"
#include "bigbatch/core/error.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const bigbatch::train::TrainConfig defaults;
  bigbatch::train::TrainConfig config;
  try {
    config = bigbatch::cli::apply_toml(defaults, text, "fuzz.toml");
  } catch (const bigbatch::Error&) {
    return 0;
  }
  const std::string written = bigbatch::cli::to_toml(config);
  const std::string again = bigbatch::cli::to_toml(bigbatch::cli::apply_toml(defaults, written, "to_toml"));
  if (again != written) std::abort();
  try {
    bigbatch::train::validate(config);
  } catch (const bigbatch::Error&) {
  }
  return 0;
}
