// A seeded synthetic classification dataset for benchmarks and smoke runs: learnable, so a
// short run shows the loss going down, and identical for a given seed on every machine.
#pragma once

#include <cstdint>

#include "bigbatch/data/dataset.h"

namespace bigbatch::data {

struct SyntheticOptions {
  int64_t size = 1024;  // N examples; example i has label i mod num_classes
  int64_t channels = 3, height = 32, width = 32;
  int64_t num_classes = 10;
  uint64_t seed = 0;
  // Each pixel is its class's pattern value (uniform in [32, 224)) plus uniform noise in
  // [−noise, noise], clamped to [0, 255]. Larger noise makes the task harder.
  int64_t noise = 64;
};

// Normalisation is the data's own per-channel mean and standard deviation.
Dataset make_synthetic(const SyntheticOptions& options);

}  // namespace bigbatch::data
