// Per example: read the bytes, read the header, plan the crop (its draws seeded by
// (seed, epoch, index)), decode the part it reads at the planned DCT scale, resample,
// normalise. Each decoding thread keeps its own libjpeg decompressor and buffers, so the steady
// state allocates little.
#include "bigbatch/data/jpeg_source.h"

#include <cstdio>

#include "bigbatch/core/error.h"

namespace bigbatch::data {

namespace {

struct ThreadScratch {
  JpegDecoder decoder;
  std::vector<uint8_t> bytes, planar;
  RgbImage image;
  ResampleScratch resample;
};

ThreadScratch& thread_scratch() {
  thread_local ThreadScratch scratch;
  return scratch;
}

}  // namespace

JpegSource::JpegSource(std::unique_ptr<EncodedImages> images, const JpegSourceOptions& options)
    : images_(std::move(images)),
      options_(options),
      name_(images_->name()),
      bad_(new std::atomic<uint8_t>[static_cast<size_t>(images_->size())]) {
  BIGBATCH_CHECK(options_.transform.size > 0, images_->where()
                                                  << " image size must be positive, got " << options_.transform.size);
  BIGBATCH_CHECK(options_.max_image_pixels > 0,
                 images_->where() << " the pixel limit must be positive, got " << options_.max_image_pixels);
  for (int64_t i = 0; i < images_->size(); ++i) bad_[static_cast<size_t>(i)].store(0);
}

void JpegSource::decode_planar(Transform transform, int64_t epoch, int64_t index, std::vector<uint8_t>& out,
                               bool& flip) const {
  decode_as(transform, epoch, index, index, out, flip);
}

void JpegSource::decode_as(Transform transform, int64_t epoch, int64_t index, int64_t draw_index,
                           std::vector<uint8_t>& out, bool& flip) const {
  ThreadScratch& s = thread_scratch();
  const std::string& where = images_->where();
  images_->read(index, s.bytes);
  const std::string file = images_->describe(index);
  const JpegHeader header = s.decoder.read_header(s.bytes, where, file, options_.max_image_pixels);
  const ImageTransformOptions& o = options_.transform;
  const ImagePlan plan = transform == Transform::train && options_.augment
                             ? plan_train_image(header, o, epoch, draw_index)
                             : plan_eval_image(header, o);
  out.resize(static_cast<size_t>(3 * o.size * o.size));
  render_image(s.decoder, s.bytes, header, plan, s.image, s.resample, out.data(), where, file);
  flip = plan.flip;
}

int32_t JpegSource::write_one(Transform transform, int64_t epoch, int64_t index, int64_t draw_index, float* out) const {
  ThreadScratch& s = thread_scratch();
  bool flip = false;
  decode_as(transform, epoch, index, draw_index, s.planar, flip);
  normalize_planar(s.planar.data(), options_.transform.size, options_.transform.size, flip, options_.transform, out);
  return images_->label(index);
}

void JpegSource::report_bad(int64_t index, const std::string& what) const {
  if (bad_[static_cast<size_t>(index)].exchange(1) != 0) return;  // logged already
  const std::string line = "bigbatch: warning: " + what + "; skipped (--skip-bad-images): example " +
                           std::to_string(index) + " is replaced by the next readable one";
  std::lock_guard<std::mutex> lock(log_mutex_);
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

void JpegSource::write(Transform transform, int64_t epoch, std::span<const int64_t> indices, std::span<float> dst,
                       std::span<int32_t> labels) const {
  const int64_t numel = example_shape().numel(), n = size();
  BIGBATCH_CHECK(static_cast<int64_t>(dst.size()) == static_cast<int64_t>(indices.size()) * numel &&
                     labels.size() == indices.size(),
                 images_->where() << " batch of " << indices.size() << " needs " << indices.size() * numel
                                  << " floats and " << indices.size() << " labels");
  for (size_t b = 0; b < indices.size(); ++b) {
    const int64_t i = indices[b];
    BIGBATCH_CHECK(i >= 0 && i < n, images_->where()
                                        << " " << name_ << ": example " << i << " outside [0, " << n << ")");
    float* out = dst.data() + static_cast<int64_t>(b) * numel;
    if (!options_.skip_bad_images) {
      labels[b] = write_one(transform, epoch, i, i, out);
      continue;
    }
    // The next readable example in index order; the set of bad files alone decides which.
    bool written = false;
    for (int64_t k = 0; k < n && !written; ++k) {
      const int64_t j = (i + k) % n;
      if (bad_[static_cast<size_t>(j)].load() != 0) continue;
      try {
        labels[b] = write_one(transform, epoch, j, i, out);
        written = true;
      } catch (const InvalidArgument& e) {
        report_bad(j, e.what());
      }
    }
    BIGBATCH_CHECK(written, images_->where() << " " << name_ << ": every image is unreadable");
  }
}

}  // namespace bigbatch::data
