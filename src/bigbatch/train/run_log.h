// What a run reports as it goes: the lines of metrics.jsonl ("run" once, "iter" every
// log_every steps, "epoch" after each evaluation) and the progress on stderr, with the
// throughput and input-wait figures measured between logged steps.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "bigbatch/comm/gradient_reducer.h"
#include "bigbatch/train/checkpoint.h"
#include "bigbatch/train/evaluator.h"
#include "bigbatch/train/metrics.h"
#include "bigbatch/train/train_config.h"

namespace bigbatch::train {

class RunLog {
 public:
  // metrics_path empty: no metrics file (ranks other than 0); progress: lines on stderr.
  // stop_step: the step the run ends at (the bar's 100%).
  RunLog(const TrainConfig& config, const std::string& metrics_path, bool progress, int64_t stop_step);

  // The "run" line (a new run only: a resumed one continues its record) and the banner.
  // describe_lr: LrPolicy::describe(); where: " over R ranks", or empty.
  void begin(bool new_run, const std::string& dataset_name, const std::string& describe_lr, const std::string& label,
             const std::string& where);
  // After a step: pos already counts it. input_wait_s: the time this step waited for its
  // batch; reducer: the step's allreduce figures (null on one rank).
  void step(const TrainPosition& pos, double lr, double loss, double input_wait_s, const comm::ReducerStats* reducer);
  // After an epoch's evaluation: its "epoch" line and a summary line on stderr.
  void epoch(int64_t completed_epoch, double train_loss, double train_err, const EvalResult& eval);
  void finish() { progress_.finish(); }

  double elapsed_s() const;  // since the log was opened

 private:
  using Clock = std::chrono::steady_clock;
  const TrainConfig& config_;
  MetricsLog metrics_;
  Progress progress_;
  Clock::time_point start_, interval_start_;
  int64_t interval_steps_ = 0;
  double interval_wait_s_ = 0.0;  // waiting for the loader: the steps were input-bound
};

}  // namespace bigbatch::train
