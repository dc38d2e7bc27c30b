// `bigbatch bench`: times whole training steps of a model on a synthetic batch, through the
// trainer's own step (train::TrainStep: the code `bigbatch train` runs), on the CPU or a GPU.
// The same work as bench/pytorch/train_step.py, so the two can be compared in one run.
#include "bigbatch/cli/bench_command.h"

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <vector>

#include "bigbatch/backend/cuda/device.h"
#include "bigbatch/cli/model_args.h"
#include "bigbatch/core/error.h"
#include "bigbatch/core/rng.h"
#include "bigbatch/core/threading.h"
#include "bigbatch/models/registry.h"
#include "bigbatch/nn/cuda_executor.h"
#include "bigbatch/nn/device_arena.h"
#include "bigbatch/nn/executor.h"
#include "bigbatch/nn/init.h"
#include "bigbatch/optim/sgd.h"
#include "bigbatch/train/train_step.h"

namespace bigbatch::cli {

namespace {

// The benchmark's optimizer settings, matched by bench/pytorch/train_step.py. The value of
// lr does not change the work; it is small so that random labels do not blow the weights up.
constexpr double kLearningRate = 0.01;
constexpr double kMomentum = 0.9;
constexpr double kWeightDecay = 1e-4;

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

DType parse_precision(const std::string& text) {
  BIGBATCH_CHECK(text == "f32" || text == "bf16", "[bench] --precision: expected f32 or bf16, got '" << text << "'");
  const DType precision = parse_dtype(text);
  BIGBATCH_CHECK(precision != DType::bf16 || nn::cpu_has_native_bf16(),
                 "[bench] --precision bf16: this CPU has no native bf16 (needs AVX512-BF16 or AMX); use f32");
  return precision;
}

}  // namespace

CLI::App* add_bench_command(CLI::App& app, BenchOptions& options) {
  CLI::App* sub = app.add_subcommand("bench", "Time the full training step of a model on synthetic data");
  sub->add_option("--model", options.model, "Model name (see 'bigbatch models')")->required();
  sub->add_option("--input", options.input, "Input CxHxW (default: 3x224x224 for resnet18..152, 3x299x299 for inception_v3, else 1x28x28)");
  sub->add_option("--batch", options.batch, "Examples per step")->capture_default_str();
  sub->add_option("--threads", options.threads, "Compute threads (default: OMP_NUM_THREADS or the cores this process may use)");
  sub->add_option("--device", options.device, "cpu or cuda")->capture_default_str();
  sub->add_option("--precision", options.precision, "Compute type: f32 or bf16 (cuda also tf32, f16)")
      ->capture_default_str();
  sub->add_option("--layout", options.layout, "cuda activations: nchw or nhwc")->capture_default_str();
  sub->add_option("--bn-group", options.bn_group, "Examples per batch-norm statistics group (0: whole batch)")
      ->capture_default_str();
  sub->add_option("--warmup", options.warmup, "Untimed steps first")->capture_default_str();
  sub->add_option("--steps", options.steps, "Timed steps")->capture_default_str();
  sub->add_option("--classes", options.classes, "Number of classes (default: 1000 for resnet18..152 and inception_v3, else 10)");
  sub->add_option("--seed", options.seed, "Seed of the weights and the synthetic data")->capture_default_str();
  sub->add_flag("--json", options.json, "Print the result as one JSON object on one line");
  return sub;
}

int run_bench_command(const BenchOptions& options, std::ostream& out, std::ostream& log) {
  // Validate everything before any allocation, so a typo fails at once.
  const ModelDefaults defaults = model_defaults(options.model);
  const InputDims input = options.input.empty() ? defaults.input : parse_input_dims(options.input, "--input");
  const int64_t classes = options.classes != 0 ? options.classes : defaults.classes;
  BIGBATCH_CHECK(options.batch >= 1, "[bench] --batch: expected >= 1, got " << options.batch);
  BIGBATCH_CHECK(options.threads >= 0, "[bench] --threads: expected >= 0 (0 = the usable cores), got " << options.threads);
  BIGBATCH_CHECK(options.bn_group >= 0, "[bench] --bn-group: expected >= 0, got " << options.bn_group);
  BIGBATCH_CHECK(options.bn_group == 0 || options.batch % options.bn_group == 0,
                 "[bench] --batch " << options.batch << " is not divisible by --bn-group " << options.bn_group);
  BIGBATCH_CHECK(options.warmup >= 0, "[bench] --warmup: expected >= 0, got " << options.warmup);
  BIGBATCH_CHECK(options.steps >= 1, "[bench] --steps: expected >= 1, got " << options.steps);
  BIGBATCH_CHECK(classes >= 2, "[bench] --classes: expected >= 2, got " << classes);
  BIGBATCH_CHECK(options.device == "cpu" || options.device == "cuda",
                 "[bench] --device: expected cpu or cuda, got '" << options.device << "'");
  const bool cuda = options.device == "cuda";
  BIGBATCH_CHECK(options.layout == "nchw" || (cuda && options.layout == "nhwc"),
                 "[bench] --layout: expected nchw (or nhwc with --device cuda), got '" << options.layout << "'");
  DType precision = DType::f32;
  bool tf32 = false;
  if (cuda) {
    nn::parse_cuda_precision(options.precision, precision, tf32);
    backend::cuda::require_device("[cuda]");  // before any output: no GPU is one error line
  } else {
    precision = parse_precision(options.precision);
  }
  const int threads = use_threads(options.threads, 1, &log);

  const nn::Graph graph = models::build_model({options.model, input.channels, input.height, input.width, classes});
  const int64_t batch = options.batch;
  log << "bench: " << options.model << " " << input.to_string() << ", batch " << batch << ", " << threads
      << " threads, " << options.device << " " << options.precision << ": planning\n";

  // The trainer's step with one rank and one pass: kn = n·k = batch, the loss divided by it.
  train::StepPlan plan;
  plan.graph = &graph;
  plan.global_batch = plan.local_batch = plan.micro_batch = batch;
  plan.bn_group = options.bn_group;
  plan.precision = precision;
  plan.device = {cuda ? Device::cuda : Device::cpu, {.device = 0, .tf32 = tf32, .nhwc = options.layout == "nhwc"}};
  plan.sgd = {.momentum = kMomentum, .weight_decay = kWeightDecay};
  train::TrainStep train_step(plan);
  Rng rng(options.seed);
  {
    Arena params(graph.parameter_layout()), buffers(graph.buffer_layout());
    nn::initialize(graph, params, buffers, rng);
    nn::copy_arena(train_step.params(), params);
    nn::copy_arena(train_step.buffers(), buffers);
  }

  // Synthetic data: N(0, 1) images and uniform labels, drawn once from the seed.
  Tensor src = Tensor::zeros({batch, input.channels, input.height, input.width});
  float* src_data = src.data<float>();
  for (int64_t i = 0; i < src.numel(); ++i) src_data[i] = static_cast<float>(rng.normal());
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  for (int32_t& label : labels) label = static_cast<int32_t>(rng.below(static_cast<uint64_t>(classes)));
  auto step = [&]() {
    int64_t correct = 0;
    return train_step.run(src, labels.data(), kLearningRate, 0, correct);
  };

  log << "bench: " << options.warmup << " warm-up steps\n";
  double loss = 0.0;
  for (int i = 0; i < options.warmup; ++i) loss = step();
  log << "bench: " << options.steps << " timed steps\n";
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(options.steps));
  for (int i = 0; i < options.steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    loss = step();
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }

