// `bigbatch models`: a table of every registered model with its parameter count and
// forward GFLOPs per example, at each model's usual input or at the one given.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

namespace CLI {
class App;
}

namespace bigbatch::cli {

struct ModelsOptions {
  std::string input;    // "CxHxW"; empty: each model's default (model_args.h)
  int64_t classes = 0;  // 0: each model's default
};

// Registers the subcommand on `app`; parsed values land in `options`.
CLI::App* add_models_command(CLI::App& app, ModelsOptions& options);
// Prints the table to `out`; returns the exit status.
int run_models_command(const ModelsOptions& options, std::ostream& out);

}  // namespace bigbatch::cli
