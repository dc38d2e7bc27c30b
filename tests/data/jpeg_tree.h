// Helpers for the JPEG tests: seeded smooth test images (gradients, a disc, mild noise: they
// compress like photographs, not like noise) and ImageFolder trees written with libjpeg.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bigbatch/core/rng.h"
#include "bigbatch/data/jpeg_codec.h"
#include "data/test_files.h"

namespace bigbatch::data::testing {

inline RgbImage test_image(int64_t width, int64_t height, uint64_t seed) {
  Rng rng(seed);
  RgbImage image{width, height, std::vector<uint8_t>(static_cast<size_t>(width * height * 3))};
  const double cx = rng.uniform() * static_cast<double>(width), cy = rng.uniform() * static_cast<double>(height);
  const double radius = (0.2 + 0.3 * rng.uniform()) * static_cast<double>(std::min(width, height));
  double base[3], slope_x[3], slope_y[3], disc[3];
  for (int c = 0; c < 3; ++c) {
    base[c] = 40 + 100 * rng.uniform();
    slope_x[c] = 80 * rng.uniform() / static_cast<double>(width);
    slope_y[c] = 80 * rng.uniform() / static_cast<double>(height);
    disc[c] = 255 * rng.uniform();
  }
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x) {
      const bool inside = std::hypot(static_cast<double>(x) - cx, static_cast<double>(y) - cy) < radius;
      for (int c = 0; c < 3; ++c) {
        double v =
            inside ? disc[c] : base[c] + slope_x[c] * static_cast<double>(x) + slope_y[c] * static_cast<double>(y);
        v += 8.0 * (rng.uniform() - 0.5);
        image.rgb[static_cast<size_t>((y * width + x) * 3 + c)] = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
      }
    }
  return image;
}

// The JPEG with its frame header (SOF0/1/2) patched to claim width × height: the data stays
// that of the original, smaller image (a decompression bomb, or a header over short data).
inline std::vector<uint8_t> with_claimed_size(std::vector<uint8_t> jpeg, int width, int height) {
  for (size_t i = 2; i + 9 < jpeg.size();) {
    const uint8_t marker = jpeg[i + 1];
    const size_t length = static_cast<size_t>(jpeg[i + 2]) << 8 | jpeg[i + 3];
    if (marker == 0xC0 || marker == 0xC1 || marker == 0xC2) {
      // Segment: FF Cn, u16 length, u8 precision, u16 height, u16 width (big-endian).
      jpeg[i + 5] = static_cast<uint8_t>(height >> 8);
      jpeg[i + 6] = static_cast<uint8_t>(height);
      jpeg[i + 7] = static_cast<uint8_t>(width >> 8);
      jpeg[i + 8] = static_cast<uint8_t>(width);
      return jpeg;
    }
    i += 2 + length;
  }
  ADD_FAILURE() << "no frame header found";
  return jpeg;
}

struct TreeSpec {
  std::vector<std::string> classes = {"cat", "dog", "emu"};
  int64_t train_per_class = 4, val_per_class = 2;
  int64_t width = 48, height = 40;
  int quality = 90;
};

// root/train/<class>/img<i>.jpg and root/val/<class>/img<i>.jpg; image sizes vary a little
// per file so that crops and scales differ.
inline void write_tree(const std::string& root, const TreeSpec& spec) {
  uint64_t seed = 1;
  for (const char* split : {"train", "val"}) {
    const int64_t count = std::string(split) == "train" ? spec.train_per_class : spec.val_per_class;
    for (const std::string& name : spec.classes) {
      const std::filesystem::path dir = std::filesystem::path(root) / split / name;
      std::filesystem::create_directories(dir);
      for (int64_t i = 0; i < count; ++i, ++seed) {
        const RgbImage image = test_image(spec.width + static_cast<int64_t>(seed % 5) * 4,
                                          spec.height + static_cast<int64_t>(seed % 3) * 4, seed);
        write_file((dir / ("img" + std::to_string(i) + ".jpg")).string(), encode_jpeg(image, spec.quality));
      }
    }
  }
}

}  // namespace bigbatch::data::testing
