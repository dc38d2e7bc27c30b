#include "bigbatch/train/run_log.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "bigbatch/optim/sgd.h"

namespace bigbatch::train {

RunLog::RunLog(const TrainConfig& config, const std::string& metrics_path, bool progress, int64_t stop_step)
    : config_(config),
      metrics_(metrics_path),
      progress_(progress, stop_step),
      start_(Clock::now()),
      interval_start_(start_) {}

double RunLog::elapsed_s() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

void RunLog::begin(bool new_run, const std::string& dataset_name, const std::string& describe_lr,
                   const std::string& label, const std::string& where) {
  const TrainConfig& c = config_;
  if (new_run) {
    nlohmann::json run = {{"kind", "run"},
                          {"model", c.model.name},
                          {"dataset", c.input.data.name},
                          {"global_batch", c.batch.global},
                          {"per_worker_batch", c.batch.per_worker},
                          {"workers", c.batch.workers()},
                          {"lr_policy", describe_lr},
                          {"label", label}};
    run["optimizer"] = optim::optimizer_kind_name(c.optimizer.kind);
    if (c.optimizer.kind == optim::OptimizerKind::lars) run["lars_eta"] = c.optimizer.lars_eta;
    metrics_.write(run.dump());
  }
  progress_.message("bigbatch: " + c.model.name + " on " + dataset_name + ", " + std::to_string(c.batch.workers()) +
                    " workers x " + std::to_string(c.batch.per_worker) + " = " + std::to_string(c.batch.global) +
                    where + "; " + describe_lr);
}

void RunLog::step(const TrainPosition& pos, double lr, double loss, double input_wait_s,
                  const comm::ReducerStats* reducer) {
  const int64_t every = config_.run.log_every;
  ++interval_steps_;
  interval_wait_s_ += input_wait_s;
  const double since = std::chrono::duration<double>(Clock::now() - interval_start_).count();
  const double img_per_s = since > 0 ? static_cast<double>(interval_steps_ * config_.batch.global) / since : 0.0;
  const double wait_per_step = interval_wait_s_ / static_cast<double>(interval_steps_);
  if (pos.step % every == 0) {
    nlohmann::json line{{"kind", "iter"}, {"iter", pos.step},       {"epoch", pos.epoch},           {"lr", lr},
                        {"loss", loss},   {"img_per_s", img_per_s}, {"input_wait_s", wait_per_step}};
    if (reducer != nullptr) {
      line["backward_s"] = reducer->backward_s;
      line["allreduce_s"] = reducer->allreduce_busy_s;
      line["exposed_comm_s"] = reducer->exposed_s;
    }
    metrics_.write(line.dump());
    interval_start_ = Clock::now();
    interval_steps_ = 0;
    interval_wait_s_ = 0.0;
  }
  progress_.update(pos.step, pos.epoch, loss, lr, img_per_s, wait_per_step, every);
}

void RunLog::epoch(int64_t completed_epoch, double train_loss, double train_err, const EvalResult& eval) {
  const double wall = elapsed_s();
  metrics_.write(nlohmann::json{
      {"kind", "epoch"},
      {"epoch", completed_epoch},
      {"train_loss", train_loss},
      {"train_top1_err", train_err},
      {"test_loss", eval.loss},
      {"test_top1_err", eval.top1_err},
      {"test_top5_err", eval.top5_err},
      {"wall_s",
       wall}}.dump());
  char line[200];
  std::snprintf(line, sizeof line, "epoch %lld/%lld: train loss %.4f err %.2f%%, test loss %.4f err %.2f%% (%.0f s)",
                static_cast<long long>(completed_epoch), static_cast<long long>(config_.lr.epochs), train_loss,
                100.0 * train_err, eval.loss, 100.0 * eval.top1_err, wall);
  progress_.message(line);
}

}  // namespace bigbatch::train
