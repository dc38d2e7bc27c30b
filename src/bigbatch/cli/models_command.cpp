// `bigbatch models`: builds each registered graph (no arenas) to count its parameters and
// forward FLOPs.
#include "bigbatch/cli/models_command.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <ostream>

#include "bigbatch/cli/model_args.h"
#include "bigbatch/core/error.h"
#include "bigbatch/models/registry.h"

namespace bigbatch::cli {

CLI::App* add_models_command(CLI::App& app, ModelsOptions& options) {
  CLI::App* sub = app.add_subcommand("models", "List the models with their parameter count and forward GFLOPs");
  sub->add_option("--input", options.input,
                  "Input CxHxW for every model (default: 3x224x224 for resnet18..152, 3x299x299 for inception_v3, "
                  "1x28x28 for the others)");
  sub->add_option("--classes", options.classes,
                  "Number of classes (default: 1000 for resnet18..152 and inception_v3, 10 otherwise)");
  return sub;
}

int run_models_command(const ModelsOptions& options, std::ostream& out) {
  InputDims input;
  if (!options.input.empty()) input = parse_input_dims(options.input, "--input");
  BIGBATCH_CHECK(options.classes >= 0, "[models] --classes: expected a positive count, got " << options.classes);

  size_t name_width = 10;
  for (const std::string& name : models::model_names()) name_width = std::max(name_width, name.size());
  auto row = [&out, name_width](const std::string& model, const std::string& input_text, const std::string& classes,
                                const std::string& params, const std::string& gflops, const std::string& description) {
    out << std::left << std::setw(static_cast<int>(name_width)) << model << ' ' << std::setw(10) << input_text << ' '
        << std::right << std::setw(7) << classes << ' ' << std::setw(13) << params << ' ' << std::setw(10) << gflops
        << "  " << description << '\n';
  };
  row("model", "input", "classes", "params", "GFLOPs/ex", "description");
  for (const std::string& name : models::model_names()) {
    const ModelDefaults defaults = model_defaults(name);
    const InputDims dims = options.input.empty() ? defaults.input : input;
    const int64_t classes = options.classes > 0 ? options.classes : defaults.classes;
    models::ModelSpec spec{name, dims.channels, dims.height, dims.width, classes};
    std::string params = "-", gflops = "-";
    try {
      const nn::Graph graph = models::build_model(spec);
      params = with_thousands(graph.parameter_layout()->count());
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(graph.forward_flops_per_example()) * 1e-9);
      gflops = buf;
    } catch (const InvalidArgument& e) {
      // One model not fitting a small --input is no reason to hide the others.
      std::cerr << "bigbatch: " << name << ": " << e.what() << '\n';
    }
    row(name, dims.to_string(), std::to_string(classes), params, gflops, models::model_description(name));
  }
  out << "GFLOPs/ex: 2 x multiply-adds of one example's forward pass (backward is about 2x more).\n";
  return 0;
}

}  // namespace bigbatch::cli
