// A 5x7 bitmap font for printable ASCII (32..126), enough for tick labels, titles and legends.
#pragma once

#include <array>
#include <cstdint>

namespace bigbatch::plot {

inline constexpr int kGlyphWidth = 5;    // columns
inline constexpr int kGlyphHeight = 7;   // rows from the top to the baseline
inline constexpr int kGlyphDescent = 2;  // rows below the baseline (g j p q y)
inline constexpr int kGlyphAdvance = 6;  // columns from one glyph to the next (one blank)

// Column bitmaps of character c, left column first; bit r (LSB = top) of a column is row r,
// rows kGlyphHeight.. being the descent. Characters outside 32..126 map to '?'.
const std::array<std::uint16_t, kGlyphWidth>& glyph(char c);

}  // namespace bigbatch::plot
