// SGD with momentum over flat arenas (RECIPE §3, u-form): one fused pass over params, grads
// and the momentum buffer (OpenMP on the CPU, a kernel on the GPU), with weight decay chosen
// per tensor role, and optionally LARS's per-tensor trust ratio (RECIPE §9).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bigbatch/core/arena.h"
#include "bigbatch/optim/lars.h"

namespace bigbatch::optim {

// sgd: momentum SGD (RECIPE §3); lars: the same with a per-tensor trust ratio (RECIPE §9).
enum class OptimizerKind { sgd, lars };
const char* optimizer_kind_name(OptimizerKind kind);  // "sgd", "lars"
// Throws InvalidArgument "[optim] expected sgd or lars, got 'x'".
OptimizerKind parse_optimizer_kind(const std::string& name);

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
  // LARS (RECIPE §9, You et al. 2017), see Sgd below. lars_eta is the trust coefficient η_lars.
  OptimizerKind kind = OptimizerKind::sgd;
  double lars_eta = 0.001;
  bool lars_on_bn_and_bias = false;  // also scale BN γ/β and biases (default: local = 1 for them)
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
//
// LARS (kind = lars): before the update pass, one reduction pass computes ‖w‖ and ‖g‖ of every
// tensor LARS applies to, and its local rate ℓ = η_lars·‖w‖/(‖g‖ + λ‖w‖) (lars_local_lr; ℓ = 1
// for excluded roles and zero norms). ℓ scales the whole update d = g + λ·w before momentum:
//   u-form (default):  u ← m·u + ℓ·d ;  w ← w − lr·u
//   v-form:            v ← m·c·v + lr·ℓ·d ;  w ← w − v      (c = lr/lr_prev, as above)
// so lr (from LrPolicy: warmup, then e.g. poly decay) is the global rate γ_t of You et al. and ℓ
// a per-tensor factor recomputed every step from the current w and g. The momentum correction
// c rescales v for changes of the global lr only: ℓ belongs to the step's direction, like g, and
// is never corrected, so the u-form and the corrected v-form still give the same weights. The
// v-form without correction is You et al.'s Algorithm 1 as written. The optimizer state is
// still just the momentum buffer (ℓ has no memory), so checkpoints are unchanged.
//
// The update runs where the arenas live: OpenMP loops on the CPU, one fused kernel on the GPU
// (backend/cuda/sgd.h; LARS's chunk sums there too), the momentum buffer on the same device.
class Sgd {
 public:
  Sgd(std::shared_ptr<const ArenaLayout> layout, const SgdOptions& options, Device device = Device::cpu);

  // params and grads must have the layout given at construction and live on the optimizer's
  // device; lr >= 0 and finite.
  void step(const Arena& params, const Arena& grads, double lr);

  const SgdOptions& options() const { return options_; }
  // The momentum buffer, for checkpoints (same layout as the parameters).
  const Arena& momentum_buffer() const { return momentum_; }
  int64_t steps() const { return steps_; }
  // The LARS local rate ℓ of tensor i at the last step (1 before the first, and always 1 for
  // tensors LARS does not apply to, or with kind = sgd).
  double lars_local(int tensor) const { return local_[static_cast<size_t>(tensor)]; }
  // η of the last step (0 before the first); the v-form's correction divides by it. A
  // resumed run restores it from the checkpoint.
  double prev_lr() const { return prev_lr_; }
  void set_prev_lr(double lr) { prev_lr_ = lr; }

 private:
  // A run of consecutive tensors (with their padding) that share one weight decay. Under LARS
  // a tensor it applies to is a segment of its own, `tensor` being its index (else -1).
  struct Segment {
    int64_t begin = 0, end = 0;  // elements of the arena
    float weight_decay = 0.0f;
    int tensor = -1;
  };

  void step_on_device(const Arena& params, const Arena& grads, double lr, double correction);
  void update_lars_local();  // ℓ per LARS tensor from norms_

  std::shared_ptr<const ArenaLayout> layout_;
  SgdOptions options_;
  Arena momentum_;
  std::vector<Segment> segments_;     // cover [0, total_elems) in order
  std::optional<TensorNorms> norms_;  // LARS only
  std::vector<double> local_;         // per tensor: ℓ of the last step
  int64_t steps_ = 0;
  double prev_lr_ = 0.0;
};

}  // namespace bigbatch::optim
