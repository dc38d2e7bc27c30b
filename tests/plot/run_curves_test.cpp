// plot_runs / read_run on generated run directories: curves, labels, the PNG, and malformed metrics.
#include "bigbatch/plot/run_curves.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "bigbatch/core/error.h"
#include "plot/png_decode.h"

namespace bigbatch::plot {
namespace {

namespace fs = std::filesystem;

class RunCurvesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("bigbatch_run_curves_test_" + std::to_string(::getpid()));
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // A run directory whose metrics.jsonl holds text verbatim.
  std::string make_run(const std::string& name, const std::string& text) {
    fs::path dir = root_ / name;
    fs::create_directories(dir);
    std::ofstream(dir / "metrics.jsonl") << text;
    return dir.string();
  }

  // A plausible run: error falling with epochs, iteration lines in between.
  std::string make_good_run(const std::string& name, double scale, const std::string& run_line = "") {
    std::string text = run_line.empty() ? "" : run_line + "\n";
    for (int epoch = 1; epoch <= 12; ++epoch) {
      text += R"({"kind":"iter","iter":)" + std::to_string(epoch * 10) + R"(,"epoch":)" + std::to_string(epoch) +
              R"(,"lr":0.1,"loss":1.5,"img_per_s":900})" + "\n";
      double train = scale * std::exp(-epoch / 4.0), test = train + 0.05;
      text += R"({"kind":"epoch","epoch":)" + std::to_string(epoch) + R"(,"train_loss":1,"train_top1_err":)" +
              std::to_string(train) + R"(,"test_loss":1,"test_top1_err":)" + std::to_string(test) +
              R"(,"test_top5_err":0.01,"wall_s":3})" + "\n";
    }
    return make_run(name, text);
  }

