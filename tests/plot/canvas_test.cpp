// Canvas: lines land where expected (via the PNG, decoded), clipping, dashes, rectangles and text.
#include "bigbatch/plot/canvas.h"

#include <gtest/gtest.h>

#include <cmath>

#include "bigbatch/core/error.h"
#include "bigbatch/plot/font.h"
#include "bigbatch/plot/png.h"
#include "plot/png_decode.h"

namespace bigbatch::plot {
namespace {

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kRed{255, 0, 0};

// Through the encoder and back, so these also test that pixels reach the PNG at the right place.
testing::DecodedPng round_trip(const Canvas& canvas) {
  return testing::decode_png(encode_png(canvas.width(), canvas.height(), canvas.rgb()));
}

TEST(Canvas, RedLineAcrossWhiteCanvas) {
  Canvas canvas(40, 30, kWhite);
  canvas.line({0, 10}, {40, 10}, kRed, 2.0);  // covers rows 9 and 10 exactly
  canvas.line({5, 5}, {25, 25}, kRed, 2.0);   // diagonal through pixel centres (i + 0.5, i + 0.5)
  testing::DecodedPng png = round_trip(canvas);
  for (int x = 0; x < 40; ++x) {
    EXPECT_EQ(png.at(x, 9), kRed) << x;
    EXPECT_EQ(png.at(x, 10), kRed) << x;
    EXPECT_EQ(png.at(x, 0), kWhite) << x;
    EXPECT_EQ(png.at(x, 29), kWhite) << x;
  }
  for (int x : {30, 35}) EXPECT_EQ(png.at(x, 8), kWhite) << x;  // nothing bleeds more than a pixel
  for (int x : {30, 35}) EXPECT_EQ(png.at(x, 12), kWhite) << x;
  for (int i = 6; i < 24; ++i) EXPECT_EQ(png.at(i, i), kRed) << i;
  EXPECT_EQ(png.at(20, 5), kWhite);
  EXPECT_EQ(png.at(5, 20), kWhite);
  // The diagonal's edge is anti-aliased: a pixel one step off the diagonal is pinkish, not pure red or white.
  Rgb edge = png.at(20, 21);
  EXPECT_EQ(edge.r, 255);
  EXPECT_GT(edge.g, 0);
  EXPECT_LT(edge.g, 255);
}

TEST(Canvas, JoinsAreNotDarkerThanTheLine) {
  // A polyline that doubles back over itself paints each pixel once: edges keep their single-pass colour.
  Canvas once(30, 20, kWhite), twice(30, 20, kWhite);
  once.polyline({{2, 10.3}, {28, 10.3}}, kRed, 2.0);
  twice.polyline({{2, 10.3}, {28, 10.3}, {2, 10.3}}, kRed, 2.0);
  EXPECT_EQ(once.rgb(), twice.rgb());
}

TEST(Canvas, ClipLimitsDrawingAndFarPointsAreCheap) {
  Canvas canvas(20, 20, kWhite);
  canvas.set_clip(5, 5, 15, 15);
  canvas.line({0, 10}, {20, 10}, kRed, 2.0);
  canvas.line({10, -1e12}, {10, 1e12}, kRed, 2.0);  // clipped before rasterising
  canvas.fill_rect(-100, 0, 100, 2, kRed);
  canvas.reset_clip();
  EXPECT_EQ(canvas.pixel(2, 10), kWhite);
  EXPECT_EQ(canvas.pixel(7, 10), kRed);
  EXPECT_EQ(canvas.pixel(14, 10), kRed);
  EXPECT_EQ(canvas.pixel(17, 10), kWhite);
  EXPECT_EQ(canvas.pixel(10, 3), kWhite);
  EXPECT_EQ(canvas.pixel(10, 6), kRed);
  EXPECT_EQ(canvas.pixel(10, 1), kWhite);
}

TEST(Canvas, DashedLineAlternates) {
  Canvas canvas(60, 10, kWhite);
  canvas.line({0, 5}, {60, 5}, kRed, 2.0, {8, 8});
  // Dashes cover [0, 8), [16, 24), ... plus a round cap of one pixel at each end.
  EXPECT_EQ(canvas.pixel(4, 4), kRed);
  EXPECT_EQ(canvas.pixel(12, 4), kWhite);
  EXPECT_EQ(canvas.pixel(20, 4), kRed);
  EXPECT_EQ(canvas.pixel(28, 4), kWhite);
  EXPECT_EQ(canvas.pixel(36, 4), kRed);
}

TEST(Canvas, RectanglesAndHexColours) {
  Canvas canvas(10, 10, kWhite);
  const Rgb blue = rgb_from_hex("#1f77b4");
  EXPECT_EQ(blue, (Rgb{0x1f, 0x77, 0xb4}));
  EXPECT_THROW(rgb_from_hex("1f77b4"), InvalidArgument);
  EXPECT_THROW(rgb_from_hex("#1f77bz"), InvalidArgument);
  canvas.fill_rect(2, 3, 5, 6, blue);
  EXPECT_EQ(canvas.pixel(2, 3), blue);
  EXPECT_EQ(canvas.pixel(4, 5), blue);
  EXPECT_EQ(canvas.pixel(5, 5), kWhite);
  EXPECT_EQ(canvas.pixel(4, 6), kWhite);
  canvas.stroke_rect(0, 0, 10, 10, kRed);
  EXPECT_EQ(canvas.pixel(9, 5), kRed);
  EXPECT_EQ(canvas.pixel(8, 5), kWhite);
  canvas.blend(8, 5, Rgb{0, 0, 0}, 0.5);
  EXPECT_EQ(canvas.pixel(8, 5), (Rgb{128, 128, 128}));
  EXPECT_THROW(canvas.pixel(10, 0), InvalidArgument);
  EXPECT_THROW(Canvas(0, 5, kWhite), InvalidArgument);
}

TEST(Canvas, TextStaysInItsBox) {
  EXPECT_EQ(Canvas::text_width("", 2), 0);
  EXPECT_EQ(Canvas::text_width("ab", 1), 11);
  EXPECT_EQ(Canvas::text_width("ab", 2), 22);
  EXPECT_EQ(Canvas::text_height(3), 21);
  for (bool up : {false, true}) {
    Canvas canvas(60, 60, kWhite);
    const std::string s = "Ep 9%";
    const int scale = 2, w = Canvas::text_width(s, scale), h = Canvas::text_height(scale);
    if (up)
      canvas.text_up(10, 10, s, kRed, scale);
    else
      canvas.text(10, 10, s, kRed, scale);
    const int descent = kGlyphDescent * scale;  // 'p' hangs below the box
    const int box_w = up ? h + descent : w, box_h = up ? w : h + descent;
    int inside = 0, outside = 0;
    for (int y = 0; y < 60; ++y)
      for (int x = 0; x < 60; ++x) {
        bool in = x >= 10 && x < 10 + box_w && y >= 10 && y < 10 + box_h;
        if (canvas.pixel(x, y) == kRed) ++(in ? inside : outside);
      }
    EXPECT_GT(inside, 4 * 20) << up;  // a few dozen font pixels, 4 canvas pixels each
    EXPECT_EQ(outside, 0) << up;
  }
  // 'T' at scale 1: its top row is full, its stem is the middle column.
  Canvas canvas(10, 10, kWhite);
  canvas.text(0, 0, "T", kRed);
  for (int x = 0; x < 5; ++x) EXPECT_EQ(canvas.pixel(x, 0), kRed) << x;
  EXPECT_EQ(canvas.pixel(2, 6), kRed);
  EXPECT_EQ(canvas.pixel(1, 6), kWhite);
  EXPECT_EQ(canvas.pixel(5, 0), kWhite);
}

}  // namespace
}  // namespace bigbatch::plot
