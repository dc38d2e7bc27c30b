// A sweep of the iteration model over GPU counts and allreduce algorithms.
#include "bigbatch/sim/scaling.h"

#include "bigbatch/core/error.h"
#include "bigbatch/sim/straggler.h"

namespace bigbatch::sim {

std::vector<ScalingRow> simulate_scaling(const std::vector<Bucket>& buckets, const StepInputs& inputs,
                                         const Cluster& cluster, const std::vector<int64_t>& gpus,
                                         const std::vector<Algorithm>& algorithms) {
  BIGBATCH_CHECK(!gpus.empty() && !algorithms.empty(), "[sim] expected at least one GPU count and one algorithm");
  const double t1 = inputs.forward_s + inputs.backward_s + inputs.optimizer_s;
  BIGBATCH_CHECK(t1 > 0, "[sim] expected forward + backward + optimizer > 0");
  std::vector<ScalingRow> rows;
  std::vector<double> first(algorithms.size(), 0.0);
  for (int64_t p : gpus) {
    BIGBATCH_CHECK(p >= 1, "[sim] expected GPU counts >= 1, got " << p);
    const double slowest = straggler_factor(p, inputs.straggler_spread);
    StepInputs on_p = inputs;
    on_p.forward_s *= slowest;
    on_p.backward_s *= slowest;
    std::vector<Bucket> ready = buckets;
    for (Bucket& b : ready) b.ready_s *= slowest;
    for (size_t a = 0; a < algorithms.size(); ++a) {
      ScalingRow row;
      row.straggler_factor = slowest;
      row.gpus = p;
      row.servers = (p + cluster.gpus_per_server - 1) / cluster.gpus_per_server;
      row.algorithm = algorithms[a];
      std::vector<double> seconds;
      for (const Bucket& b : buckets)
        seconds.push_back(allreduce_cost(algorithms[a], p, static_cast<double>(b.bytes), cluster).seconds);
      row.step = simulate_step(ready, seconds, on_p);
      if (first[a] == 0.0) first[a] = row.step.iteration_s;
      row.efficiency = t1 / row.step.iteration_s;
      row.efficiency_vs_first = first[a] / row.step.iteration_s;
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

}  // namespace bigbatch::sim
