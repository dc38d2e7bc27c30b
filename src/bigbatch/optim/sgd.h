// SGD with momentum over flat arenas (RECIPE §3, u-form): one fused, OpenMP-parallel pass
// over params, grads and the momentum buffer, with weight decay chosen per tensor role.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "bigbatch/core/arena.h"

namespace bigbatch::optim {

struct SgdOptions {
  double momentum = 0.9;       // m, in [0, 1)
  double weight_decay = 1e-4;  // λ >= 0: the gradient of (λ/2)‖w‖², added outside backprop
  // The paper decays only conv and fc weights; true also decays BN γ, β and biases.
  bool decay_bn_and_bias = false;
  bool nesterov = false;  // look-ahead momentum (the paper's choice; plain is as good)
  // The v-form (RECIPE §3): v ← m·c·v + η·(g + λ·w); w ← w − v, where c = η/η_prev is the
  // momentum correction (Remark 2). momentum_correction=false sets c = 1, which is wrong
  // whenever η changes; it exists to reproduce the paper's point.
  bool v_form = false;
  bool momentum_correction = true;
};

// Whether a parameter of this role receives weight decay. Throws InvalidArgument for
// roles that are buffers (BN running statistics), which never belong to a parameter arena.
bool applies_weight_decay(TensorRole role, const SgdOptions& options);

// Owns the momentum buffer u (an arena of the parameters' layout, zero at the start).
// step() runs, element-wise over the whole arena (RECIPE §3, u-form):
//   u ← m·u + g + λ·w ;  w ← w − lr·u
// where λ is options.weight_decay or 0 by the tensor's role. With options.v_form the buffer
// holds v instead (see SgdOptions); with the correction both forms give the same weights.
// Nesterov: w ← w − lr·(d + m·u) with d = g + λ·w (u-form), w ← w − (m·v + lr·d) (v-form). Alignment padding between
// tensors is zero in all three arenas and stays zero.
class Sgd {
 public:
  Sgd(std::shared_ptr<const ArenaLayout> layout, const SgdOptions& options);

  // params and grads must have the layout given at construction; lr >= 0 and finite.
  void step(const Arena& params, const Arena& grads, double lr);

  const SgdOptions& options() const { return options_; }
  // The momentum buffer, for checkpoints (same layout as the parameters).
  const Arena& momentum_buffer() const { return momentum_; }
  int64_t steps() const { return steps_; }
  // η of the last step (0 before the first); the v-form's correction divides by it. A
  // resumed run restores it from the checkpoint.
  double prev_lr() const { return prev_lr_; }
  void set_prev_lr(double lr) { prev_lr_ = lr; }

 private:
  // A run of consecutive tensors (with their padding) that share one weight decay.
  struct Segment {
    int64_t begin = 0, end = 0;  // elements of the arena
    float weight_decay = 0.0f;
  };

  std::shared_ptr<const ArenaLayout> layout_;
  SgdOptions options_;
  Arena momentum_;
  std::vector<Segment> segments_;  // cover [0, total_elems) in order
  int64_t steps_ = 0;
  double prev_lr_ = 0.0;
};

}  // namespace bigbatch::optim
