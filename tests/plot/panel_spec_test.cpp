// Panels from a JSON spec: what a valid one gives, and one named error for each bad one (the
// file is untrusted: counts are bounded).
#include "bigbatch/plot/panel_spec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "bigbatch/core/error.h"

namespace bigbatch::plot {
namespace {

TEST(PanelSpec, ParsesPanelsSeriesAndGaps) {
  const PanelSpec spec = parse_panel_spec(
      R"({"columns": 3, "panels": [{"title": "t", "x_label": "log2 kn", "y_label": "err %", "log_y": true,
           "y_min": 1, "y_max": 20, "series": [{"label": "a", "x": [6, 7], "y": [7.8, null]}]},
          {"series": []}]})",
      "spec.json");
  EXPECT_EQ(spec.columns, 3);
  ASSERT_EQ(spec.panels.size(), 2u);
  const Panel& p = spec.panels[0];
  EXPECT_EQ(p.title, "t");
  EXPECT_EQ(p.x_label, "log2 kn");
  EXPECT_TRUE(p.log_y);
  EXPECT_EQ(*p.y_min, 1.0);
  EXPECT_EQ(*p.y_max, 20.0);
  ASSERT_EQ(p.series.size(), 1u);
  EXPECT_EQ(p.series[0].x, (std::vector<double>{6, 7}));
  EXPECT_EQ(p.series[0].y[0], 7.8);
  EXPECT_TRUE(std::isnan(p.series[0].y[1]));  // a gap
  EXPECT_FALSE(spec.panels[1].y_min.has_value());
}

void expect_error(const std::string& text, const std::string& needle) {
  try {
    parse_panel_spec(text, "spec.json");
    ADD_FAILURE() << "accepted: " << text;
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("[plot] spec.json: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(PanelSpec, BadSpecsAreNamed) {
  expect_error("not json", "not a JSON object");
  expect_error("[]", "not a JSON object");
  expect_error("{}", "\"panels\" must be a non-empty array");
  expect_error(R"({"panels": []})", "\"panels\" must be a non-empty array");
  expect_error(R"({"columns": 0, "panels": [{"series": []}]})", "\"columns\" must be an integer from 1 to 16");
  expect_error(R"({"panels": [3]})", "panel 0: not an object");
  expect_error(R"({"panels": [{"title": 5, "series": []}]})", "\"title\" must be a string");
  expect_error(R"({"panels": [{"title": ")" + std::string(201, 'x') + R"(", "series": []}]})",
               "longer than 200 characters");
  expect_error(R"({"panels": [{}]})", "panel 0: \"series\" must be an array");
  expect_error(R"({"panels": [{"series": [{"x": [1, 2], "y": [1]}]}]})", "series 0: 2 x but 1 y");
  expect_error(R"({"panels": [{"series": [{"x": ["a"], "y": [1]}]}]})", "holds a non-number");
  expect_error(R"({"panels": [{"y_max": "high", "series": []}]})", "\"y_max\" must be a finite number");
  std::string many = R"({"panels": [)";
  for (int i = 0; i < 17; ++i) many += std::string(i ? "," : "") + R"({"series": []})";
  expect_error(many + "]}", "17 panels; at most 16");
}

TEST(PanelSpec, AnUnreadableFileIsNamed) { EXPECT_THROW(read_panel_spec("/nonexistent/spec.json"), InvalidArgument); }

}  // namespace
}  // namespace bigbatch::plot