  // The message of the InvalidArgument or Error read_run(dir) throws.
  static std::string error_of(const std::string& dir) {
    try {
      read_run(dir);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  }

  fs::path root_;
};

TEST_F(RunCurvesTest, ReadsEpochCurvesInPercent) {
  RunCurves run = read_run(make_good_run("bs256", 0.9));
  EXPECT_EQ(run.label, "bs256");
  ASSERT_EQ(run.epoch.size(), 12u);
  EXPECT_EQ(run.epoch.front(), 1);
  EXPECT_NEAR(run.train_err[0], 90 * std::exp(-0.25), 1e-3);
  EXPECT_NEAR(run.test_err[0], run.train_err[0] + 5, 1e-3);

  // A run line's label wins; a re-logged epoch replaces the first; null becomes NaN; a trailing
  // slash does not hide the directory name.
  std::string dir = make_run("r", R"({"kind":"run","label":"kn=8k, warmup"})"
                                  "\n"
                                  R"({"kind":"epoch","epoch":2,"train_top1_err":0.5,"test_top1_err":0.6})"
                                  "\n"
                                  R"({"kind":"epoch","epoch":1,"train_top1_err":0.9,"test_top1_err":null})"
                                  "\n"
                                  R"({"kind":"epoch","epoch":2,"train_top1_err":0.4,"test_top1_err":0.45})"
                                  "\n"
                                  R"({"kind":"future_kind"})"
                                  "\n\n");
  run = read_run(dir);
  EXPECT_EQ(run.label, "kn=8k, warmup");
  EXPECT_EQ(run.epoch, (std::vector<double>{1, 2}));
  EXPECT_EQ(run.train_err, (std::vector<double>{90, 40}));
  EXPECT_TRUE(std::isnan(run.test_err[0]));
  EXPECT_EQ(run.test_err[1], 45);
  EXPECT_EQ(read_run(make_good_run("plain", 0.5) + "/").label, "plain");
}

TEST_F(RunCurvesTest, PlotsTwoRunsSideBySide) {
  std::string a = make_good_run("kn256", 0.9);
  std::string b = make_good_run("kn8k", 0.95, R"({"kind":"run","label":"kn=8k"})");
  const std::string out = (root_ / "curves.png").string();
  plot_runs({a, b}, out);
  testing::DecodedPng png = testing::decode_png(testing::read_bytes(out));
  EXPECT_EQ(png.width, 2 * 640);
  EXPECT_EQ(png.height, 420);
  int blue = 0, orange = 0;
  for (int y = 0; y < png.height; ++y)
    for (int x = 0; x < png.width; ++x) {
      blue += png.at(x, y) == Rgb{0x1f, 0x77, 0xb4};
      orange += png.at(x, y) == Rgb{0xff, 0x7f, 0x0e};
    }
  EXPECT_GT(blue, 200);  // both curves, in both panels
  EXPECT_GT(orange, 200);
  EXPECT_THROW(plot_runs({}, out), InvalidArgument);
}

TEST_F(RunCurvesTest, MalformedMetricsNameFileAndLine) {
  const std::string epoch = R"({"kind":"epoch","epoch":1,"train_top1_err":0.5,"test_top1_err":0.6})";
  std::string dir = make_run("notjson", epoch + "\n" + epoch + "\n{oops\n" + epoch + "\n");
  EXPECT_THROW(read_run(dir), InvalidArgument);
  EXPECT_NE(error_of(dir).find("[plot] " + dir + "/metrics.jsonl:3: not JSON"), std::string::npos) << error_of(dir);

  dir = make_run("nofield", epoch + "\n" + R"({"kind":"epoch","epoch":2,"test_top1_err":0.6})" + "\n");
  EXPECT_NE(error_of(dir).find("metrics.jsonl:2: epoch line lacks \"train_top1_err\""), std::string::npos)
      << error_of(dir);
  dir = make_run("badtype", R"({"kind":"epoch","epoch":"one","train_top1_err":0.5,"test_top1_err":0.6})");
  EXPECT_NE(error_of(dir).find("metrics.jsonl:1: \"epoch\" must be a number"), std::string::npos) << error_of(dir);
  dir = make_run("nokind", "[1, 2]\n");
  EXPECT_NE(error_of(dir).find("metrics.jsonl:1: expected a JSON object"), std::string::npos) << error_of(dir);
  dir = make_run("nokind2", R"({"epoch":1})"
                            "\n");
  EXPECT_NE(error_of(dir).find("metrics.jsonl:1: lacks a string \"kind\""), std::string::npos) << error_of(dir);

  dir = make_run("noepochs", R"({"kind":"iter","iter":1,"epoch":0,"lr":0.1,"loss":2,"img_per_s":1})"
                             "\n");
  EXPECT_NE(error_of(dir).find("no epoch lines"), std::string::npos) << error_of(dir);

  const std::string missing = (root_ / "missing").string();
  EXPECT_THROW(read_run(missing), Error);
  EXPECT_NE(error_of(missing).find("[plot] " + missing + "/metrics.jsonl: cannot open"), std::string::npos)
      << error_of(missing);
  EXPECT_THROW(plot_runs({make_good_run("fine", 0.5), missing}, (root_ / "x.png").string()), Error);
}

TEST_F(RunCurvesTest, ErrorsQuoteTheFileWithoutItsControlBytes) {
  // A line that would clear the screen and retitle the terminal if copied into the message.
  std::string dir = make_run("escapes", "\x1b[2J\x1b]0;owned\x07 not json\n{}\n");
  std::string m = error_of(dir);
  EXPECT_NE(m.find("metrics.jsonl:1: not JSON: \\x1b[2J\\x1b]0;owned\\x07 not json"), std::string::npos) << m;
  EXPECT_EQ(m.find('\x1b'), std::string::npos) << m;
  // Also where a JSON value is quoted: DEL and C1 controls survive JSON's own escaping.
  dir = make_run("escapes2", "{\"kind\":\"run\",\"label\":[\"\x7f\xc2\x9b\"]}\n");
  m = error_of(dir);
  EXPECT_NE(m.find("\"label\" must be a string, got [\"\\x7f\\xc2\\x9b\"]"), std::string::npos) << m;
}

TEST_F(RunCurvesTest, IgnoresAnUnterminatedLastLine) {
  const std::string epoch = R"({"kind":"epoch","epoch":1,"train_top1_err":0.5,"test_top1_err":0.6})";
  RunCurves run = read_run(make_run("live", epoch + "\n" + R"({"kind":"epoch","epo)"));
  EXPECT_EQ(run.epoch.size(), 1u);
}

}  // namespace
}  // namespace bigbatch::plot
