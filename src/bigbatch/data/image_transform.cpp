// Crop geometry (torchvision 0.14's RandomResizedCrop, Resize, CenterCrop, with Python's
// round-half-even where torchvision calls round()), DCT scale choice and normalisation.
#include "bigbatch/data/image_transform.h"

#include <algorithm>
#include <cmath>

#include "bigbatch/core/error.h"

namespace bigbatch::data {

namespace {

// Separates these draws from the sampler's and from augment.cpp's streams.
constexpr uint64_t kImageStream = 0x696d616765617567;  // "imageaug"

// Python's round(): halves go to the even neighbour.
int64_t round_half_even(double v) { return static_cast<int64_t>(std::nearbyint(v)); }

// The scale's floor and ceiling of a box edge, clamped to the scaled image.
ResampleAxis scaled_axis(double begin, double end, JpegScale scale, int64_t full, int64_t out_size, int64_t out_begin,
                         int64_t out_count) {
  const double f = scale.factor();
  const int64_t scaled = scale.apply(full);
  ResampleAxis a;
  a.box_begin = begin * f;
  a.box_end = std::min(end * f, static_cast<double>(scaled));
  a.clip_begin = std::clamp<int64_t>(static_cast<int64_t>(std::floor(a.box_begin)), 0, scaled - 1);
  a.clip_end = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(a.box_end)), a.clip_begin + 1, scaled);
  a.out_size = out_size;
  a.out_begin = out_begin;
  a.out_count = out_count;
  return a;
}

}  // namespace

