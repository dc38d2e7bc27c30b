// `bigbatch bench`: times the full training step (forward, softmax cross-entropy, backward,
// SGD momentum update) of a model on synthetic data; img/s is the median over timed steps.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

namespace CLI {
class App;
}

namespace bigbatch::cli {

struct BenchOptions {
  std::string model;
  std::string input;  // "CxHxW"; empty: the model's default (model_args.h)
  int64_t batch = 32;
  int threads = 0;  // 0: OpenMP's default (OMP_NUM_THREADS or the cores)
  std::string device = "cpu";     // cpu | cuda
  std::string precision = "f32";  // cpu: f32 | bf16; cuda: f32 | tf32 | bf16 | f16
  std::string layout = "nchw";    // cuda activations: nchw | nhwc (channels-last)
  int64_t bn_group = 0;  // examples per BN statistics group; 0: the whole batch
  int warmup = 3;
  int steps = 10;
  int64_t classes = 0;  // 0: the model's default
  uint64_t seed = 0;
  bool json = false;
};

// Registers the subcommand on `app`; parsed values land in `options`.
CLI::App* add_bench_command(CLI::App& app, BenchOptions& options);
// Runs the benchmark: progress to `log`, results to `out`; returns the exit status.
// Throws InvalidArgument on a bad option, BackendError when oneDNN or CUDA fails (or when
// --device cuda finds no GPU or a build without CUDA).
int run_bench_command(const BenchOptions& options, std::ostream& out, std::ostream& log);

}  // namespace bigbatch::cli
