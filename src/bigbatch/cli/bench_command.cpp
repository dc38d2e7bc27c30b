// `bigbatch bench`: plans a model for one batch and times whole training steps. The same
// work as bench/pytorch/train_step.py, so the two can be compared in one run.
#include "bigbatch/cli/bench_command.h"

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <iomanip>
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
#include "bigbatch/nn/executor.h"
#include "bigbatch/nn/init.h"
#include "bigbatch/ops/softmax_cross_entropy.h"
#include "bigbatch/optim/sgd.h"

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

// The GPU's step: params, gradients and momentum stay on the device; the batch is staged
// through pinned memory and the update is the fused SGD kernel (same settings as the CPU's).
std::function<double()> cuda_step(const nn::Graph& graph, const Arena& params, const Arena& buffers,
                                  const BenchOptions& options, DType precision, bool tf32, const Tensor& src,
                                  const std::vector<int32_t>& labels, std::unique_ptr<nn::CudaExecutor>& executor) {
  executor = nn::make_cuda_executor({.graph = &graph, .params = &params, .grads = nullptr, .buffers = &buffers},
                                    {.batch = options.batch, .bn_group = options.bn_group, .precision = precision},
                                    {.device = 0, .tf32 = tf32, .nhwc = options.layout == "nhwc"});
  executor->upload_state();
  auto sgd = std::make_shared<nn::DeviceSgd>();
  sgd->momentum = kMomentum;
  const optim::SgdOptions reference{.momentum = kMomentum, .weight_decay = kWeightDecay};
  for (const ArenaEntry& e : graph.parameter_layout()->entries())
    sgd->weight_decay.push_back(optim::applies_weight_decay(e.role, reference) ? static_cast<float>(kWeightDecay)
                                                                               : 0.0f);
  nn::CudaExecutor* gpu = executor.get();
  const double divisor = static_cast<double>(options.batch);
  // The synthetic batch goes to the device once and stays, as the PyTorch peer's does.
  gpu->stage_batch(src, labels.data());
  return [gpu, sgd, divisor]() {
    gpu->reuse_batch();
    gpu->train_step(divisor, kLearningRate, *sgd);
    return gpu->wait_loss();
  };
}

}  // namespace

CLI::App* add_bench_command(CLI::App& app, BenchOptions& options) {
  CLI::App* sub = app.add_subcommand("bench", "Time the full training step of a model on synthetic data");
  sub->add_option("--model", options.model, "Model name (see 'bigbatch models')")->required();
  sub->add_option("--input", options.input, "Input CxHxW (default: 3x224x224 for resnet18..152, else 1x28x28)");
  sub->add_option("--batch", options.batch, "Examples per step")->capture_default_str();
  sub->add_option("--threads", options.threads, "Compute threads (default: OMP_NUM_THREADS or all cores)");
  sub->add_option("--device", options.device, "cpu or cuda")->capture_default_str();
  sub->add_option("--precision", options.precision, "Compute type: f32 or bf16 (cuda also tf32, f16)")
      ->capture_default_str();
  sub->add_option("--layout", options.layout, "cuda activations: nchw or nhwc")->capture_default_str();
  sub->add_option("--bn-group", options.bn_group, "Examples per batch-norm statistics group (0: whole batch)")
      ->capture_default_str();
  sub->add_option("--warmup", options.warmup, "Untimed steps first")->capture_default_str();
  sub->add_option("--steps", options.steps, "Timed steps")->capture_default_str();
  sub->add_option("--classes", options.classes, "Number of classes (default: 1000 for resnet18..152, else 10)");
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
  BIGBATCH_CHECK(options.threads >= 0, "[bench] --threads: expected >= 1, got " << options.threads);
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
  if (options.threads > 0) set_num_threads(options.threads);
  const int threads = num_threads();

  const nn::Graph graph = models::build_model({options.model, input.channels, input.height, input.width, classes});
  const int64_t batch = options.batch;
  log << "bench: " << options.model << " " << input.to_string() << ", batch " << batch << ", " << threads
      << " threads, " << options.device << " " << options.precision << ": planning\n";

  Arena params(graph.parameter_layout());
  Arena grads(graph.parameter_layout());
  Arena buffers(graph.buffer_layout());
  optim::Sgd sgd(graph.parameter_layout(), {.momentum = kMomentum, .weight_decay = kWeightDecay});
  Rng rng(options.seed);
  nn::initialize(graph, params, buffers, rng);
  std::unique_ptr<nn::Executor> executor;
  std::unique_ptr<nn::CudaExecutor> gpu;
  if (!cuda)
    executor = nn::make_cpu_executor({.graph = &graph, .params = &params, .grads = &grads, .buffers = &buffers},
                                     {.batch = batch, .bn_group = options.bn_group, .precision = precision});

  // Synthetic data: N(0, 1) images and uniform labels, drawn once from the seed.
  Tensor src = Tensor::zeros({batch, input.channels, input.height, input.width});
  float* src_data = src.data<float>();
  for (int64_t i = 0; i < src.numel(); ++i) src_data[i] = static_cast<float>(rng.normal());
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  for (int32_t& label : labels) label = static_cast<int32_t>(rng.below(static_cast<uint64_t>(classes)));
  Tensor diff_logits = Tensor::zeros({batch, classes});

  // One training step; the loss is the sum over the batch divided by the batch (RECIPE §4).
  const double divisor = static_cast<double>(batch);
  auto cpu_step = [&]() {
    executor->forward(src, /*training=*/true);
    const float* logits = executor->logits().data<float>();
    const double loss = ops::softmax_cross_entropy_forward<float>(batch, classes, logits, labels.data(), divisor);
    ops::softmax_cross_entropy_backward<float>(batch, classes, logits, labels.data(), divisor,
                                               diff_logits.data<float>());
    executor->backward(diff_logits);
    sgd.step(params, grads, kLearningRate);
    return loss;
  };
  const std::function<double()> step = cuda ? cuda_step(graph, params, buffers, options, precision, tf32, src, labels, gpu)
                                             : std::function<double()>(cpu_step);

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