CropBox random_resized_crop_box(int64_t height, int64_t width, const ImageTransformOptions& o, Rng& rng) {
  const double area = static_cast<double>(height) * static_cast<double>(width);
  const double log_min = std::log(o.ratio_min), log_max = std::log(o.ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * (o.scale_min + (o.scale_max - o.scale_min) * rng.uniform());
    const double aspect = std::exp(log_min + (log_max - log_min) * rng.uniform());
    const int64_t w = round_half_even(std::sqrt(target_area * aspect));
    const int64_t h = round_half_even(std::sqrt(target_area / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      CropBox box;
      box.height = h;
      box.width = w;
      box.top = static_cast<int64_t>(rng.below(static_cast<uint64_t>(height - h + 1)));
      box.left = static_cast<int64_t>(rng.below(static_cast<uint64_t>(width - w + 1)));
      return box;
    }
  }
  // Fallback: the largest centred crop whose ratio is within range.
  CropBox box{0, 0, height, width};
  const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
  if (in_ratio < o.ratio_min) {
    box.height = std::clamp<int64_t>(round_half_even(static_cast<double>(width) / o.ratio_min), 1, height);
  } else if (in_ratio > o.ratio_max) {
    box.width = std::clamp<int64_t>(round_half_even(static_cast<double>(height) * o.ratio_max), 1, width);
  }
  box.top = (height - box.height) / 2;
  box.left = (width - box.width) / 2;
  return box;
}

EvalGeometry eval_geometry(int64_t height, int64_t width, int64_t resize, int64_t size) {
  EvalGeometry g;
  // Resize(int): the shorter side becomes `resize`, the longer int(resize · long / short).
  const int64_t short_side = std::min(height, width), long_side = std::max(height, width);
  const auto long_resized = static_cast<int64_t>(static_cast<double>(resize) * static_cast<double>(long_side) /
                                                 static_cast<double>(short_side));
  g.resized_height = height <= width ? resize : long_resized;
  g.resized_width = height <= width ? long_resized : resize;
  if (short_side == resize) {  // torchvision returns the image unchanged
    g.resized_height = height;
    g.resized_width = width;
  }
  BIGBATCH_CHECK(g.resized_height >= size && g.resized_width >= size,
                 "[data:transform] resize " << resize << " is smaller than the crop " << size);
  // CenterCrop: int(round((H − size) / 2)).
  g.top = round_half_even(static_cast<double>(g.resized_height - size) / 2.0);
  g.left = round_half_even(static_cast<double>(g.resized_width - size) / 2.0);
  return g;
}

JpegScale choose_jpeg_scale(double height, double width, int64_t need_height, int64_t need_width, bool dct_scaling) {
  JpegScale best{1, 1};
  if (!dct_scaling) return best;
  // Scales come largest first; keep the last one under which nothing is lost.
  for (const JpegScale& s : jpeg_fast_scales()) {
    if (height * s.factor() >= static_cast<double>(need_height) &&
        width * s.factor() >= static_cast<double>(need_width))
      best = s;
    else
      break;
  }
  return best;
}

ImagePlan plan_train_image(const JpegHeader& header, const ImageTransformOptions& o, int64_t epoch, int64_t index) {
  const uint64_t epoch_seed = derive_seed(derive_seed(o.seed, kImageStream), static_cast<uint64_t>(epoch));
  Rng rng(derive_seed(epoch_seed, static_cast<uint64_t>(index)));
  ImagePlan plan;
  // The flip is drawn first, so its value does not depend on how many crop tries were made.
  plan.flip = rng.below(2) == 1 && o.flip;
  plan.box = random_resized_crop_box(header.height, header.width, o, rng);
  const CropBox& b = plan.box;
  plan.scale =
      choose_jpeg_scale(static_cast<double>(b.height), static_cast<double>(b.width), o.size, o.size, o.dct_scaling);
  plan.y = scaled_axis(static_cast<double>(b.top), static_cast<double>(b.top + b.height), plan.scale, header.height,
                       o.size, 0, o.size);
  plan.x = scaled_axis(static_cast<double>(b.left), static_cast<double>(b.left + b.width), plan.scale, header.width,
                       o.size, 0, o.size);
  return plan;
}

ImagePlan plan_eval_image(const JpegHeader& header, const ImageTransformOptions& o) {
  const EvalGeometry g = eval_geometry(header.height, header.width, o.eval_resize(), o.size);
  ImagePlan plan;
  plan.box = {0, 0, header.height, header.width};
  plan.scale = choose_jpeg_scale(static_cast<double>(header.height), static_cast<double>(header.width),
                                 g.resized_height, g.resized_width, o.dct_scaling);
  plan.y =
      scaled_axis(0.0, static_cast<double>(header.height), plan.scale, header.height, g.resized_height, g.top, o.size);
  plan.x =
      scaled_axis(0.0, static_cast<double>(header.width), plan.scale, header.width, g.resized_width, g.left, o.size);
  return plan;
}

void render_image(JpegDecoder& decoder, std::span<const uint8_t> jpeg, const JpegHeader& header, const ImagePlan& plan,
                  RgbImage& image, ResampleScratch& scratch, uint8_t* dst, const std::string& where,
                  const std::string& name) {
  // A training crop keeps about half of the image on average, and an evaluation centre crop
  // reads 224/256 of each axis: the rest is never transformed (bench/RESULTS.md).
  const SourceSpan rows = source_span(plan.y, scratch.y_taps), columns = source_span(plan.x, scratch.x_taps);
  decoder.decode_region(jpeg, header, plan.scale, {rows.begin, columns.begin, rows.end, columns.end}, image, where,
                        name);
  resample_rgb(image, plan.y, plan.x, dst, scratch);
}

void normalize_planar(const uint8_t* src, int64_t height, int64_t width, bool flip, const ImageTransformOptions& o,
                      float* dst) {
  const int64_t plane = height * width;
  for (int64_t c = 0; c < 3; ++c) {
    // The same folded affine map as data::channel_affine, rounded once to f32.
    const double m = o.mean[static_cast<size_t>(c)], s = o.stddev[static_cast<size_t>(c)];
    const auto scale = static_cast<float>(1.0 / (255.0 * s)), shift = static_cast<float>(-m / s);
    for (int64_t y = 0; y < height; ++y) {
      const uint8_t* in = src + c * plane + y * width;
      float* out = dst + c * plane + y * width;
      if (flip) {
        for (int64_t x = 0; x < width; ++x) out[x] = static_cast<float>(in[width - 1 - x]) * scale + shift;
      } else {
        for (int64_t x = 0; x < width; ++x) out[x] = static_cast<float>(in[x]) * scale + shift;
      }
    }
  }
}

}  // namespace bigbatch::data
