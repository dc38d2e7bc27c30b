// Reading metrics.jsonl files into epoch curves and laying them out as two error-vs-epoch panels.
// What an error quotes from a file goes through printable(): a line can hold any bytes, and the
// message is printed on a terminal.
#include "bigbatch/plot/run_curves.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "bigbatch/core/error.h"
#include "bigbatch/core/printable.h"
#include "bigbatch/plot/line_chart.h"

namespace bigbatch::plot {
namespace {

using nlohmann::json;

// The run's name for the legend: the last non-empty path component ("runs/a/" -> "a").
std::string dir_name(const std::string& run_dir) {
  std::filesystem::path p = std::filesystem::path(run_dir).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();
  std::string name = p.filename().string();
  return name.empty() || name == "." ? std::filesystem::absolute(p).filename().string() : name;
}

// A field of an epoch line as a double: a number, or NaN for null.
double number_field(const json& line, const char* key, const std::string& where) {
  auto it = line.find(key);
  BIGBATCH_CHECK(it != line.end(), where << ": epoch line lacks \"" << key << "\"");
  if (it->is_null()) return std::numeric_limits<double>::quiet_NaN();
  BIGBATCH_CHECK(it->is_number(), where << ": \"" << key << "\" must be a number, got " << printable(it->dump()));
  return it->get<double>();
}

}  // namespace

RunCurves read_run(const std::string& run_dir) {
  const std::string file = (std::filesystem::path(run_dir) / "metrics.jsonl").string();
  std::ifstream in(file, std::ios::binary);
  if (!in)
    BIGBATCH_THROW(Error,
                   "[plot] " << file << ": cannot open metrics of run " << run_dir << ": " << std::strerror(errno));
  RunCurves run{dir_name(run_dir), {}, {}, {}};
  std::map<double, std::pair<double, double>> epochs;  // epoch -> (train, test) error in %
  std::string text;
  for (int line_no = 1; std::getline(in, text); ++line_no) {
    const bool terminated = !in.eof();
    const std::string where = "[plot] " + file + ":" + std::to_string(line_no);
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    json line = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (line.is_discarded()) {
      if (!terminated) break;  // a run still appending its last line
      BIGBATCH_THROW(InvalidArgument, where << ": not JSON: " << printable(text.substr(0, 80)));
    }
    BIGBATCH_CHECK(line.is_object(), where << ": expected a JSON object, got " << printable(line.dump().substr(0, 80)));
    auto kind = line.find("kind");
    BIGBATCH_CHECK(kind != line.end() && kind->is_string(), where << ": lacks a string \"kind\"");
    if (*kind == "run") {
      auto label = line.find("label");
      if (label != line.end()) {
        BIGBATCH_CHECK(label->is_string(), where << ": \"label\" must be a string, got " << printable(label->dump()));
        run.label = label->get<std::string>();
      }
    } else if (*kind == "epoch") {
      double epoch = number_field(line, "epoch", where);
      BIGBATCH_CHECK(std::isfinite(epoch), where << ": \"epoch\" must be a finite number");
      epochs[epoch] = {100 * number_field(line, "train_top1_err", where),
                       100 * number_field(line, "test_top1_err", where)};
    }
  }
  if (in.bad()) BIGBATCH_THROW(Error, "[plot] " << file << ": read failed: " << std::strerror(errno));
  BIGBATCH_CHECK(!epochs.empty(),
                 "[plot] " << file << ": no epoch lines (has run " << run_dir << " finished an epoch yet?)");
  for (const auto& [epoch, err] : epochs) {
    run.epoch.push_back(epoch);
    run.train_err.push_back(err.first);
    run.test_err.push_back(err.second);
  }
  return run;
}

void plot_runs(const std::vector<std::string>& run_dirs, const std::string& out_png) {
  BIGBATCH_CHECK(!run_dirs.empty(), "[plot] " << out_png << ": no run directories given");
  Panel train{"Training error", "epochs", "training error (%)", {}, false, {}, {}};
  Panel test{"Test top-1 error", "epochs", "test top-1 error (%)", {}, false, {}, {}};
  for (const std::string& dir : run_dirs) {
    RunCurves run = read_run(dir);
    train.series.push_back({run.label, run.epoch, run.train_err});
    test.series.push_back({run.label, run.epoch, std::move(run.test_err)});
  }
  render_panels({train, test}, 2, out_png);
}

}  // namespace bigbatch::plot
