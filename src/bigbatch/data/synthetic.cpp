// Synthetic data: one random mean image per class plus per-example noise; each example's
// noise has its own stream (derive_seed), so the contents do not depend on generation order.
#include "bigbatch/data/synthetic.h"

#include <algorithm>
#include <string>

#include "bigbatch/core/error.h"
#include "bigbatch/core/rng.h"

namespace bigbatch::data {

namespace {
// Stream tags separating the class patterns from the example noise under one seed.
constexpr uint64_t kPatternStream = 0x7061747465726e;  // "pattern"
constexpr uint64_t kNoiseStream = 0x6e6f697365;        // "noise"
}  // namespace

Dataset make_synthetic(const SyntheticOptions& o) {
  BIGBATCH_CHECK(o.size >= 0 && o.channels > 0 && o.height > 0 && o.width > 0 && o.num_classes > 0,
                 "[data:synthetic] size " << o.size << ", image " << o.channels << "x" << o.height << "x" << o.width
                                          << ", " << o.num_classes << " classes: expected positive extents");
  BIGBATCH_CHECK(o.noise >= 0 && o.noise <= 255, "[data:synthetic] noise " << o.noise << " outside [0, 255]");
  Dataset d;
  d.name = "synthetic(seed " + std::to_string(o.seed) + ")";
  d.channels = o.channels;
  d.height = o.height;
  d.width = o.width;
  d.num_classes = o.num_classes;
  const int64_t chw = d.example_numel();

  std::vector<uint8_t> patterns(static_cast<size_t>(o.num_classes * chw));
  for (int64_t k = 0; k < o.num_classes; ++k) {
    Rng rng(derive_seed(derive_seed(o.seed, kPatternStream), static_cast<uint64_t>(k)));
    for (int64_t p = 0; p < chw; ++p)
      patterns[static_cast<size_t>(k * chw + p)] = static_cast<uint8_t>(32 + rng.below(192));
  }

  d.pixels.resize(static_cast<size_t>(o.size * chw));
  d.labels.resize(static_cast<size_t>(o.size));
  const uint64_t noise_seed = derive_seed(o.seed, kNoiseStream);
  for (int64_t i = 0; i < o.size; ++i) {
    const int64_t label = i % o.num_classes;
    d.labels[static_cast<size_t>(i)] = static_cast<int32_t>(label);
    Rng rng(derive_seed(noise_seed, static_cast<uint64_t>(i)));
    const uint8_t* pattern = patterns.data() + label * chw;
    uint8_t* dst = d.pixels.data() + i * chw;
    for (int64_t p = 0; p < chw; ++p) {
      const int64_t noise = static_cast<int64_t>(rng.below(static_cast<uint64_t>(2 * o.noise + 1))) - o.noise;
      dst[p] = static_cast<uint8_t>(std::clamp<int64_t>(pattern[p] + noise, 0, 255));
    }
  }
  compute_normalization(d);
  validate(d);
  return d;
}

}  // namespace bigbatch::data
