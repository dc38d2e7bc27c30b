// Dataset consistency checks and the plain (un-augmented) normalising batch writer.
#include "bigbatch/data/dataset.h"

#include <cmath>

#include "bigbatch/core/error.h"

namespace bigbatch::data {

void validate(const Dataset& d) {
  BIGBATCH_CHECK(d.channels > 0 && d.height > 0 && d.width > 0, "[data] " << d.name << ": image shape " << d.channels
                                                                          << "x" << d.height << "x" << d.width
                                                                          << " has an empty dimension");
  BIGBATCH_CHECK(d.num_classes > 0, "[data] " << d.name << ": num_classes is " << d.num_classes);
  BIGBATCH_CHECK(static_cast<int64_t>(d.pixels.size()) == d.size() * d.example_numel(),
                 "[data] " << d.name << ": expected " << d.size() * d.example_numel() << " pixels for " << d.size()
                           << " examples, found " << d.pixels.size());
  for (int64_t i = 0; i < d.size(); ++i) {
    int32_t label = d.labels[static_cast<size_t>(i)];
    BIGBATCH_CHECK(label >= 0 && label < d.num_classes, "[data] " << d.name << ": label " << label << " of example "
                                                                  << i << " is outside [0, " << d.num_classes << ")");
  }
  BIGBATCH_CHECK(
      static_cast<int64_t>(d.mean.size()) == d.channels && static_cast<int64_t>(d.stddev.size()) == d.channels,
      "[data] " << d.name << ": expected " << d.channels << " means and standard deviations, found " << d.mean.size()
                << " and " << d.stddev.size());
  for (float s : d.stddev)
    BIGBATCH_CHECK(s > 0 && std::isfinite(s),
                   "[data] " << d.name << ": standard deviation " << s << " is not positive");
}

ChannelAffine channel_affine(const Dataset& d, int64_t c) {
  // Folded in double, rounded once to f32: (p/255 − m)/s = p·(1/(255 s)) + (−m/s).
  const double m = d.mean[static_cast<size_t>(c)], s = d.stddev[static_cast<size_t>(c)];
  return {static_cast<float>(1.0 / (255.0 * s)), static_cast<float>(-m / s)};
}

void write_normalized(const Dataset& d, std::span<const int64_t> indices, std::span<float> dst,
                      std::span<int32_t> labels) {
  const int64_t hw = d.height * d.width, chw = d.example_numel();
  BIGBATCH_CHECK(
      static_cast<int64_t>(dst.size()) == static_cast<int64_t>(indices.size()) * chw && labels.size() == indices.size(),
      "[data] " << d.name << ": batch of " << indices.size() << " needs " << indices.size() * chw << " floats and "
                << indices.size() << " labels, got " << dst.size() << " and " << labels.size());
  for (size_t b = 0; b < indices.size(); ++b) {
    const int64_t i = indices[b];
    BIGBATCH_CHECK(i >= 0 && i < d.size(),
                   "[data] " << d.name << ": example " << i << " outside [0, " << d.size() << ")");
    const uint8_t* src = d.image(i);
    float* out = dst.data() + static_cast<int64_t>(b) * chw;
    for (int64_t c = 0; c < d.channels; ++c) {
      const ChannelAffine a = channel_affine(d, c);
      for (int64_t p = 0; p < hw; ++p) out[c * hw + p] = static_cast<float>(src[c * hw + p]) * a.scale + a.shift;
    }
    labels[b] = d.labels[static_cast<size_t>(i)];
  }
}

void compute_normalization(Dataset& d) {
  const int64_t hw = d.height * d.width;
  d.mean.assign(static_cast<size_t>(d.channels), 0.0f);
  d.stddev.assign(static_cast<size_t>(d.channels), 1.0f);
  if (d.size() == 0 || hw == 0) return;
  for (int64_t c = 0; c < d.channels; ++c) {
    // Integer sums are exact (at most 2^63 / 255² pixels), so the result does not depend on order.
    uint64_t sum = 0, sum_sq = 0;
    for (int64_t i = 0; i < d.size(); ++i) {
      const uint8_t* p = d.image(i) + c * hw;
      for (int64_t k = 0; k < hw; ++k) {
        sum += p[k];
        sum_sq += static_cast<uint64_t>(p[k]) * p[k];
      }
    }
    const double count = static_cast<double>(d.size() * hw);
    const double mean = static_cast<double>(sum) / count / 255.0;
    const double var = static_cast<double>(sum_sq) / count / (255.0 * 255.0) - mean * mean;
    d.mean[static_cast<size_t>(c)] = static_cast<float>(mean);
    // A constant channel gets stddev 1 so normalisation stays finite.
    d.stddev[static_cast<size_t>(c)] = var > 1e-12 ? static_cast<float>(std::sqrt(var)) : 1.0f;
  }
}

}  // namespace bigbatch::data
