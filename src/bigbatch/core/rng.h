// Seeded, platform-independent random numbers (xoshiro256**, Box-Muller normals), with a
// state that can be saved and restored so that a resumed run draws the same numbers.
#pragma once

#include <array>
#include <cstdint>

namespace bigbatch {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0);

  uint64_t next_u64();
  double uniform();                    // [0, 1)
  uint64_t below(uint64_t bound);      // [0, bound), unbiased
  double normal(double mean = 0.0, double stddev = 1.0);

  using State = std::array<uint64_t, 4>;
  State state() const { return s_; }
  void set_state(const State& state) { s_ = state; }

 private:
  State s_;
};

// A seed derived from a base seed and a stream index (for per-epoch, per-example streams).
uint64_t derive_seed(uint64_t seed, uint64_t stream);

}  // namespace bigbatch