  const double median_ms = median(ms);
  const double min_ms = *std::min_element(ms.begin(), ms.end());
  const double max_ms = *std::max_element(ms.begin(), ms.end());
  const double img_per_s = static_cast<double>(batch) * 1e3 / median_ms;
  const double rss = peak_rss_mib();
  if (options.json) {
    nlohmann::json j = {
        {"engine", "bigbatch"},
        {"model", options.model},
        {"input", input.to_string()},
        {"classes", classes},
        {"params", graph.parameter_layout()->count()},
        {"batch", batch},
        {"bn_group", options.bn_group == 0 ? batch : options.bn_group},
        {"threads", threads},
        {"device", options.device},
        {"precision", options.precision},
        {"layout", options.layout},
        {"warmup", options.warmup},
        {"steps", options.steps},
        {"img_per_s", img_per_s},
        {"img_per_s_min", static_cast<double>(batch) * 1e3 / max_ms},
        {"img_per_s_max", static_cast<double>(batch) * 1e3 / min_ms},
        {"median_ms", median_ms},
        {"min_ms", min_ms},
        {"max_ms", max_ms},
        {"peak_rss_mib", rss},
        // JSON has no NaN: a diverged loss is written as null.
        {"final_loss", std::isfinite(loss) ? nlohmann::json(loss) : nlohmann::json(nullptr)},
    };
    out << j.dump() << '\n';
  } else {
    out << std::fixed << std::setprecision(1);
    out << "model       " << options.model << " (" << input.to_string() << ", " << classes << " classes, "
        << with_thousands(graph.parameter_layout()->count()) << " params)\n";
    out << "batch       " << batch << " (bn group " << (options.bn_group == 0 ? batch : options.bn_group) << ")\n";
    out << "threads     " << threads << "\n";
    out << "device      " << options.device << (cuda ? " (" + options.layout + ")" : std::string()) << "\n";
    out << "precision   " << options.precision << "\n";
    out << "steps       " << options.steps << " timed after " << options.warmup << " warm-up\n";
    out << "img/s       " << img_per_s << " median (min " << batch * 1e3 / max_ms << ", max " << batch * 1e3 / min_ms
        << ")\n";
    out << std::setprecision(2);
    out << "ms/step     " << median_ms << " median (min " << min_ms << ", max " << max_ms << ")\n";
    out << std::setprecision(1);
    out << "peak RSS    " << rss << " MiB\n";
    out << std::setprecision(4);
    out << "final loss  " << loss << "\n";
  }
  return 0;
}

}  // namespace bigbatch::cli
