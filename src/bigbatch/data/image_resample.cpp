// PIL's resampling (libImaging/Resample.c: precompute_coeffs, normalize_coeffs_8bpc,
// ImagingResampleHorizontal/Vertical_8bpc) restricted to the bilinear filter, with the
// horizontal pass computed only on the rows the vertical pass reads.
#include "bigbatch/data/image_resample.h"

#include <algorithm>
#include <cmath>

#include "bigbatch/core/error.h"

namespace bigbatch::data {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's PRECISION_BITS for 8-bit images

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

inline uint8_t clip8(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// One row of the horizontal pass; kTaps > 0: every sample has exactly kTaps (padded) taps.
template <int kTaps>
void horizontal_row(const uint8_t* in, const ResampleTaps& t, int64_t out_w, uint8_t* out) {
  for (int64_t o = 0; o < out_w; ++o) {
    const int32_t* w = t.weights.data() + o * t.max_taps;
    const uint8_t* p = in + static_cast<int64_t>(t.first[static_cast<size_t>(o)]) * 3;
    const int32_t n = kTaps > 0 ? kTaps : t.count[static_cast<size_t>(o)];
    int32_t a0 = 1 << (kPrecisionBits - 1), a1 = a0, a2 = a0;
    for (int32_t i = 0; i < n; ++i) {
      a0 += p[3 * i] * w[i];
      a1 += p[3 * i + 1] * w[i];
      a2 += p[3 * i + 2] * w[i];
    }
    out[3 * o] = clip8(a0);
    out[3 * o + 1] = clip8(a1);
    out[3 * o + 2] = clip8(a2);
  }
}

}  // namespace

void compute_taps(const ResampleAxis& a, ResampleTaps& t, int64_t pad_within) {
  BIGBATCH_CHECK(a.out_size > 0 && a.out_begin >= 0 && a.out_count > 0 && a.out_begin + a.out_count <= a.out_size &&
                     a.clip_begin < a.clip_end && a.box_end > a.box_begin,
                 "[data:resample] bad axis: box [" << a.box_begin << ", " << a.box_end << "), clip [" << a.clip_begin
                                                   << ", " << a.clip_end << "), output " << a.out_begin << "+"
                                                   << a.out_count << " of " << a.out_size);
  const double scale = (a.box_end - a.box_begin) / static_cast<double>(a.out_size);
  // Reducing widens the filter by the reduction factor: this is the antialiasing.
  const double filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * filter_scale;  // the triangle's support is 1
  t.max_taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.first.resize(static_cast<size_t>(a.out_count));
  t.count.resize(static_cast<size_t>(a.out_count));
  t.weights.assign(static_cast<size_t>(a.out_count * t.max_taps), 0);
  t.padded = pad_within >= t.max_taps;
  const double inverse_scale = 1.0 / filter_scale;  // multiplied, not divided, as PIL does
  std::vector<double> k(static_cast<size_t>(t.max_taps));
  // Positions are kept relative to the box's integer start, so that a box at whole pixels
  // (a crop, then a resize: what PIL does) gives PIL's floating-point values exactly.
  const double origin = std::floor(a.box_begin), offset = a.box_begin - origin;
  const auto origin_px = static_cast<int64_t>(origin);
  for (int64_t o = 0; o < a.out_count; ++o) {
    const double center = offset + (static_cast<double>(a.out_begin + o) + 0.5) * scale;
    // PIL truncates (int)(center ± support + 0.5) and clamps to the image; we clamp to the
    // clip range (floor equals truncation wherever the clamp does not apply).
    int64_t lo = origin_px + static_cast<int64_t>(std::floor(center - support + 0.5));
    int64_t hi = origin_px + static_cast<int64_t>(std::floor(center + support + 0.5));
    lo = std::clamp(lo, a.clip_begin, a.clip_end - 1);
    hi = std::clamp(hi, lo + 1, a.clip_end);
    const int64_t n = std::min(hi - lo, t.max_taps);
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const auto x = static_cast<double>(i + lo - origin_px);
      k[static_cast<size_t>(i)] = triangle((x - center + 0.5) * inverse_scale);
      sum += k[static_cast<size_t>(i)];
    }
    if (sum == 0.0) {  // the clip range missed the filter: take the nearest pixel
      k[0] = sum = 1.0;
      for (int64_t i = 1; i < n; ++i) k[static_cast<size_t>(i)] = 0.0;
    }
    // Padded: every sample has max_taps taps (zero weights around the real ones), moved left
    // where needed so that they stay inside the source; a fixed tap count lets the compiler
    // unroll the loop, and zeros add nothing, so the sums are unchanged.
    int64_t start = lo, shift = 0, count = n;
    if (t.padded) {
      start = std::min(lo, pad_within - t.max_taps);
      shift = lo - start;
      count = t.max_taps;
    }
    int32_t* w = t.weights.data() + o * t.max_taps;
    for (int64_t i = 0; i < n; ++i) {
      const double v = k[static_cast<size_t>(i)] / sum * static_cast<double>(1 << kPrecisionBits);
      w[shift + i] = static_cast<int32_t>(v < 0 ? v - 0.5 : v + 0.5);
    }
    t.first[static_cast<size_t>(o)] = static_cast<int32_t>(start);
    t.count[static_cast<size_t>(o)] = static_cast<int32_t>(count);
  }
}

