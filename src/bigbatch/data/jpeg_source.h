// An ExampleSource over JPEG images (a folder tree or packed shards): each example is read,
// decoded at the DCT scale its crop allows, resampled like PIL and normalised (image_transform.h).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bigbatch/data/encoded_images.h"
#include "bigbatch/data/example_source.h"
#include "bigbatch/data/image_transform.h"

namespace bigbatch::data {

struct JpegSourceOptions {
  ImageTransformOptions transform;
  // Training transform: RandomResizedCrop + flip; with false, the evaluation transform.
  bool augment = true;
  // A bad image (unreadable, corrupt, failed checksum) is replaced by the next readable
  // example in index order (wrapping around) with that example's label, under the bad
  // example's own transform draws; it is logged once. Without it, it is an error.
  bool skip_bad_images = false;
  // An image whose header claims more pixels is bad (a decompression bomb), found before decoding.
  int64_t max_image_pixels = kDefaultMaxImagePixels;
  std::function<void(const std::string&)> log;  // skip lines; null: stderr
};

class JpegSource final : public ExampleSource {
 public:
  JpegSource(std::unique_ptr<EncodedImages> images, const JpegSourceOptions& options);

  const std::string& name() const override { return name_; }
  int64_t size() const override { return images_->size(); }
  int64_t num_classes() const override { return static_cast<int64_t>(images_->class_names().size()); }
  ExampleShape example_shape() const override { return {3, options_.transform.size, options_.transform.size}; }
  void write(Transform transform, int64_t epoch, std::span<const int64_t> indices, std::span<float> dst,
             std::span<int32_t> labels) const override;

  const EncodedImages& images() const { return *images_; }
  // The example as planar uint8 3 × size × size before normalisation (for tests); flip is
  // applied by write(), and returned here.
  void decode_planar(Transform transform, int64_t epoch, int64_t index, std::vector<uint8_t>& out, bool& flip) const;

 private:
  // Example `index` decoded under the transform draws of example `draw_index` (a substitute
  // keeps the draws of the example it replaces, so no other example's crop moves).
  void decode_as(Transform transform, int64_t epoch, int64_t index, int64_t draw_index, std::vector<uint8_t>& out,
                 bool& flip) const;
  // One example into out (3·size·size floats); returns its label. Throws on a bad image.
  int32_t write_one(Transform transform, int64_t epoch, int64_t index, int64_t draw_index, float* out) const;
  void report_bad(int64_t index, const std::string& what) const;

  std::unique_ptr<EncodedImages> images_;
  JpegSourceOptions options_;
  std::string name_;
  // 1 for an example known to be bad, so it is logged once and not read again.
  std::unique_ptr<std::atomic<uint8_t>[]> bad_;
  mutable std::mutex log_mutex_;
};

}  // namespace bigbatch::data
