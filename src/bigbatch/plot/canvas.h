// An RGB8 raster with just what a line chart needs: anti-aliased thick polylines (solid or dashed),
// filled rectangles, and text in the built-in 5x7 font (font.h), horizontal or rotated.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bigbatch::plot {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

// Parses "#rrggbb"; throws InvalidArgument otherwise.
Rgb rgb_from_hex(std::string_view hex);

// A point in canvas coordinates: pixels, x right, y down; pixel (i, j) covers [i, i+1) x [j, j+1).
struct Point {
  double x = 0, y = 0;
};

// Dash pattern along a line, in pixels of arc length; on == 0 means solid.
struct Dash {
  double on = 0, off = 0;
};

class Canvas {
 public:
  // A width x height canvas filled with background. Throws InvalidArgument if a side is < 1.
  Canvas(int width, int height, Rgb background);

  int width() const { return width_; }
  int height() const { return height_; }
  // The pixels: height rows of width (R, G, B) triples, top row first (png.h's layout).
  const std::vector<std::uint8_t>& rgb() const { return rgb_; }
  Rgb pixel(int x, int y) const;

  // Drawing is limited to the pixels [x0, x1) x [y0, y1) (intersected with the canvas) until reset.
  void set_clip(int x0, int y0, int x1, int y1);
  void reset_clip();

  // Mixes color into pixel (x, y) with weight alpha in [0, 1]; no-op outside the clip.
  void blend(int x, int y, Rgb color, double alpha);
  // Fills [x0, x1) x [y0, y1).
  void fill_rect(int x0, int y0, int x1, int y1, Rgb color);
  // Outline one pixel wide just inside [x0, x1) x [y0, y1).
  void stroke_rect(int x0, int y0, int x1, int y1, Rgb color);

  // A polyline `width` pixels wide with round joins and caps, anti-aliased by the distance of each
  // pixel centre to the line. Each pixel is painted once (the maximum coverage over the segments),
  // so joins do not darken. One point draws a dot of diameter width.
  void polyline(const std::vector<Point>& points, Rgb color, double width = 2.0, Dash dash = {});
  void line(Point a, Point b, Rgb color, double width = 2.0, Dash dash = {});

  // Text in a text_width x text_height box with its top-left corner at (x, y); each font pixel
  // becomes a scale x scale block. The box ends at the baseline: g j p q y hang
  // kGlyphDescent * scale pixels below it.
  void text(int x, int y, std::string_view s, Rgb color, int scale = 1);
  // Text rotated 90 degrees counter-clockwise (reads bottom to top), its box's top-left at (x, y):
  // the box is text_height(scale) wide (descenders reach further right) and text_width(s, scale) tall.
  void text_up(int x, int y, std::string_view s, Rgb color, int scale = 1);
  static int text_width(std::string_view s, int scale = 1);
  static int text_height(int scale = 1);  // up to the baseline

  // Writes the canvas as a PNG (png.h's write_png).
  void save_png(const std::string& path) const;

 private:
  void cover_segment(Point a, Point b, double radius);

  int width_, height_;
  std::vector<std::uint8_t> rgb_;
  int clip_x0_ = 0, clip_y0_ = 0, clip_x1_ = 0, clip_y1_ = 0;
  // Scratch for polyline: per-pixel coverage and the box of pixels touched so far.
  std::vector<float> coverage_;
  int dirty_x0_ = 0, dirty_y0_ = 0, dirty_x1_ = 0, dirty_y1_ = 0;
};

}  // namespace bigbatch::plot
