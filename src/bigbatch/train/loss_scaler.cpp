// The fp16 loss scale: check, unscale, adjust.
#include "bigbatch/train/loss_scaler.h"

#include <algorithm>

#include "bigbatch/core/error.h"
#include "bigbatch/nn/device_arena.h"

namespace bigbatch::train {

LossScaler::LossScaler(bool enabled) : enabled_(enabled), scale_(enabled ? kInitialScale : 1.0f) {}

bool LossScaler::unscale(const Arena& grads) {
  if (!enabled_) return true;
  // After the allreduce an overflow on any rank is Inf/NaN on every rank: all skip alike.
  if (!nn::arena_is_finite(grads)) {
    BIGBATCH_CHECK(scale_ > 1.0f,
                   "[train] fp16 gradients overflow even with loss scale 1: use --precision bf16 or f32");
    scale_ = std::max(1.0f, scale_ / 2.0f);
    clean_ = 0;
    ++skipped_;
    return false;
  }
  nn::scale_arena(grads, 1.0f / scale_);
  if (++clean_ >= kGrowthInterval) {
    scale_ = std::min(scale_ * 2.0f, kMaxScale);
    clean_ = 0;
  }
  return true;
}

}  // namespace bigbatch::train
