// The parameter server's exchange in the α–β–γ model (see the header).
#include "bigbatch/sim/ps_cost.h"

#include <algorithm>
#include <cmath>

#include "bigbatch/core/error.h"

namespace bigbatch::sim {

AllreduceCost ps_network_cost(int64_t workers, double n_bytes, const ParameterServers& ps, const Link& link,
                              double gamma_s) {
  BIGBATCH_CHECK(workers >= 1, "[sim] expected at least 1 worker machine, got " << workers);
  BIGBATCH_CHECK(ps.servers >= 1, "[sim] expected at least 1 parameter server, got " << ps.servers);
  BIGBATCH_CHECK(!ps.colocated || ps.servers <= workers, "[sim] " << ps.servers << " co-located servers on " << workers
                                                                  << " worker machines: at most one each");
  BIGBATCH_CHECK(std::isfinite(ps.imbalance) && ps.imbalance >= 1.0,
                 "[sim] expected a server imbalance >= 1, got " << ps.imbalance);
  BIGBATCH_CHECK(std::isfinite(n_bytes) && n_bytes >= 0, "[sim] expected a size >= 0 bytes, got " << n_bytes);
  const auto w = static_cast<double>(workers), s = static_cast<double>(ps.servers);
  const double share = n_bytes * ps.imbalance / s;  // the busiest server's part of one worker's N
  double busiest = 0.0;
  if (ps.colocated) {
    if (workers == 1) return {};
    busiest = n_bytes * (s - 1) / s + (w - 1) * share;               // a machine that serves
    if (ps.servers < workers) busiest = std::max(busiest, n_bytes);  // one that only works
  } else {
    busiest = std::max(n_bytes, w * share);
  }
  AllreduceCost cost;
  cost.steps = 2;
  cost.bytes = busiest;
  cost.seconds = 2 * link.alpha_s + busiest * link.beta_s + (w - 1) * share * gamma_s;
  return cost;
}

HierarchicalCost ps_cost(int64_t p, double n_bytes, const ParameterServers& ps, const Cluster& cluster) {
  // The machine-local reduce and broadcast are the hierarchical scheme's; only the part between
  // machines differs.
  HierarchicalCost h = hierarchical_cost(Algorithm::hier_ring, p, n_bytes, cluster);
  const int64_t workers = p / std::min(p, cluster.gpus_per_server);
  ParameterServers resolved = ps;
  if (resolved.servers == 0) resolved.servers = workers;
  h.inter = ps_network_cost(workers, n_bytes, resolved, cluster.inter, cluster.gamma_s);
  h.total = {};
  for (const AllreduceCost* part : {&h.reduce, &h.inter, &h.broadcast}) {
    h.total.steps += part->steps;
    h.total.bytes += part->bytes;
    h.total.seconds += part->seconds;
  }
  return h;
}

}  // namespace bigbatch::sim
