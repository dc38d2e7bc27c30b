// Per-example training augmentation (random crop with zero padding, horizontal flip), seeded so
// that an example's transform depends only on (seed, epoch, example index) — RECIPE.md §5.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "bigbatch/data/dataset.h"

namespace bigbatch::data {

enum class AugmentKind { none, standard };

// "none" or "standard" (the --augment flag); anything else throws InvalidArgument.
AugmentKind parse_augment_kind(const std::string& name);
const char* augment_kind_name(AugmentKind kind);

struct AugmentOptions {
  AugmentKind kind = AugmentKind::none;
  int64_t pad = 4;    // crop offsets in [−pad, pad] (4 for 32×32 CIFAR); 0 disables the crop
  bool flip = true;   // mirror left-right with probability 1/2
  uint64_t seed = 0;  // the run's seed; mixed with a tag so it is independent of the sampler's
};

// One example's transform: dst(c, y, x) = src(c, y + dy, x') with x' = x + dx, or
// W − 1 − x + dx when flipped (crop first, then mirror, as torchvision does); a source
// pixel outside the image is a zero (black) pixel, which normalises to −mean/std.
struct CropFlip {
  int64_t dy = 0, dx = 0;
  bool flip = false;
};

// The transform of example `index` in `epoch`; identity when kind is none.
CropFlip draw_crop_flip(const AugmentOptions& options, int64_t epoch, int64_t index);

// Writes one C×H×W uint8 image through a transform as uint8 (for tests and previews).
void apply_crop_flip(const uint8_t* src, int64_t channels, int64_t height, int64_t width, const CropFlip& t,
                     uint8_t* dst);

// write_normalized with augmentation: examples indices[0..B) of `epoch`, each through its own
// transform, as normalised f32 NCHW into dst (B·C·H·W) and their labels into labels (B).
void write_augmented(const Dataset& dataset, const AugmentOptions& options, int64_t epoch,
                     std::span<const int64_t> indices, std::span<float> dst, std::span<int32_t> labels);

}  // namespace bigbatch::data
