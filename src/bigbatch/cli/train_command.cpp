#include "bigbatch/cli/train_command.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>

#include "bigbatch/comm/mpi_comm.h"
#include "bigbatch/comm/parameter_server.h"
#include "bigbatch/core/stop_request.h"
#include "bigbatch/core/threading.h"
#include "bigbatch/plot/panel_spec.h"
#include "bigbatch/plot/run_curves.h"
#include "bigbatch/train/evaluator.h"
#include "bigbatch/train/shard_optimizer.h"
#include "bigbatch/train/trainer.h"

namespace bigbatch::cli {

CLI::App* add_train_command(CLI::App& app, TrainFlags& flags) {
  CLI::App* command = app.add_subcommand(
      "train",
      "Train a model with large-minibatch synchronous SGD: k = kn/n virtual workers, each with batch-norm over its "
      "own n examples (RECIPE.md). Every configuration key is a flag; --config reads them from a TOML file.");
  add_train_flags(*command, flags);
  return command;
}

namespace {

int train_and_report(const train::TrainConfig& config, comm::Communicator* comm, std::ostream& out,
                     comm::ParameterServerJob* ps = nullptr) {
  train::TrainResult result;
  {
    train::Trainer trainer(config, to_toml(config), comm, ps);
    result = trainer.run();
  }
  if (ps != nullptr) ps->finish();  // every worker is past its last push: the servers may stop
  if (result.stopped_by != 0) {
    if (comm == nullptr || comm->rank() == 0)
      std::cerr << "bigbatch: stopped by " << stop_signal_name(result.stopped_by) << " after step " << result.steps
                << "; checkpoint " << result.last_checkpoint << "; continue with: bigbatch train --resume "
                << result.run_dir << std::endl;
    return kExitStopped;
  }
  if (comm != nullptr && comm->rank() != 0) return 0;
  out << std::fixed << std::setprecision(2) << "test error " << 100.0 * result.final_eval.top1_err << "% (top-5 "
      << 100.0 * result.final_eval.top5_err << "%) after " << result.steps << " steps, " << std::setprecision(0)
      << result.wall_s << " s\n"
      << "run directory: " << result.run_dir << "\n"
      << "checkpoint: " << result.last_checkpoint << "\n";
  // The curves of the run next to its metrics, like the paper's figures.
  if (result.epochs > 0) {
    const std::string png = (std::filesystem::path(result.run_dir) / "curves.png").string();
    plot::plot_runs({result.run_dir}, png);
    out << "curves: " << png << "\n";
  }
  return 0;
}

}  // namespace

int run_train_command(const TrainFlags& flags, std::ostream& out) {
  std::string schedule_note;
  train::TrainConfig config = resolve_train_config(flags, &schedule_note);
  install_stop_handlers();  // SIGTERM / Ctrl-C: a checkpoint at the next step, then kExitStopped
  // The config keeps the count asked for (0 = the cores), so a resume elsewhere fits its machine.
  if (!comm::launched_by_mpi()) {
    BIGBATCH_CHECK(!config.ps.enabled, "[config] comm ps: start the job with mpirun -np W+S (W workers, then S = "
                                           << config.ps.servers << " servers)");
    if (!schedule_note.empty()) std::cerr << schedule_note << std::endl;
    use_threads(config.run.threads, 1, &std::cerr);
    return train_and_report(config, nullptr, out);
  }
  // Under mpirun/srun: one rank per process, the cores of a machine shared by its ranks.
  comm::MpiSession session;
  if (session.rank() == 0 && !schedule_note.empty()) std::cerr << schedule_note << std::endl;
  use_threads(config.run.threads, comm::local_ranks(), session.rank() == 0 ? &std::cerr : nullptr);
  if (config.ps.enabled) {
    std::unique_ptr<comm::ParameterServerJob> job;
    std::string role = "rank " + std::to_string(session.rank());
    try {
      job = std::make_unique<comm::ParameterServerJob>(session, config.ps, config.run.stall_timeout_s);
      role = (job->role() == comm::PsRole::server ? "server " : "worker ") + std::to_string(job->index()) + " (" +
             role + ")";
      if (job->role() == comm::PsRole::server) {
        std::optional<train::ShardOptimizer> optimizer;
        if (config.ps.update_on_servers) optimizer.emplace(config.optimizer);
        job->serve(optimizer ? &*optimizer : nullptr);
        return 0;
      }
      return train_and_report(config, &job->workers_comm(), out, job.get());
    } catch (const std::exception& e) {
      std::cerr << "bigbatch: error: [" << role << "] " << e.what() << std::endl;
      session.abort(1);
    }
  }
  std::unique_ptr<comm::Communicator> communicator = session.make_communicator(config.run.stall_timeout_s);
  try {
    return train_and_report(config, communicator.get(), out);
  } catch (const std::exception& e) {
    // One line naming this rank, then the whole job goes down: no peer waits forever.
    std::cerr << "bigbatch: error: [rank " << session.rank() << "] " << e.what() << std::endl;
    session.abort(1);
  }
}

CLI::App* add_eval_command(CLI::App& app, EvalOptions& o) {
  CLI::App* command = app.add_subcommand("eval", "Evaluate a checkpoint on a test split; prints one JSON line");
  command->add_option("--checkpoint", o.checkpoint, "safetensors file (a bigbatch checkpoint or PyTorch weights)")
      ->required();
  command->add_option("--model", o.model, "network (default: the one the checkpoint records)");
  command
      ->add_option("--dataset", o.dataset,
                   "fashion-mnist | mnist | cifar10 | cifar100 | synthetic | imagefolder | imageshards")
      ->capture_default_str();
  command->add_option("--data-dir", o.data_dir, "dataset directory");
  command->add_option("--batch", o.batch, "examples per pass")->capture_default_str();
  command->add_option("--threads", o.threads, "compute threads (0 = the cores this process may use)");
  command->add_option("--precision", o.precision, "f32 | bf16 (cuda: also f16)")->capture_default_str();
  command->add_option("--device", o.device, "cpu | cuda")->capture_default_str();
  command->add_option("--image-size", o.image_size,
                      "JPEG datasets: centre crop in pixels (default: 224; 299 for inception_v3)");
  command->add_option("--decode-threads", o.decode_threads, "JPEG datasets: decoding threads (0 = half the cores)");
  return command;
}

int run_eval_command(const EvalOptions& o, std::ostream& out) {
  use_threads(o.threads, 1, &std::cerr);
  BIGBATCH_CHECK(o.device == "cpu" || o.device == "cuda",
                 "[eval] --device: expected cpu or cuda, got '" << o.device << "'");
  train::CheckpointEval job;
  job.checkpoint = o.checkpoint;
  job.model = o.model;
  job.dataset = o.dataset;
  job.data_dir = o.data_dir;
  job.batch = o.batch;
  job.precision = parse_dtype(o.precision);
  job.device = {o.device == "cuda" ? Device::cuda : Device::cpu, {.device = nn::local_cuda_device()}};
  job.image_size = o.image_size;
  job.decode_threads = o.decode_threads;
  std::string model;
  const train::EvalResult r = train::evaluate_checkpoint(job, model);
  out << nlohmann::json{{"top1_err", r.top1_err}, {"top5_err", r.top5_err}, {"loss", r.loss},
                        {"examples", r.examples}, {"model", model},         {"dataset", o.dataset}}
             .dump()
      << "\n";
  return 0;
}

CLI::App* add_plot_command(CLI::App& app, PlotOptions& o) {
  CLI::App* command = app.add_subcommand(
      "plot", "Draw training and test error against epochs for runs side by side, or the panels of a JSON spec (PNG)");
  command->add_option("runs", o.runs, "run directories (each with metrics.jsonl)");
  command->add_option("--panels", o.panels,
                      "instead of runs: a JSON spec of panels and their series (plot/panel_spec.h; the sweeps' "
                      "report scripts write them)");
  command->add_option("-o,--out", o.out, "PNG file to write")->capture_default_str();
  return command;
}

int run_plot_command(const PlotOptions& o, std::ostream& out) {
  BIGBATCH_CHECK(o.runs.empty() != o.panels.empty(), "[plot] give run directories or --panels FILE, not "
                                                         << (o.runs.empty() ? "neither" : "both"));
  if (!o.panels.empty()) {
    const plot::PanelSpec spec = plot::read_panel_spec(o.panels);
    plot::render_panels(spec.panels, spec.columns, o.out);
  } else {
    plot::plot_runs(o.runs, o.out);
  }
  out << o.out << "\n";
  return 0;
}

}  // namespace bigbatch::cli
