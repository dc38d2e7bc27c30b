// Panels described in a JSON file, for figures made elsewhere (the sweeps' report scripts):
//   {"columns": 2, "panels": [{"title": "...", "x_label": "...", "y_label": "...",
//     "log_y": false, "y_min": 0, "y_max": 20,
//     "series": [{"label": "...", "x": [1, 2], "y": [7.8, null]}]}]}
// Every key but "panels", "series", "x" and "y" is optional; a null coordinate is a gap.
#pragma once

#include <string>
#include <vector>

#include "bigbatch/plot/line_chart.h"

namespace bigbatch::plot {

// Bounds on what a spec may hold (each larger count is one clear error): the file is untrusted.
inline constexpr size_t kMaxSpecPanels = 16, kMaxSpecSeries = 32, kMaxSpecPoints = 100000;
inline constexpr size_t kMaxSpecBytes = size_t{16} << 20, kMaxSpecText = 200;

struct PanelSpec {
  int columns = 2;
  std::vector<Panel> panels;
};

// Throws InvalidArgument "[plot] <origin>: ..." naming what is wrong (not JSON, a missing or
// mistyped key, a count past its bound, x and y of different lengths, a non-number).
PanelSpec parse_panel_spec(const std::string& text, const std::string& origin);
// Reads (at most kMaxSpecBytes) and parses; then render_panels.
PanelSpec read_panel_spec(const std::string& path);

}  // namespace bigbatch::plot
