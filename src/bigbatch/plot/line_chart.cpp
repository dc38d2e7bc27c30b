// Line chart layout and drawing. The chart is drawn at kSuper times the output resolution and
// box-filtered down: that anti-aliases the bitmap font at fractional sizes and smooths the lines.
#include "bigbatch/plot/line_chart.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>

#include "bigbatch/core/error.h"
#include "bigbatch/plot/canvas.h"
#include "bigbatch/plot/png.h"

namespace bigbatch::plot {
namespace {

constexpr int kSuper = 2;  // canvas pixels per output pixel, each way
// Font scales on the supersampled canvas: 3 is 1.5 output pixels per font pixel (glyphs 10 px tall).
constexpr int kTickScale = 3, kLabelScale = 3, kLegendScale = 3, kTitleScale = 4;
constexpr int kPx = kSuper;  // one output pixel, in canvas pixels

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kTitleColor{0x11, 0x11, 0x11};
constexpr Rgb kTextColor{0x33, 0x33, 0x33};
constexpr Rgb kFrameColor{0x80, 0x80, 0x80};
constexpr Rgb kGridColor{0xe3, 0xe3, 0xe3};
constexpr Rgb kMinorGridColor{0xf2, 0xf2, 0xf2};
constexpr Rgb kLegendBorder{0xcc, 0xcc, 0xcc};
// matplotlib's tab10: ten hues that stay apart for most colour-blind readers too.
constexpr std::array<Rgb, 10> kTab10 = {{{0x1f, 0x77, 0xb4},
                                         {0xff, 0x7f, 0x0e},
                                         {0x2c, 0xa0, 0x2c},
                                         {0xd6, 0x27, 0x28},
                                         {0x94, 0x67, 0xbd},
                                         {0x8c, 0x56, 0x4b},
                                         {0xe3, 0x77, 0xc2},
                                         {0x7f, 0x7f, 0x7f},
                                         {0xbc, 0xbd, 0x22},
                                         {0x17, 0xbe, 0xcf}}};

struct Style {
  Rgb color;
  Dash dash;
};

Style series_style(std::size_t i) {
  Style style{kTab10[i % kTab10.size()], {}};
  if (i / kTab10.size() % 2 == 1) style.dash = {7.0 * kPx, 4.0 * kPx};
  return style;
}

// An axis: the drawn range [lo, hi], the labelled ticks, and (log only) the minor gridlines.
struct Axis {
  double lo = 0, hi = 1, step = 0;
  bool log = false;
  std::vector<double> ticks, minor;

