// Canvas rasterisation: distance-based anti-aliased polylines, clipped rectangles, bitmap text.
#include "bigbatch/plot/canvas.h"

#include <algorithm>
#include <cmath>

#include "bigbatch/core/error.h"
#include "bigbatch/plot/font.h"
#include "bigbatch/plot/png.h"

namespace bigbatch::plot {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Point lerp(Point a, Point b, double t) { return {a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t}; }

// Liang-Barsky: the parameter range [t0, t1] of a + t (b - a), t in [0, 1], inside the box
// [x0, x1] x [y0, y1]; false when the segment misses it. Keeps far-off points (a y value far
// outside the axis range) from costing work or overflowing integer pixel indices.
bool clip_segment(Point a, Point b, double x0, double y0, double x1, double y1, double& t0, double& t1) {
  t0 = 0;
  t1 = 1;
  const double dx = b.x - a.x, dy = b.y - a.y;
  const double p[4] = {-dx, dx, -dy, dy};
  const double q[4] = {a.x - x0, x1 - a.x, a.y - y0, y1 - a.y};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0) {
      if (q[i] < 0) return false;
      continue;
    }
    double t = q[i] / p[i];
    if (p[i] < 0)
      t0 = std::max(t0, t);
    else
      t1 = std::min(t1, t);
  }
  return t0 <= t1;
}

}  // namespace

Rgb rgb_from_hex(std::string_view hex) {
  bool ok = hex.size() == 7 && hex[0] == '#';
  int v[6] = {};
  for (int i = 0; ok && i < 6; ++i) ok = (v[i] = hex_digit(hex[static_cast<std::size_t>(i) + 1])) >= 0;
  BIGBATCH_CHECK(ok, "[plot] colour must be \"#rrggbb\", got \"" << hex << "\"");
  return {static_cast<std::uint8_t>(v[0] * 16 + v[1]), static_cast<std::uint8_t>(v[2] * 16 + v[3]),
          static_cast<std::uint8_t>(v[4] * 16 + v[5])};
}

Canvas::Canvas(int width, int height, Rgb background) : width_(width), height_(height) {
  BIGBATCH_CHECK(width > 0 && height > 0, "[plot] canvas must be at least 1x1, got " << width << "x" << height);
  rgb_.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3);
  for (std::size_t i = 0; i < rgb_.size(); i += 3) {
    rgb_[i] = background.r;
    rgb_[i + 1] = background.g;
    rgb_[i + 2] = background.b;
  }
  reset_clip();
}

Rgb Canvas::pixel(int x, int y) const {
  BIGBATCH_CHECK(x >= 0 && x < width_ && y >= 0 && y < height_,
                 "[plot] pixel (" << x << ", " << y << ") outside the " << width_ << "x" << height_ << " canvas");
  const std::uint8_t* p = &rgb_[(static_cast<std::size_t>(y) * static_cast<std::size_t>(width_) + x) * 3];
  return {p[0], p[1], p[2]};
}

void Canvas::set_clip(int x0, int y0, int x1, int y1) {
  clip_x0_ = std::clamp(x0, 0, width_);
  clip_y0_ = std::clamp(y0, 0, height_);
  clip_x1_ = std::clamp(x1, clip_x0_, width_);
  clip_y1_ = std::clamp(y1, clip_y0_, height_);
}

void Canvas::reset_clip() { set_clip(0, 0, width_, height_); }

void Canvas::blend(int x, int y, Rgb color, double alpha) {
  if (x < clip_x0_ || x >= clip_x1_ || y < clip_y0_ || y >= clip_y1_ || !(alpha > 0)) return;
  std::uint8_t* p = &rgb_[(static_cast<std::size_t>(y) * static_cast<std::size_t>(width_) + x) * 3];
  if (alpha >= 1) {
    p[0] = color.r;
    p[1] = color.g;
    p[2] = color.b;
    return;
  }
  auto mix = [alpha](std::uint8_t dst, std::uint8_t src) {
    return static_cast<std::uint8_t>(std::lround(dst + (src - dst) * alpha));
  };
  p[0] = mix(p[0], color.r);
  p[1] = mix(p[1], color.g);
  p[2] = mix(p[2], color.b);
}

