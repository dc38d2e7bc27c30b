// Antialiased bilinear resampling of 8-bit RGB images, the arithmetic of PIL's
// Image.resize(..., BILINEAR, box) (which torchvision's transforms call on PIL images):
// a triangle filter widened by the reduction factor, 22-bit fixed-point weights, a
// horizontal pass rounded to 8 bits, then a vertical pass rounded to 8 bits.
#pragma once

#include <cstdint>
#include <vector>

#include "bigbatch/data/jpeg_codec.h"

namespace bigbatch::data {

// One axis of a resampling. The virtual output of out_size samples spans the source
// interval [box_begin, box_end) (source pixel k covers [k, k+1)); filter taps are clipped
// to the source pixels [clip_begin, clip_end); only the output samples
// [out_begin, out_begin + out_count) are produced (a crop of the resized image).
struct ResampleAxis {
  double box_begin = 0, box_end = 0;
  int64_t clip_begin = 0, clip_end = 0;
  int64_t out_size = 0, out_begin = 0, out_count = 0;
};

// The taps of each produced sample: first source pixel, count, fixed-point weights.
struct ResampleTaps {
  std::vector<int32_t> first, count;
  std::vector<int32_t> weights;  // out_count × max_taps, 22 fractional bits
  int64_t max_taps = 0;
  bool padded = false;  // every count is max_taps (zero weights added)
};

// pad_within > 0: the source's size along the axis; taps are then padded to max_taps with
// zero weights, staying inside [0, pad_within) (when max_taps fits).
void compute_taps(const ResampleAxis& axis, ResampleTaps& taps, int64_t pad_within = 0);

// Reusable buffers of one resampling thread.
struct ResampleScratch {
  ResampleTaps x_taps, y_taps;
  std::vector<uint8_t> rows;  // the horizontal pass: needed rows × out_count_x × 3
  std::vector<int32_t> sums;  // one output row of the vertical pass
};

// The source pixels [begin, end) that the produced samples of `axis` read (their taps' union):
// all a decoder has to produce of the source along this axis. taps is scratch.
struct SourceSpan {
  int64_t begin = 0, end = 0;
};
SourceSpan source_span(const ResampleAxis& axis, ResampleTaps& taps);

// dst (planar, 3 × y.out_count × x.out_count) = src resampled along both axes. The axes are in
// the coordinates of the whole image that src is a window of (src.top, src.left), and the window
// must hold their source spans. Same bytes as PIL for the same box and size.
void resample_rgb(const RgbImage& src, const ResampleAxis& y, const ResampleAxis& x, uint8_t* dst,
                  ResampleScratch& scratch);

}  // namespace bigbatch::data