  double fraction(double v) const {
    return log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
  }
  std::string label(double v) const { return format_tick(v, log ? v : step); }
};

bool valid_point(double x, double y, bool log_y) { return std::isfinite(x) && std::isfinite(y) && (!log_y || y > 0); }

// target: tick intervals wanted; plot_w: the axis length in canvas pixels.
Axis make_x_axis(double lo, double hi, int target, int plot_w) {
  Ticks t = nice_ticks(lo, hi, target);
  // Fewer ticks until the widest label fits between neighbours with room to spare.
  auto widest = [](const Ticks& ticks) {
    int w = 0;
    for (double v : ticks.values) w = std::max(w, Canvas::text_width(format_tick(v, ticks.step), kTickScale));
    return w;
  };
  auto spacing = [plot_w](const Ticks& ticks) { return plot_w * ticks.step / (ticks.last - ticks.first); };
  while (target > 2 && spacing(t) < widest(t) + 12 * kPx) t = nice_ticks(lo, hi, --target);
  Axis axis{t.first, t.last, t.step, false, t.values, {}};
  // Widen to the outer ticks only where that costs little (epochs 1..90 give an axis 0..90
  // with ticks 0..80 rather than 0..100), else end the axis at the data.
  double slack = 0.05 * (hi - lo);
  if (hi > lo && lo - t.first > slack) axis.lo = lo;
  if (hi > lo && t.last - hi > slack) axis.hi = hi;
  return axis;
}

Axis make_y_axis(const Panel& panel, double lo, double hi, int target) {
  Axis axis;
  axis.log = panel.log_y;
  if (panel.y_min) lo = *panel.y_min;
  if (panel.y_max) hi = *panel.y_max;
  if (lo >= hi && panel.y_min.has_value() != panel.y_max.has_value()) {
    // One limit is fixed and the data lies beyond it: keep the fixed one, open the other.
    double pad = panel.log_y ? 0 : std::max(1.0, std::abs(lo) * 0.1);
    if (panel.y_min)
      hi = panel.log_y ? lo * 10 : lo + pad;
    else
      lo = panel.log_y ? hi / 10 : hi - pad;
  }
  if (panel.log_y) {
    axis.ticks = log_ticks(lo, hi);
    axis.lo = panel.y_min.value_or(axis.ticks.front());
    axis.hi = panel.y_max.value_or(axis.ticks.back());
    for (double decade = std::pow(10.0, std::floor(std::log10(axis.lo))); decade < axis.hi; decade *= 10)
      for (int k = 2; k <= 9; ++k) axis.minor.push_back(k * decade);
  } else {
    Ticks t = nice_ticks(lo, hi, target);
    axis.step = t.step;
    axis.ticks = t.values;
    axis.lo = panel.y_min.value_or(t.first);
    axis.hi = panel.y_max.value_or(t.last);
  }
  const double eps = 1e-9 * (axis.log ? axis.hi : axis.hi - axis.lo);
  std::erase_if(axis.ticks, [&](double v) { return v < axis.lo - eps || v > axis.hi + eps; });
  std::erase_if(axis.minor, [&](double v) { return v < axis.lo || v > axis.hi; });
  return axis;
}

// s shortened with "..." to fit max_width canvas pixels at scale.
std::string fit_text(std::string s, int scale, int max_width) {
  if (Canvas::text_width(s, scale) <= max_width) return s;
  while (!s.empty() && Canvas::text_width(s + "...", scale) > max_width) s.pop_back();
  return s.empty() ? s : s + "...";
}

// Box filter from the supersampled canvas to the output image.
std::vector<std::uint8_t> downsample(const Canvas& canvas) {
  const int w = canvas.width() / kSuper, h = canvas.height() / kSuper;
  const auto& src = canvas.rgb();
  std::vector<std::uint8_t> dst(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        int sum = 0;
        for (int dy = 0; dy < kSuper; ++dy)
          for (int dx = 0; dx < kSuper; ++dx)
            sum += src[((static_cast<std::size_t>(y) * kSuper + dy) * static_cast<std::size_t>(canvas.width()) +
                        static_cast<std::size_t>(x) * kSuper + dx) *
                           3 +
                       static_cast<std::size_t>(c)];
        dst[(static_cast<std::size_t>(y) * static_cast<std::size_t>(w) + x) * 3 + static_cast<std::size_t>(c)] =
            static_cast<std::uint8_t>((sum + kSuper * kSuper / 2) / (kSuper * kSuper));
      }
  return dst;
}

struct Box {
  int x0, y0, x1, y1;
  bool contains(Point p) const { return p.x >= x0 && p.x < x1 && p.y >= y0 && p.y < y1; }
};

// How many sample points of the curves fall in box: the legend goes where this is least.
int curve_points_in(const Box& box, const std::vector<std::vector<std::vector<Point>>>& runs) {
  int count = 0;
  for (const auto& series : runs)
    for (const auto& run : series) {
      if (run.size() == 1) count += box.contains(run[0]);
      for (std::size_t i = 1; i < run.size(); ++i) {
        double len = std::hypot(run[i].x - run[i - 1].x, run[i].y - run[i - 1].y);
        int samples = static_cast<int>(std::clamp(len / (4.0 * kPx), 1.0, 1000.0));
        for (int k = 0; k <= samples; ++k) {
          double t = static_cast<double>(k) / samples;
          count += box.contains(
              {run[i - 1].x + (run[i].x - run[i - 1].x) * t, run[i - 1].y + (run[i].y - run[i - 1].y) * t});
        }
      }
    }
  return count;
}

void draw_legend(Canvas& canvas, const Panel& panel, const Box& plot,
                 const std::vector<std::vector<std::vector<Point>>>& runs) {
  if (panel.series.empty()) return;
  const int pad = 6 * kPx, sample = 22 * kPx, gap = 8 * kPx;
  const int row = Canvas::text_height(kLegendScale) + 5 * kPx;
  const int max_text = (plot.x1 - plot.x0) / 2;
  std::size_t rows = std::min(panel.series.size(),
                              static_cast<std::size_t>(std::max(1, (plot.y1 - plot.y0 - 2 * pad - 8 * kPx) / row)));
  std::vector<std::string> labels;
  for (std::size_t i = 0; i < rows; ++i) {
    std::string label = panel.series[i].label.empty() ? "series " + std::to_string(i + 1) : panel.series[i].label;
    if (i + 1 == rows && rows < panel.series.size())
      label = std::string(1, '+').append(std::to_string(panel.series.size() - i)).append(" more");
    labels.push_back(fit_text(label, kLegendScale, max_text));
  }
  int text_w = 0;
  for (const auto& label : labels) text_w = std::max(text_w, Canvas::text_width(label, kLegendScale));
  const int w = pad + sample + gap + text_w + pad, h = 2 * pad + static_cast<int>(rows) * row - 5 * kPx;
  const int inset = 8 * kPx;
  // Corners in order of preference; the first with the fewest curve points under it wins.
  const std::array<Box, 4> corners = {{{plot.x1 - inset - w, plot.y0 + inset, plot.x1 - inset, plot.y0 + inset + h},
                                       {plot.x0 + inset, plot.y0 + inset, plot.x0 + inset + w, plot.y0 + inset + h},
                                       {plot.x1 - inset - w, plot.y1 - inset - h, plot.x1 - inset, plot.y1 - inset},
                                       {plot.x0 + inset, plot.y1 - inset - h, plot.x0 + inset + w, plot.y1 - inset}}};
  Box box = corners[0];
  int best = std::numeric_limits<int>::max();
  for (const Box& corner : corners) {
    int count = curve_points_in(corner, runs);
    if (count < best) best = count, box = corner;
  }
  for (int y = box.y0; y < box.y1; ++y)
    for (int x = box.x0; x < box.x1; ++x) canvas.blend(x, y, kWhite, 0.85);
  canvas.stroke_rect(box.x0, box.y0, box.x1, box.y1, kLegendBorder);
  for (std::size_t i = 0; i < rows; ++i) {
    const int top = box.y0 + pad + static_cast<int>(i) * row;
    const double mid = top + Canvas::text_height(kLegendScale) / 2.0;
    const bool more = i + 1 == rows && rows < panel.series.size();
    if (!more) {
      Style style = series_style(i);
      canvas.line({double(box.x0 + pad), mid}, {double(box.x0 + pad + sample), mid}, style.color, 2.0 * kPx,
                  style.dash);
    }
    canvas.text(box.x0 + pad + sample + gap, top, labels[i], kTextColor, kLegendScale);
  }
}

void draw_panel(Canvas& canvas, const Panel& panel, const Box& area) {
  // Data ranges over the points that will be drawn.
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const Series& s : panel.series)
    for (std::size_t i = 0; i < s.x.size(); ++i)
      if (valid_point(s.x[i], s.y[i], panel.log_y)) {
        x_lo = std::min(x_lo, s.x[i]), x_hi = std::max(x_hi, s.x[i]);
        y_lo = std::min(y_lo, s.y[i]), y_hi = std::max(y_hi, s.y[i]);
      }
  if (x_lo > x_hi) x_lo = 0, x_hi = 1, y_lo = panel.log_y ? 1 : 0, y_hi = panel.log_y ? 10 : 1;