void Canvas::fill_rect(int x0, int y0, int x1, int y1, Rgb color) {
  for (int y = std::max(y0, clip_y0_); y < std::min(y1, clip_y1_); ++y)
    for (int x = std::max(x0, clip_x0_); x < std::min(x1, clip_x1_); ++x) blend(x, y, color, 1.0);
}

void Canvas::stroke_rect(int x0, int y0, int x1, int y1, Rgb color) {
  fill_rect(x0, y0, x1, y0 + 1, color);
  fill_rect(x0, y1 - 1, x1, y1, color);
  fill_rect(x0, y0, x0 + 1, y1, color);
  fill_rect(x1 - 1, y0, x1, y1, color);
}

// Raises coverage_ of the pixels near segment ab: full within radius of it, fading linearly to
// zero over the next pixel (radius + 0.5 .. radius - 0.5 measured at pixel centres).
void Canvas::cover_segment(Point a, Point b, double radius) {
  const double reach = radius + 0.5;
  const double dx = b.x - a.x, dy = b.y - a.y, len2 = dx * dx + dy * dy;
  const double len = std::sqrt(len2);
  // Rows the capsule can touch, clamped in double before converting (coordinates may be large).
  auto clamp_to = [](double v, int lo, int hi) { return static_cast<int>(std::clamp(v, double(lo), double(hi))); };
  const int row0 = clamp_to(std::floor(std::min(a.y, b.y) - reach), clip_y0_, clip_y1_);
  const int row1 = clamp_to(std::ceil(std::max(a.y, b.y) + reach), clip_y0_, clip_y1_ - 1);
  const double box_x0 = std::min(a.x, b.x) - reach, box_x1 = std::max(a.x, b.x) + reach;
  const double nx = len > 1e-9 ? -dy / len : 0.0, ny = len > 1e-9 ? dx / len : 0.0;
  for (int py = row0; py <= row1; ++py) {
    const double cy = py + 0.5;
    // Pixel centres of this row within `reach` of the infinite line (the whole box when the
    // line is near horizontal), intersected with the segment's box.
    double lo = box_x0, hi = box_x1;
    if (std::abs(nx) > 1e-6) {
      double u = (-reach - ny * (cy - a.y)) / nx + a.x, v = (reach - ny * (cy - a.y)) / nx + a.x;
      lo = std::max(lo, std::min(u, v));
      hi = std::min(hi, std::max(u, v));
    }
    const int col0 = clamp_to(std::floor(lo - 1), clip_x0_, clip_x1_);
    const int col1 = clamp_to(std::ceil(hi), clip_x0_, clip_x1_ - 1);
    for (int px = col0; px <= col1; ++px) {
      const double cx = px + 0.5;
      double t = len2 > 0 ? std::clamp(((cx - a.x) * dx + (cy - a.y) * dy) / len2, 0.0, 1.0) : 0.0;
      double dist = std::hypot(cx - (a.x + t * dx), cy - (a.y + t * dy));
      float c = static_cast<float>(std::clamp(reach - dist, 0.0, 1.0));
      if (c <= 0) continue;
      float& slot = coverage_[static_cast<std::size_t>(py) * static_cast<std::size_t>(width_) + px];
      slot = std::max(slot, c);
      dirty_x0_ = std::min(dirty_x0_, px);
      dirty_y0_ = std::min(dirty_y0_, py);
      dirty_x1_ = std::max(dirty_x1_, px + 1);
      dirty_y1_ = std::max(dirty_y1_, py + 1);
    }
  }
}

