// The ImageNet transforms of Goyal et al. §5.1 as torchvision writes them: for training,
// RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3)) and RandomHorizontalFlip; for
// evaluation, Resize(256) and CenterCrop(224); then ToTensor and Normalize. Each example's
// draws come from its own Rng seeded by (seed, epoch, index), as data/augment.h does.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "bigbatch/core/rng.h"
#include "bigbatch/data/image_resample.h"
#include "bigbatch/data/jpeg_codec.h"

namespace bigbatch::data {

struct ImageTransformOptions {
  int64_t size = 224;  // the output is size × size
  int64_t resize = 0;  // evaluation: shorter side before the centre crop; 0 = size·256/224, rounded
  double scale_min = 0.08, scale_max = 1.0;             // crop area / image area
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;  // crop width / height
  bool flip = true;                                     // training: mirror with probability 1/2
  bool dct_scaling = true;  // decode at a reduced DCT scale when the output still has every pixel it needs
  uint64_t seed = 0;        // the run's seed
  std::array<double, 3> mean = {0.485, 0.456, 0.406}, stddev = {0.229, 0.224, 0.225};  // RGB, on [0, 1]

  int64_t eval_resize() const { return resize > 0 ? resize : (size * 256 + 112) / 224; }
};

// Rows [top, top + height) and columns [left, left + width) of an image.
struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

// torchvision's RandomResizedCrop.get_params: up to 10 tries of a random area and log-uniform
// aspect ratio that fits, else the centre crop clamped to the ratio range.
CropBox random_resized_crop_box(int64_t height, int64_t width, const ImageTransformOptions& options, Rng& rng);

// Resize(resize) then CenterCrop(size): the resized image's size and the crop's offset in it.
struct EvalGeometry {
  int64_t resized_height = 0, resized_width = 0, top = 0, left = 0;
};
EvalGeometry eval_geometry(int64_t height, int64_t width, int64_t resize, int64_t size);

// How to turn one JPEG into the output: the DCT scale to decode at, the two resampling axes
// over the decoded (scaled) image, and whether to mirror the result.
struct ImagePlan {
  JpegScale scale;
  ResampleAxis y, x;
  bool flip = false;
  CropBox box;  // training: the crop in full-resolution pixels (for tests)
};

// The training plan of example `index` in `epoch`: its crop and flip drawn from its own Rng.
ImagePlan plan_train_image(const JpegHeader& header, const ImageTransformOptions& options, int64_t epoch,
                           int64_t index);
// The evaluation plan: no randomness.
ImagePlan plan_eval_image(const JpegHeader& header, const ImageTransformOptions& options);

// The smallest of jpeg_fast_scales() at which a source extent of (height, width)
// full-resolution pixels keeps at least (need_height, need_width) pixels; 1/1 when
// dct_scaling is off.
JpegScale choose_jpeg_scale(double height, double width, int64_t need_height, int64_t need_width, bool dct_scaling);

// Decodes the part of the JPEG that `plan` reads (its axes' source spans, at plan.scale) and
// resamples it into dst: planar 3 × plan.y.out_count × plan.x.out_count bytes, the same bytes
// as a whole decode resampled. image and scratch are the caller's reusable buffers.
void render_image(JpegDecoder& decoder, std::span<const uint8_t> jpeg, const JpegHeader& header, const ImagePlan& plan,
                  RgbImage& image, ResampleScratch& scratch, uint8_t* dst, const std::string& where,
                  const std::string& name);

// Planar uint8 3 × size × size (from resample_rgb) to normalised f32 CHW, mirrored if flip:
// dst(c, y, x) = src(c, y, x') · 1/(255·std[c]) − mean[c]/std[c], x' = flip ? size−1−x : x.
void normalize_planar(const uint8_t* src, int64_t height, int64_t width, bool flip,
                      const ImageTransformOptions& options, float* dst);

}  // namespace bigbatch::data