  // Vertical layout first: the y ticks fix the width of their labels, hence the plot's left edge.
  const int tick_len = 5 * kPx, tick_gap = 4 * kPx, margin = 10 * kPx;
  const int title_h = panel.title.empty() ? 0 : Canvas::text_height(kTitleScale) + 10 * kPx;
  const int x_label_h = panel.x_label.empty() ? 0 : Canvas::text_height(kLabelScale) + 8 * kPx;
  const int y_label_w = panel.y_label.empty() ? 0 : Canvas::text_height(kLabelScale) + 8 * kPx;
  Box plot{0, area.y0 + margin + title_h, 0, 0};
  plot.y1 = area.y1 - margin - x_label_h - Canvas::text_height(kTickScale) - tick_gap - tick_len;
  plot.y1 -= (plot.y1 - plot.y0) % kPx;
  Axis y_axis = make_y_axis(panel, y_lo, y_hi, std::max(3, (plot.y1 - plot.y0) / (40 * kPx)));
  int y_tick_w = 0;
  for (double v : y_axis.ticks) y_tick_w = std::max(y_tick_w, Canvas::text_width(y_axis.label(v), kTickScale));
  plot.x0 = area.x0 + margin + y_label_w + y_tick_w + tick_gap + tick_len;
  plot.x0 += (kPx - plot.x0 % kPx) % kPx;
  plot.x1 = area.x1 - 2 * margin - (area.x1 - area.x0) % kPx;
  Axis x_axis = make_x_axis(x_lo, x_hi, std::max(3, (plot.x1 - plot.x0) / (60 * kPx)), plot.x1 - plot.x0);