void Canvas::polyline(const std::vector<Point>& points, Rgb color, double width, Dash dash) {
  if (points.empty() || clip_x0_ >= clip_x1_ || clip_y0_ >= clip_y1_) return;
  if (coverage_.empty()) coverage_.assign(rgb_.size() / 3, 0.0f);
  dirty_x0_ = width_;
  dirty_y0_ = height_;
  dirty_x1_ = dirty_y1_ = 0;
  const double radius = std::max(width, 0.0) / 2;
  const bool dashed = dash.on > 0 && dash.off > 0;
  const double period = dash.on + dash.off;
  // Only the part of each segment near the clip box is rasterised.
  const double margin = radius + 2;
  const double bx0 = clip_x0_ - margin, by0 = clip_y0_ - margin, bx1 = clip_x1_ + margin, by1 = clip_y1_ + margin;

  if (points.size() == 1) {
    Point p = points[0];
    if (p.x >= bx0 && p.x <= bx1 && p.y >= by0 && p.y <= by1) cover_segment(p, p, radius);
  }
  double phase = 0;  // arc length into the dash pattern where the current segment starts
  for (std::size_t i = 1; i < points.size(); ++i) {
    const Point a = points[i - 1], b = points[i];
    const double len = std::hypot(b.x - a.x, b.y - a.y);
    double t0, t1;
    if (clip_segment(a, b, bx0, by0, bx1, by1, t0, t1)) {
      if (!dashed || len == 0) {
        cover_segment(lerp(a, b, t0), lerp(a, b, t1), radius);
      } else {
        // Walk the visible arc [s, end], alternating on and off runs of the pattern.
        double s = t0 * len, end = t1 * len, p = std::fmod(phase + s, period);
        while (s < end) {
          if (p < dash.on) {
            double e = std::min(end, s + dash.on - p);
            cover_segment(lerp(a, b, s / len), lerp(a, b, e / len), radius);
            s = e;
            p = dash.on;
          } else {
            s = std::min(end, s + period - p);
            p = 0;
          }
        }
      }
    }
    if (dashed) phase = std::fmod(phase + len, period);
  }

  // Paint each touched pixel once with its best coverage, and clear the scratch for the next call.
  for (int y = dirty_y0_; y < dirty_y1_; ++y) {
    for (int x = dirty_x0_; x < dirty_x1_; ++x) {
      float& slot = coverage_[static_cast<std::size_t>(y) * static_cast<std::size_t>(width_) + x];
      if (slot > 0) blend(x, y, color, slot);
      slot = 0;
    }
  }
}

void Canvas::line(Point a, Point b, Rgb color, double width, Dash dash) { polyline({a, b}, color, width, dash); }

int Canvas::text_width(std::string_view s, int scale) {
  return s.empty() ? 0 : static_cast<int>(s.size()) * kGlyphAdvance * scale - scale;
}

int Canvas::text_height(int scale) { return kGlyphHeight * scale; }

void Canvas::text(int x, int y, std::string_view s, Rgb color, int scale) {
  for (char c : s) {
    const auto& columns = glyph(c);
    for (int col = 0; col < kGlyphWidth; ++col)
      for (int row = 0; row < kGlyphHeight + kGlyphDescent; ++row)
        if (columns[static_cast<std::size_t>(col)] >> row & 1)
          fill_rect(x + col * scale, y + row * scale, x + (col + 1) * scale, y + (row + 1) * scale, color);
    x += kGlyphAdvance * scale;
  }
}

void Canvas::text_up(int x, int y, std::string_view s, Rgb color, int scale) {
  // Horizontal layout position (u along the text, v down) maps to box position (v, length - 1 - u).
  const int length = text_width(s, scale);
  int u0 = 0;
  for (char c : s) {
    const auto& columns = glyph(c);
    for (int col = 0; col < kGlyphWidth; ++col)
      for (int row = 0; row < kGlyphHeight + kGlyphDescent; ++row)
        if (columns[static_cast<std::size_t>(col)] >> row & 1) {
          int u = u0 + col * scale, v = row * scale;
          fill_rect(x + v, y + length - u - scale, x + v + scale, y + length - u, color);
        }
    u0 += kGlyphAdvance * scale;
  }
}

void Canvas::save_png(const std::string& path) const { write_png(path, width_, height_, rgb_); }

}  // namespace bigbatch::plot
