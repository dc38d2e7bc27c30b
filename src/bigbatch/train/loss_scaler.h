// Dynamic loss scaling for fp16 training (as torch.cuda.amp.GradScaler): the diff of the loss
// is multiplied by S before backward, so that small gradients do not flush to zero in fp16;
// after the gradients are summed over ranks they are checked and divided by S. An overflow
// (an Inf or NaN anywhere) skips the update and halves S; a run of clean steps doubles it.
// Disabled (S = 1, no checks, no passes over the arena) for f32 and bf16.
#pragma once

#include <cstdint>

#include "bigbatch/core/arena.h"

namespace bigbatch::train {

class LossScaler {
 public:
  static constexpr float kInitialScale = 65536.0f;  // 2^16, GradScaler's default
  static constexpr float kMaxScale = 16777216.0f;   // 2^24
  static constexpr int kGrowthInterval = 1000;      // clean steps before S doubles

  explicit LossScaler(bool enabled);

  bool enabled() const { return enabled_; }
  float scale() const { return scale_; }
  int64_t skipped_steps() const { return skipped_; }

  // After the reduction: divides grads by S and returns true, or returns false (skip this
  // update) when a gradient is not finite, halving S. Gradients that overflow even at S = 1
  // throw Error: fp16 cannot represent this model's gradients.
  bool unscale(const Arena& grads);

 private:
  bool enabled_;
  float scale_;
  int clean_ = 0;
  int64_t skipped_ = 0;
};

}  // namespace bigbatch::train