  auto to_x = [&](double v) { return plot.x0 + x_axis.fraction(v) * (plot.x1 - plot.x0); };
  auto to_y = [&](double v) { return plot.y1 - y_axis.fraction(v) * (plot.y1 - plot.y0); };
  // Axis-parallel lines one output pixel wide, on whole output pixels so they stay crisp.
  auto snap = [](double v) { return static_cast<int>(std::floor(v / kPx)) * kPx; };

  // Gridlines, then curves clipped to the plot box, then the frame on top.
  for (double v : y_axis.minor) canvas.fill_rect(plot.x0, snap(to_y(v)), plot.x1, snap(to_y(v)) + kPx, kMinorGridColor);
  for (double v : y_axis.ticks) canvas.fill_rect(plot.x0, snap(to_y(v)), plot.x1, snap(to_y(v)) + kPx, kGridColor);
  for (double v : x_axis.ticks)
    if (v >= x_axis.lo && v <= x_axis.hi)
      canvas.fill_rect(snap(to_x(v)), plot.y0, snap(to_x(v)) + kPx, plot.y1, kGridColor);

  // Each series as runs of consecutive valid points; an invalid point ends a run.
  std::vector<std::vector<std::vector<Point>>> runs(panel.series.size());
  for (std::size_t s = 0; s < panel.series.size(); ++s) {
    std::vector<Point> run;
    const Series& series = panel.series[s];
    for (std::size_t i = 0; i <= series.x.size(); ++i) {
      if (i < series.x.size() && valid_point(series.x[i], series.y[i], panel.log_y)) {
        run.push_back({to_x(series.x[i]), to_y(series.y[i])});
      } else if (!run.empty()) {
        runs[s].push_back(std::move(run));
        run.clear();
      }
    }
  }
  canvas.set_clip(plot.x0, plot.y0, plot.x1, plot.y1);
  for (std::size_t s = 0; s < runs.size(); ++s) {
    Style style = series_style(s);
    for (const auto& run : runs[s]) canvas.polyline(run, style.color, (run.size() == 1 ? 5.0 : 2.0) * kPx, style.dash);
  }
  draw_legend(canvas, panel, plot, runs);
  canvas.reset_clip();
  canvas.stroke_rect(plot.x0 - kPx, plot.y0 - kPx, plot.x1 + kPx, plot.y1 + kPx, kFrameColor);

  // Ticks and their labels.
  const int th = Canvas::text_height(kTickScale);
  for (double v : y_axis.ticks) {
    int y = snap(to_y(v));
    canvas.fill_rect(plot.x0 - kPx - tick_len, y, plot.x0 - kPx, y + kPx, kFrameColor);
    std::string label = y_axis.label(v);
    int x = plot.x0 - kPx - tick_len - tick_gap - Canvas::text_width(label, kTickScale);
    canvas.text(x, y + kPx / 2 - th / 2, label, kTextColor, kTickScale);
  }
  for (double v : x_axis.ticks) {
    if (v < x_axis.lo || v > x_axis.hi) continue;
    int x = snap(to_x(v));
    canvas.fill_rect(x, plot.y1 + kPx, x + kPx, plot.y1 + kPx + tick_len, kFrameColor);
    std::string label = x_axis.label(v);
    canvas.text(x + kPx / 2 - Canvas::text_width(label, kTickScale) / 2, plot.y1 + kPx + tick_len + tick_gap, label,
                kTextColor, kTickScale);
  }

  // Title and axis labels, centred on the plot box.
  const int plot_w = plot.x1 - plot.x0, plot_h = plot.y1 - plot.y0;
  if (!panel.title.empty()) {
    std::string title = fit_text(panel.title, kTitleScale, area.x1 - area.x0 - 2 * margin);
    int x = std::max(area.x0 + margin, plot.x0 + plot_w / 2 - Canvas::text_width(title, kTitleScale) / 2);
    canvas.text(x, area.y0 + margin, title, kTitleColor, kTitleScale);
  }
  if (!panel.x_label.empty()) {
    std::string label = fit_text(panel.x_label, kLabelScale, plot_w);
    canvas.text(plot.x0 + plot_w / 2 - Canvas::text_width(label, kLabelScale) / 2,
                area.y1 - margin - Canvas::text_height(kLabelScale), label, kTextColor, kLabelScale);
  }
  if (!panel.y_label.empty()) {
    std::string label = fit_text(panel.y_label, kLabelScale, plot_h);
    canvas.text_up(area.x0 + margin, plot.y0 + plot_h / 2 - Canvas::text_width(label, kLabelScale) / 2, label,
                   kTextColor, kLabelScale);
  }
}

void check_panel(const Panel& panel, std::size_t index) {
  const std::string where = "[plot] panel " + std::to_string(index) + " \"" + panel.title + "\"";
  for (const Series& s : panel.series)
    BIGBATCH_CHECK(s.x.size() == s.y.size(), where << " series \"" << s.label << "\": x has " << s.x.size()
                                                   << " values but y has " << s.y.size());
  for (const auto& limit : {panel.y_min, panel.y_max})
    BIGBATCH_CHECK(
        !limit || (std::isfinite(*limit) && (!panel.log_y || *limit > 0)),
        where << ": y limits must be finite" << (panel.log_y ? " and > 0 on a log axis" : "") << ", got " << *limit);
  BIGBATCH_CHECK(!panel.y_min || !panel.y_max || *panel.y_min < *panel.y_max,
                 where << ": y_min " << *panel.y_min << " must be below y_max " << *panel.y_max);
}

}  // namespace

