// Weak scaling (fixed per-GPU batch): the iteration time of one model on p GPUs for several
// allreduce algorithms, and the scaling efficiency t(1 GPU) / t(p GPUs).
#pragma once

#include <cstdint>
#include <vector>

#include "bigbatch/sim/allreduce_cost.h"
#include "bigbatch/sim/schedule.h"

namespace bigbatch::sim {

struct ScalingRow {
  int64_t gpus = 0;
  int64_t servers = 0;
  Algorithm algorithm = Algorithm::ring;
  StepTime step;
  double efficiency = 0.0;           // t(1) / t(p): t(1) has no communication at all
  double efficiency_vs_first = 0.0;  // t(p0) / t(p), p0 the first GPU count, same algorithm
  double straggler_factor = 1.0;     // the slowest GPU's expected compute over the mean GPU's
};

// One row per (gpus, algorithm), GPU counts outer, in the order given. Each bucket's allreduce
// costs allreduce_cost(algorithm, p, its bytes). With a straggler spread, forward, backward and
// the buckets' ready times on p GPUs are those of the slowest (× straggler_factor(p, spread)). Throws InvalidArgument on an empty list, a GPU
// count < 1, or what the cost model rejects (e.g. partial servers for a hierarchical algorithm).
std::vector<ScalingRow> simulate_scaling(const std::vector<Bucket>& buckets, const StepInputs& inputs,
                                         const Cluster& cluster, const std::vector<int64_t>& gpus,
                                         const std::vector<Algorithm>& algorithms);

}  // namespace bigbatch::sim
