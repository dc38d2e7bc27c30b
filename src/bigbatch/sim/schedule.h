// One training iteration's timeline on every GPU of a synchronous data-parallel job: gradients
// become final layer by layer during backward, are grouped into buckets by
// comm::GradientReducer's rule, and each bucket's allreduce runs on one channel, one at a
// time, in bucket order, starting when its last gradient is ready (or after backward without
// overlap).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bigbatch::sim {

// One layer's parameter gradients (a graph node: conv, BN or fc), listed in backward order.
struct LayerGrad {
  std::string name;
  int64_t bytes = 0;     // gradient bytes, as the reducer moves them (alignment padding included)
  double ready_s = 0.0;  // seconds after backward began at which they are final
};

struct Bucket {
  int64_t bytes = 0;
  double ready_s = 0.0;     // the latest ready_s of its layers
  std::vector<int> layers;  // indices into the layer list, in backward order
};

// The reducer's buckets (comm::group_into_buckets, the one rule) of a list in backward order:
// whole layers up to cap_bytes, a layer larger than the cap alone; cap_bytes = 0: one bucket per
// layer (the paper's per-layer allreduce). Throws InvalidArgument for cap_bytes < 0 or a layer
// of negative size or non-finite ready time.
std::vector<Bucket> plan_buckets(const std::vector<LayerGrad>& layers, int64_t cap_bytes);

struct StepInputs {
  double forward_s = 0.0;
  double backward_s = 0.0;   // backward ends here (>= every ready_s)
  double optimizer_s = 0.0;  // the update after the last allreduce
  bool overlap = true;
  // Relative spread (std / mean) of one GPU's forward + backward time from step to step; the
  // synchronous step waits for the slowest GPU (sim/straggler.h). 0: every GPU alike.
  double straggler_spread = 0.0;
};

struct StepTime {
  double comm_s = 0.0;       // sum of the buckets' allreduce times
  double exposed_s = 0.0;    // communication after backward: last allreduce end − backward end
  double iteration_s = 0.0;  // forward + max(backward, last allreduce end) + optimizer
  std::vector<double> start_s, end_s;  // per bucket, from the start of backward
};

// bucket_seconds[i]: the allreduce time of buckets[i]. With overlap, bucket i starts at
// max(its ready time, bucket i−1's end); without, the first starts when backward ends and the
// rest follow back to back (iteration = forward + backward + Σ allreduces + optimizer).
// Throws InvalidArgument when the sizes disagree or a bucket is ready after backward ends.
StepTime simulate_step(const std::vector<Bucket>& buckets, const std::vector<double>& bucket_seconds,
                       const StepInputs& inputs);

}  // namespace bigbatch::sim
