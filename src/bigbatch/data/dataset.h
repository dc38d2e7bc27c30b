// An in-memory image classification dataset: uint8 N×C×H×W pixels, int32 labels and the
// per-channel normalisation that turns a pixel into the network's f32 input.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace bigbatch::data {

struct Dataset {
  std::string name;  // for messages: "fashion-mnist train", "cifar10 test", ...
  int64_t channels = 0, height = 0, width = 0;
  int64_t num_classes = 0;
  std::vector<uint8_t> pixels;  // N×C×H×W, row-major, one byte per pixel
  std::vector<int32_t> labels;  // N, each in [0, num_classes)
  // Per channel, on the [0, 1] pixel scale: x = (pixel/255 − mean[c]) / stddev[c].
  std::vector<float> mean, stddev;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t example_numel() const { return channels * height * width; }  // C·H·W
  const uint8_t* image(int64_t i) const { return pixels.data() + i * example_numel(); }
};

// Throws InvalidArgument ("[data] <name>: ...") unless the fields agree with each other:
// pixel count = N·C·H·W, labels in range, C means and C positive standard deviations.
void validate(const Dataset& dataset);

// The affine map pixel -> normalised value of channel c: x = pixel·scale + shift.
// Every writer uses this one form, so that all paths give bit-identical inputs.
struct ChannelAffine {
  float scale, shift;
};
ChannelAffine channel_affine(const Dataset& dataset, int64_t c);

// Writes examples indices[0..B) as normalised f32 NCHW into dst (B·C·H·W floats) and their
// labels into labels (B), with no augmentation. Indices must be in [0, size()).
void write_normalized(const Dataset& dataset, std::span<const int64_t> indices, std::span<float> dst,
                      std::span<int32_t> labels);

// Per-channel mean and standard deviation of the pixels (on the [0, 1] scale), over all examples.
void compute_normalization(Dataset& dataset);

}  // namespace bigbatch::data
