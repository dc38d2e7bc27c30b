// `bigbatch train`, `bigbatch eval` and `bigbatch plot`: the training job, evaluation of a
// checkpoint, and curves of runs side by side.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "bigbatch/cli/train_options.h"

namespace CLI {
class App;
}

namespace bigbatch::cli {

// The exit status of a run that a stop request (SIGTERM, SIGINT) ended after writing its
// checkpoint: resumable with --resume. A second signal exits at once with 128 + signal.
inline constexpr int kExitStopped = 3;

CLI::App* add_train_command(CLI::App& app, TrainFlags& flags);
// Trains; prints the final test error and the run directory to `out`. Returns the exit status:
// 0, or kExitStopped.
int run_train_command(const TrainFlags& flags, std::ostream& out);

struct EvalOptions {
  std::string checkpoint;
  std::string model;     // empty: the checkpoint's own (bigbatch checkpoints record it)
  std::string dataset = "fashion-mnist";
  std::string data_dir;
  int64_t batch = 500;
  int threads = 0;
  std::string precision = "f32";
  std::string device = "cpu";  // cpu | cuda
  int64_t image_size = 0;     // JPEG datasets: the centre crop; 0 = the model's (224; inception_v3 299)
  int decode_threads = 0;     // JPEG datasets: 0 = half the cores
};
CLI::App* add_eval_command(CLI::App& app, EvalOptions& options);
// Prints one JSON line {"top1_err", "top5_err", "loss", "examples", ...} to `out`.
int run_eval_command(const EvalOptions& options, std::ostream& out);

struct PlotOptions {
  std::vector<std::string> runs;
  std::string panels;  // a JSON panel spec instead of runs
  std::string out = "curves.png";
};
CLI::App* add_plot_command(CLI::App& app, PlotOptions& options);
int run_plot_command(const PlotOptions& options, std::ostream& out);

}  // namespace bigbatch::cli