Ticks nice_ticks(double lo, double hi, int target_count) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (lo > hi) std::swap(lo, hi);
  if (hi - lo <= 1e-12 * std::max(1.0, std::abs(lo))) {
    double pad = lo != 0 ? std::abs(lo) * 0.1 : 1.0;
    lo -= pad, hi += pad;
  }
  const double rough = (hi - lo) / std::max(1, target_count);
  const double magnitude = std::pow(10.0, std::floor(std::log10(rough)));
  const double f = rough / magnitude;
  // The tolerance keeps a rough step of exactly 1, 2 or 5 (up to rounding) from jumping up a size.
  const double step = (f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10) * magnitude;
  const double k0 = std::floor(lo / step + 1e-9), k1 = std::ceil(hi / step - 1e-9);
  Ticks ticks{k0 * step, k1 * step, step, {}};
  for (double k = k0; k <= k1 + 0.5; ++k) ticks.values.push_back(std::abs(k) < 0.5 ? 0.0 : k * step);
  return ticks;
}

std::vector<double> log_ticks(double lo, double hi) {
  BIGBATCH_CHECK(lo > 0 && hi > 0 && std::isfinite(lo) && std::isfinite(hi),
                 "[plot] a log axis needs positive finite limits, got " << lo << " and " << hi);
  if (lo > hi) std::swap(lo, hi);
  int d0 = static_cast<int>(std::floor(std::log10(lo) + 1e-9)), d1 = static_cast<int>(std::ceil(std::log10(hi) - 1e-9));
  if (d1 == d0) ++d1;
  std::vector<double> ticks;
  for (int d = d0; d <= d1; ++d) {
    ticks.push_back(std::pow(10.0, d));
    if (d1 - d0 <= 2 && d < d1) ticks.insert(ticks.end(), {2 * std::pow(10.0, d), 5 * std::pow(10.0, d)});
  }
  return ticks;
}

std::string format_tick(double value, double step) {
  char buf[64];
  if (std::abs(value) < std::abs(step) * 1e-9) value = 0;  // 0.1 * 3 - 0.3 is a zero tick
  if (value != 0 && (std::abs(value) >= 1e6 || std::abs(value) < 1e-4)) {
    std::snprintf(buf, sizeof(buf), "%g", value);
  } else {
    int decimals = step > 0 ? std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 10) : 0;
    std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  }
  std::string s = buf;
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);  // no "-0"
  return s;
}

void render_panels(const std::vector<Panel>& panels, int columns, const std::string& path, int panel_width,
                   int panel_height) {
  BIGBATCH_CHECK(!panels.empty(), "[plot] " << path << ": no panels to draw");
  BIGBATCH_CHECK(columns >= 1, "[plot] " << path << ": columns must be >= 1, got " << columns);
  BIGBATCH_CHECK(panel_width >= 200 && panel_height >= 150,
                 "[plot] " << path << ": panels must be at least 200x150, got " << panel_width << "x" << panel_height);
  for (std::size_t i = 0; i < panels.size(); ++i) check_panel(panels[i], i);
  columns = std::min(columns, static_cast<int>(panels.size()));
  const int rows = (static_cast<int>(panels.size()) + columns - 1) / columns;
  Canvas canvas(columns * panel_width * kSuper, rows * panel_height * kSuper, kWhite);
  for (std::size_t i = 0; i < panels.size(); ++i) {
    const int col = static_cast<int>(i) % columns, row = static_cast<int>(i) / columns;
    const int w = panel_width * kSuper, h = panel_height * kSuper;
    draw_panel(canvas, panels[i], {col * w, row * h, (col + 1) * w, (row + 1) * h});
  }
  write_png(path, columns * panel_width, rows * panel_height, downsample(canvas));
}

}  // namespace bigbatch::plot
