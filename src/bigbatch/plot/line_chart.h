// Line charts: a grid of panels, each with axes, 1-2-5 ticks, gridlines, title, axis labels and a
// legend, drawn on a Canvas and saved as PNG. Enough for training curves in the style of the paper's figures.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace bigbatch::plot {

// One curve. x and y have the same length; a point with a non-finite coordinate (or y <= 0 on a
// log axis) is skipped and breaks the line there.
struct Series {
  std::string label;
  std::vector<double> x, y;
};

struct Panel {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  bool log_y = false;
  // Fixed y-axis limits; an unset one follows the data (widened to the next tick).
  std::optional<double> y_min, y_max;
};

// Draws panels row by row, `columns` per row, each panel_width x panel_height pixels, and writes
// the PNG to path (atomically). Series i gets tab10 colour i % 10, dashed for i in 10..19, 30..39, ...
// Throws InvalidArgument on no panels, columns < 1, panels smaller than 200x150, x/y length
// mismatch or y_min >= y_max; Error if the file cannot be written.
void render_panels(const std::vector<Panel>& panels, int columns, const std::string& path, int panel_width = 640,
                   int panel_height = 420);

// Tick positions for a linear axis: multiples of step, step = {1, 2, 5} x 10^k, the smallest such
// that at most about target_count intervals cover [lo, hi]. first/last are the ticks at or just
// outside lo/hi (the axis range to draw). lo == hi is widened around the value.
struct Ticks {
  double first = 0, last = 0, step = 0;
  std::vector<double> values;  // first, first + step, ..., last
};
Ticks nice_ticks(double lo, double hi, int target_count = 6);

// Tick positions for a log axis over [lo, hi] (both > 0): the powers of ten from the one at or
// below lo to the one at or above hi, plus 2x and 5x multiples when that spans at most two decades.
std::vector<double> log_ticks(double lo, double hi);

// A tick label: value with as many decimals as step needs ("0.2", "15", "-1.5"), no "-0".
std::string format_tick(double value, double step);

}  // namespace bigbatch::plot
