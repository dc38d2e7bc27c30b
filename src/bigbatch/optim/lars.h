// LARS (RECIPE §9, You et al. 2017): the per-tensor trust ratio that scales each layer's
// update, and the per-tensor L2 norms it needs, reduced deterministically over the flat arenas.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "bigbatch/core/arena.h"

namespace bigbatch::optim {

// Whether LARS scales a parameter of this role. Conv and fc weights always; BN γ/β and biases
// only with on_bn_and_bias (as weight decay, they are excluded by default: their norms say
// little about a step size). Throws InvalidArgument for buffer roles.
bool applies_lars(TensorRole role, bool on_bn_and_bias);

// local = eta · ‖w‖ / (‖g‖ + λ·‖w‖), or 1 when ‖w‖ or ‖g‖ is 0 (a fresh zero tensor, or one
// that got no gradient: there is no ratio to trust). λ is the tensor's weight decay.
double lars_local_lr(double eta, double w_norm, double g_norm, double weight_decay);

// ‖w‖ and ‖g‖ of chosen tensors of an arena layout. Work is cut into fixed chunks of
// kChunkElems (whatever the thread count), each chunk summed in double, and the chunks of a
// tensor added in order: the norms are the same bits for any number of threads, which
// bitwise resume and thread-count independence of the optimizer need. Planned once; compute()
// allocates nothing.
class TensorNorms {
 public:
  static constexpr int64_t kChunkElems = int64_t{1} << 14;

  // tensors: indices into layout of the tensors to measure (the others stay 0).
  TensorNorms(std::shared_ptr<const ArenaLayout> layout, const std::vector<int>& tensors);

  // w and g: arenas of the layout's total_elems() floats.
  void compute(const float* w, const float* g);
  // The same for arenas on the GPU: the chunk sums there (one block per chunk, in double),
  // added here per tensor in the same order.
  void compute_on_device(const float* w, const float* g);
  double w_norm(int tensor) const { return w_norm_[static_cast<size_t>(tensor)]; }
  double g_norm(int tensor) const { return g_norm_[static_cast<size_t>(tensor)]; }

 private:
  struct Chunk {
    int tensor = 0;
    int64_t begin = 0, end = 0;  // elements of the arena
  };
  std::shared_ptr<const ArenaLayout> layout_;
  void add_chunks();                     // w_sq_, g_sq_ -> the norms
  std::vector<Chunk> chunks_;            // by tensor, then by position
  std::vector<int64_t> bounds_;          // begin, end of each chunk (for the device)
  std::vector<double> w_sq_, g_sq_;      // per chunk: Σw², Σg²
  std::vector<double> w_norm_, g_norm_;  // per tensor of the layout
};

}  // namespace bigbatch::optim