SourceSpan source_span(const ResampleAxis& axis, ResampleTaps& taps) {
  compute_taps(axis, taps);
  SourceSpan span{axis.clip_end, axis.clip_begin};
  for (size_t o = 0; o < taps.first.size(); ++o) {
    span.begin = std::min<int64_t>(span.begin, taps.first[o]);
    span.end = std::max<int64_t>(span.end, taps.first[o] + taps.count[o]);
  }
  return span;
}

namespace {

// The axis in the coordinates of a window that starts at `origin`. Shifting by a whole number
// keeps every tap's weight: compute_taps works relative to the box's integer start, and the box
// edges (multiples of 1/8) shift exactly. The clip range shifts too, not narrowed to the window,
// so that the taps are the whole image's and a window lacking some of them is caught below.
ResampleAxis in_window(ResampleAxis a, int64_t origin) {
  const auto shift = static_cast<double>(origin);
  a.box_begin -= shift;
  a.box_end -= shift;
  a.clip_begin -= origin;
  a.clip_end -= origin;
  return a;
}

// The window must hold every tap: one outside it would read past the buffer.
void check_inside(const ResampleTaps& t, int64_t size, int64_t origin, const char* what) {
  for (size_t o = 0; o < t.first.size(); ++o)
    BIGBATCH_CHECK(t.first[o] >= 0 && t.first[o] + t.count[o] <= size,
                   "[data:resample] the " << what << " read [" << origin + t.first[o] << ", "
                                          << origin + t.first[o] + t.count[o] << ") are not inside the window ["
                                          << origin << ", " << origin + size << ")");
}

}  // namespace

void resample_rgb(const RgbImage& src, const ResampleAxis& y_whole, const ResampleAxis& x_whole, uint8_t* dst,
                  ResampleScratch& s) {
  const ResampleAxis y = in_window(y_whole, src.top), x = in_window(x_whole, src.left);
  compute_taps(x, s.x_taps, src.width);
  compute_taps(y, s.y_taps);
  check_inside(s.x_taps, src.width, src.left, "columns");
  check_inside(s.y_taps, src.height, src.top, "rows");
  const int64_t out_w = x.out_count, out_h = y.out_count;
  // Rows [row_begin, row_end) of the source feed the vertical pass.
  int64_t row_begin = src.height, row_end = 0;
  for (int64_t o = 0; o < out_h; ++o) {
    row_begin = std::min<int64_t>(row_begin, s.y_taps.first[static_cast<size_t>(o)]);
    row_end =
        std::max<int64_t>(row_end, s.y_taps.first[static_cast<size_t>(o)] + s.y_taps.count[static_cast<size_t>(o)]);
  }
  s.rows.resize(static_cast<size_t>((row_end - row_begin) * out_w * 3));
  // 32-bit sums are exact: the weights are positive and add up to 2^22, so a sum stays
  // below 255 · 2^22 + 2^21 < 2^31 (PIL uses int too).
  const int64_t src_stride = src.width * 3;
  const ResampleTaps& xt = s.x_taps;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const uint8_t* in = src.rgb.data() + r * src_stride;
    uint8_t* out = s.rows.data() + (r - row_begin) * out_w * 3;
    if (xt.padded && xt.max_taps == 3) {
      horizontal_row<3>(in, xt, out_w, out);
    } else if (xt.padded && xt.max_taps == 5) {
      horizontal_row<5>(in, xt, out_w, out);
    } else if (xt.padded && xt.max_taps == 7) {
      horizontal_row<7>(in, xt, out_w, out);
    } else {
      horizontal_row<0>(in, xt, out_w, out);
    }
  }
  // The vertical pass runs tap by tap over whole rows: contiguous, so the compiler vectorises it.
  const int64_t plane = out_h * out_w, row_values = out_w * 3;
  s.sums.resize(static_cast<size_t>(row_values));
  int32_t* sums = s.sums.data();
  for (int64_t o = 0; o < out_h; ++o) {
    const int32_t* w = s.y_taps.weights.data() + o * s.y_taps.max_taps;
    const uint8_t* base = s.rows.data() + (s.y_taps.first[static_cast<size_t>(o)] - row_begin) * row_values;
    for (int64_t k = 0; k < row_values; ++k) sums[k] = 1 << (kPrecisionBits - 1);
    for (int32_t i = 0; i < s.y_taps.count[static_cast<size_t>(o)]; ++i) {
      const uint8_t* row = base + i * row_values;
      const int32_t weight = w[i];
      if (weight == 0) continue;
      for (int64_t k = 0; k < row_values; ++k) sums[k] += row[k] * weight;
    }
    uint8_t* d0 = dst + o * out_w;
    for (int64_t q = 0; q < out_w; ++q) {
      d0[q] = clip8(sums[3 * q]);
      d0[plane + q] = clip8(sums[3 * q + 1]);
      d0[2 * plane + q] = clip8(sums[3 * q + 2]);
    }
  }
}

}  // namespace bigbatch::data
