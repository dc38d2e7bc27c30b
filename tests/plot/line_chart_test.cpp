// Line charts: 1-2-5 ticks, log ticks, tick labels, and whole charts that decode with the right size and colours.
#include "bigbatch/plot/line_chart.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "bigbatch/core/error.h"
#include "plot/png_decode.h"

namespace bigbatch::plot {
namespace {

namespace fs = std::filesystem;

void expect_ticks(const Ticks& t, double first, double last, double step) {
  EXPECT_DOUBLE_EQ(t.first, first);
  EXPECT_DOUBLE_EQ(t.last, last);
  EXPECT_DOUBLE_EQ(t.step, step);
  ASSERT_EQ(t.values.size(), static_cast<std::size_t>(std::lround((last - first) / step)) + 1);
  for (std::size_t i = 0; i < t.values.size(); ++i) EXPECT_NEAR(t.values[i], first + i * step, step * 1e-9);
}

TEST(NiceTicks, OneTwoFiveSteps) {
  expect_ticks(nice_ticks(0, 1, 6), 0, 1, 0.2);
  expect_ticks(nice_ticks(0, 100, 5), 0, 100, 20);
  expect_ticks(nice_ticks(0, 10, 10), 0, 10, 1);      // exactly 1 per interval stays 1
  expect_ticks(nice_ticks(3.7, 42.1, 6), 0, 50, 10);  // widened to the enclosing ticks
  expect_ticks(nice_ticks(-1.3, 2.6, 6), -2, 3, 1);
  expect_ticks(nice_ticks(21.5, 23.9, 5), 21.5, 24, 0.5);
  expect_ticks(nice_ticks(1e-3, 4e-3, 3), 1e-3, 4e-3, 1e-3);
  expect_ticks(nice_ticks(90, 10, 4), 0, 100, 20);   // reversed bounds are sorted
  expect_ticks(nice_ticks(5, 5, 5), 4.4, 5.6, 0.2);  // a single value is widened around it
  expect_ticks(nice_ticks(0, 0, 5), -1, 1, 0.5);
  EXPECT_EQ(nice_ticks(-0.4, 0.4, 4).values[2], 0.0);  // exactly zero, not 1e-17
}

TEST(NiceTicks, LogTicksAndLabels) {
  EXPECT_EQ(log_ticks(3, 70), (std::vector<double>{1, 2, 5, 10, 20, 50, 100}));
  EXPECT_EQ(log_ticks(3, 700), (std::vector<double>{1, 10, 100, 1000}));
  EXPECT_EQ(log_ticks(0.05, 2000), (std::vector<double>{0.01, 0.1, 1, 10, 100, 1000, 10000}));
  EXPECT_EQ(log_ticks(10, 10), (std::vector<double>{10, 20, 50, 100}));
  EXPECT_THROW(log_ticks(0, 10), InvalidArgument);
  EXPECT_EQ(format_tick(0.6000000000000001, 0.2), "0.6");
  EXPECT_EQ(format_tick(40, 20), "40");
  EXPECT_EQ(format_tick(-1.5, 0.5), "-1.5");
  EXPECT_EQ(format_tick(-1e-17, 0.1), "0.0");
  EXPECT_EQ(format_tick(0.05, 0.05), "0.05");
  EXPECT_EQ(format_tick(2e7, 5e6), "2e+07");
}

class LineChart : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("bigbatch_chart_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

bool has_colour(const testing::DecodedPng& png, Rgb colour) {
  for (int y = 0; y < png.height; ++y)
    for (int x = 0; x < png.width; ++x)
      if (png.at(x, y) == colour) return true;
  return false;
}

TEST_F(LineChart, GridOfPanelsWithSeriesColours) {
  Panel a{"loss", "epochs", "loss", {}, false, {}, {}};
  a.series.push_back({"first", {0, 1, 2, 3, 4}, {4, 3, 2.5, 2.2, 2}});
  a.series.push_back({"second", {0, 1, 2, NAN, 4}, {5, 3.5, NAN, 2, 2.5}});  // NaNs break the line
  Panel b{"log", "x", "y", {}, true, {}, {}};
  b.series.push_back({"pos", {1, 2, 3}, {0.1, -1, 100}});  // y <= 0 is skipped on a log axis
  Panel c{"fixed", "x", "y", {}, false, 0.0, 100.0};
  c.series.push_back({"c", {0, 1}, {-50, 150}});  // beyond the limits: clipped
  const std::string path = (dir_ / "grid.png").string();
  render_panels({a, b, c}, 2, path, 300, 200);
  testing::DecodedPng png = testing::decode_png(testing::read_bytes(path));
  EXPECT_EQ(png.width, 600);
  EXPECT_EQ(png.height, 400);
  EXPECT_EQ(png.at(0, 0), (Rgb{255, 255, 255}));
  EXPECT_TRUE(has_colour(png, {0x1f, 0x77, 0xb4}));  // tab10 blue: series 0
  EXPECT_TRUE(has_colour(png, {0xff, 0x7f, 0x0e}));  // tab10 orange: series 1

  // More columns than panels: the image is only as wide as the panels.
  render_panels({a}, 3, path, 300, 200);
  EXPECT_EQ(testing::decode_png(testing::read_bytes(path)).width, 300);
  // A panel without data still draws its axes.
  render_panels({Panel{"empty", "", "", {}, false, {}, {}}}, 1, path, 300, 200);
}

TEST_F(LineChart, RejectsMalformedPanels) {
  const std::string path = (dir_ / "bad.png").string();
  Panel ok{"t", "x", "y", {{"s", {0, 1}, {0, 1}}}, false, {}, {}};
  EXPECT_THROW(render_panels({}, 1, path), InvalidArgument);
  EXPECT_THROW(render_panels({ok}, 0, path), InvalidArgument);
  EXPECT_THROW(render_panels({ok}, 1, path, 100, 100), InvalidArgument);
  Panel mismatch = ok;
  mismatch.series[0].y.push_back(2);
  EXPECT_THROW(render_panels({mismatch}, 1, path), InvalidArgument);
  Panel limits = ok;
  limits.y_min = 5;
  limits.y_max = 5;
  EXPECT_THROW(render_panels({limits}, 1, path), InvalidArgument);
  Panel log_limit = ok;
  log_limit.log_y = true;
  log_limit.y_min = 0;
  EXPECT_THROW(render_panels({log_limit}, 1, path), InvalidArgument);
  EXPECT_FALSE(fs::exists(path));
}

}  // namespace
}  // namespace bigbatch::plot
