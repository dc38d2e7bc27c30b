// Augmentation: each example draws from its own Rng seeded by (seed, epoch, index), so the
// output is the same whatever the thread count, the number of workers k, or the order in
// which examples are processed (RECIPE.md §5: "augmentation is per example and seeded").
#include "bigbatch/data/augment.h"

#include <algorithm>

#include "bigbatch/core/error.h"
#include "bigbatch/core/rng.h"

namespace bigbatch::data {

namespace {

// Separates the augmentation streams from the sampler's derive_seed(seed, epoch).
constexpr uint64_t kAugmentStream = 0x6175676d656e74;  // "augment"

// The source column of output column x, before the bounds check.
inline int64_t source_x(const CropFlip& t, int64_t x, int64_t width) { return (t.flip ? width - 1 - x : x) + t.dx; }

}  // namespace

AugmentKind parse_augment_kind(const std::string& name) {
  if (name == "none") return AugmentKind::none;
  if (name == "standard") return AugmentKind::standard;
  BIGBATCH_THROW(InvalidArgument, "[data:augment] unknown augmentation '" << name << "': expected standard or none");
}

const char* augment_kind_name(AugmentKind kind) {
  switch (kind) {
    case AugmentKind::none:
      return "none";
    case AugmentKind::standard:
      return "standard";
  }
  return "?";
}

CropFlip draw_crop_flip(const AugmentOptions& o, int64_t epoch, int64_t index) {
  CropFlip t;
  switch (o.kind) {
    case AugmentKind::none:
      return t;
    case AugmentKind::standard:
      break;
  }
  const uint64_t epoch_seed = derive_seed(derive_seed(o.seed, kAugmentStream), static_cast<uint64_t>(epoch));
  Rng rng(derive_seed(epoch_seed, static_cast<uint64_t>(index)));
  // Always the same draws in the same order, so enabling one part never shifts another.
  const auto span = static_cast<uint64_t>(2 * o.pad + 1);
  t.dy = static_cast<int64_t>(rng.below(span)) - o.pad;
  t.dx = static_cast<int64_t>(rng.below(span)) - o.pad;
  const bool flip = rng.below(2) == 1;
  t.flip = o.flip && flip;
  return t;
}

void apply_crop_flip(const uint8_t* src, int64_t channels, int64_t height, int64_t width, const CropFlip& t,
                     uint8_t* dst) {
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t y = 0; y < height; ++y) {
      const int64_t sy = y + t.dy;
      for (int64_t x = 0; x < width; ++x) {
        const int64_t sx = source_x(t, x, width);
        const bool inside = sy >= 0 && sy < height && sx >= 0 && sx < width;
        dst[(c * height + y) * width + x] = inside ? src[(c * height + sy) * width + sx] : uint8_t{0};
      }
    }
  }
}

void write_augmented(const Dataset& d, const AugmentOptions& o, int64_t epoch, std::span<const int64_t> indices,
                     std::span<float> dst, std::span<int32_t> labels) {
  switch (o.kind) {
    case AugmentKind::none:
      return write_normalized(d, indices, dst, labels);
    case AugmentKind::standard:
      break;
  }
  BIGBATCH_CHECK(o.pad >= 0 && o.pad < d.height && o.pad < d.width,
                 "[data:augment] padding " << o.pad << " must lie in [0, " << std::min(d.height, d.width) << ")");
  const int64_t H = d.height, W = d.width, chw = d.example_numel();
  BIGBATCH_CHECK(
      static_cast<int64_t>(dst.size()) == static_cast<int64_t>(indices.size()) * chw && labels.size() == indices.size(),
      "[data:augment] batch of " << indices.size() << " needs " << indices.size() * chw << " floats and "
                                 << indices.size() << " labels, got " << dst.size() << " and " << labels.size());
  for (size_t b = 0; b < indices.size(); ++b) {
    const int64_t i = indices[b];
    BIGBATCH_CHECK(i >= 0 && i < d.size(),
                   "[data:augment] " << d.name << ": example " << i << " outside [0, " << d.size() << ")");
    const CropFlip t = draw_crop_flip(o, epoch, i);
    const uint8_t* src = d.image(i);
    float* out = dst.data() + static_cast<int64_t>(b) * chw;
    for (int64_t c = 0; c < d.channels; ++c) {
      // The padding is black pixels, normalised like any other pixel (torchvision's
      // RandomCrop(padding=p) before Normalize), hence the fill value `shift`.
      const ChannelAffine a = channel_affine(d, c);
      for (int64_t y = 0; y < H; ++y) {
        const int64_t sy = y + t.dy;
        float* row = out + (c * H + y) * W;
        if (sy < 0 || sy >= H) {
          for (int64_t x = 0; x < W; ++x) row[x] = a.shift;
          continue;
        }
        const uint8_t* src_row = src + (c * H + sy) * W;
        for (int64_t x = 0; x < W; ++x) {
          const int64_t sx = source_x(t, x, W);
          row[x] = (sx >= 0 && sx < W) ? static_cast<float>(src_row[sx]) * a.scale + a.shift : a.shift;
        }
      }
    }
    labels[b] = d.labels[static_cast<size_t>(i)];
  }
}

}  // namespace bigbatch::data
