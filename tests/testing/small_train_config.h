// The small, fast training job of the trainer tests: resnet8 on 256 synthetic 1x28x28
// examples, kn 64 = 4 workers of 16, 3 epochs with 1 of warmup, seed 7, 2 threads, quiet.
// Each test sets the schedule and optimizer it is about.
#pragma once

#include <string>

#include "bigbatch/train/train_config.h"

namespace bigbatch::testing {

inline train::TrainConfig small_train_config(const std::string& out) {
  train::TrainConfig c;
  c.model.name = "resnet8";
  c.input.data.name = "synthetic";
  c.input.data.synthetic_size = 256;
  c.batch.global = 64;
  c.batch.per_worker = 16;
  c.lr.epochs = 3;
  c.lr.warmup_epochs = 1;
  c.run.seed = 7;
  c.run.threads = 2;
  c.run.eval_batch = 64;
  c.run.progress = false;
  c.run.out = out;
  return c;
}

}  // namespace bigbatch::testing
