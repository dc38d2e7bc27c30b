// The bigbatch command line: subcommands, and the one place where errors become one line
// on stderr and an exit status (1: a bigbatch error, 2: a command-line syntax error; train
// also 3: stopped by SIGTERM/SIGINT after writing a checkpoint, 128 + signal: a second signal).
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <string>

#include "bigbatch/cli/bench_command.h"
#include "bigbatch/cli/models_command.h"
#include "bigbatch/cli/pack_command.h"
#include "bigbatch/cli/simulate_command.h"
#include "bigbatch/cli/train_command.h"
#include "bigbatch/core/error.h"
#include "bigbatch/core/printable.h"

int main(int argc, char** argv) {
  namespace cli = bigbatch::cli;
  try {
    CLI::App app{"bigbatch: trains ResNets with large-minibatch synchronous SGD (Goyal et al. 2017)", "bigbatch"};
    app.require_subcommand(1);
    cli::ModelsOptions models_options;
    cli::BenchOptions bench_options;
    CLI::App* models = cli::add_models_command(app, models_options);
    CLI::App* bench = cli::add_bench_command(app, bench_options);
    cli::TrainFlags train_flags;
    cli::EvalOptions eval_options;
    cli::PlotOptions plot_options;
    CLI::App* train = cli::add_train_command(app, train_flags);
    CLI::App* eval = cli::add_eval_command(app, eval_options);
    CLI::App* plot = cli::add_plot_command(app, plot_options);
    cli::PackCommandOptions pack_options;
    CLI::App* pack = cli::add_pack_command(app, pack_options);
    cli::SimulateOptions simulate_options;
    CLI::App* simulate = cli::add_simulate_command(app, simulate_options);
    try {
      app.parse(argc, argv);
    } catch (const CLI::Success& e) {
      return app.exit(e);  // --help: prints the help, exit 0
    } catch (const CLI::ParseError& e) {
      // CLI11 takes an unknown first word for a stray argument and only says a subcommand is
      // required: name the word and the subcommands instead.
      if (app.get_subcommands().empty() && argc > 1 && argv[1][0] != '-') {
        std::string names;
        for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
          names += (names.empty() ? "" : ", ") + sub->get_name();
        std::cerr << "bigbatch: error: unknown subcommand '" << bigbatch::printable(argv[1])
                  << "'; expected one of: " << names << " (see --help)\n";
        return 2;
      }
      std::cerr << "bigbatch: error: " << e.what() << " (see --help)\n";
      return 2;
    }
    if (*models) return cli::run_models_command(models_options, std::cout);
    if (*bench) return cli::run_bench_command(bench_options, std::cout, std::cerr);
    if (*train) return cli::run_train_command(train_flags, std::cout);
    if (*eval) return cli::run_eval_command(eval_options, std::cout);
    if (*plot) return cli::run_plot_command(plot_options, std::cout);
    if (*pack) return cli::run_pack_command(pack_options, std::cout);
    if (*simulate) return cli::run_simulate_command(simulate_options, std::cout);
    return 2;  // unreachable: require_subcommand(1)
  } catch (const bigbatch::Error& e) {
    std::cerr << "bigbatch: error: " << e.what() << '\n';
  } catch (const std::exception& e) {
    std::cerr << "bigbatch: error: " << e.what() << '\n';
  }
  return 1;
}
