// α–β–γ allreduce costs: ring, recursive halving/doubling, hierarchical (see the header).
#include "bigbatch/sim/allreduce_cost.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "bigbatch/core/error.h"
#include "bigbatch/sim/ps_cost.h"

namespace bigbatch::sim {

const char* algorithm_name(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::ring: return "ring";
    case Algorithm::hd: return "hd";
    case Algorithm::hier_ring: return "hier-ring";
    case Algorithm::hier_hd: return "hier-hd";
    case Algorithm::ps: return "ps";
  }
  return "?";
}

Algorithm parse_algorithm(const std::string& name) {
  if (name == "ring") return Algorithm::ring;
  if (name == "hd") return Algorithm::hd;
  if (name == "hier-ring") return Algorithm::hier_ring;
  if (name == "hier-hd") return Algorithm::hier_hd;
  if (name == "ps") return Algorithm::ps;
  BIGBATCH_THROW(InvalidArgument, "[sim] expected ring, hd, hier-ring, hier-hd or ps, got '" << name << "'");
}

namespace {

void check_args(int64_t p, double n_bytes) {
  BIGBATCH_CHECK(p >= 1, "[sim] expected at least 1 GPU, got " << p);
  BIGBATCH_CHECK(std::isfinite(n_bytes) && n_bytes >= 0, "[sim] expected a size >= 0 bytes, got " << n_bytes);
}

int64_t floor_pow2(int64_t p) {
  int64_t q = 1;
  while (q * 2 <= p) q *= 2;
  return q;
}

int64_t log2_exact(int64_t q) {
  int64_t k = 0;
  while ((int64_t{1} << k) < q) ++k;
  return k;
}

// Adds one message of `bytes` to `cost`, `reduced` of which are summed on arrival.
void add_step(AllreduceCost& cost, double bytes, double reduced, double seconds_per_byte, double alpha_s,
              double gamma_s) {
  cost.steps += 1;
  cost.bytes += bytes;
  cost.seconds += alpha_s + bytes * seconds_per_byte + reduced * gamma_s;
}

// Most flows through one server's NIC when rank r sends to partner(r) for every r in senders
// (counting both directions of each NIC); 0 when no pair crosses servers.
template <class Partner>
int64_t nic_contention(int64_t first, int64_t last, int64_t g, int64_t servers, Partner partner) {
  std::vector<int64_t> out(static_cast<size_t>(servers), 0), in(static_cast<size_t>(servers), 0);
  for (int64_t r = first; r < last; ++r) {
    const int64_t q = partner(r);
    if (r / g == q / g) continue;
    ++out[static_cast<size_t>(r / g)];
    ++in[static_cast<size_t>(q / g)];
  }
  int64_t worst = 0;
  for (size_t s = 0; s < out.size(); ++s) worst = std::max({worst, out[s], in[s]});
  return worst;
}

}  // namespace

AllreduceCost ring_cost(int64_t p, double n_bytes, const Link& link, double gamma_s) {
  check_args(p, n_bytes);
  AllreduceCost cost;
  const double chunk = n_bytes / static_cast<double>(p);
  for (int64_t k = 0; k < p - 1; ++k) add_step(cost, chunk, chunk, link.beta_s, link.alpha_s, gamma_s);  // reduce-scatter
  for (int64_t k = 0; k < p - 1; ++k) add_step(cost, chunk, 0.0, link.beta_s, link.alpha_s, gamma_s);    // allgather
  return cost;
}

AllreduceCost hd_cost(int64_t p, double n_bytes, const Link& link, double gamma_s) {
  Cluster one_link;
  one_link.gpus_per_server = p;  // every rank in one "server": all steps on `link`
  one_link.intra = link;
  one_link.gamma_s = gamma_s;
  return flat_cost(Algorithm::hd, p, n_bytes, one_link);
}

AllreduceCost flat_cost(Algorithm algorithm, int64_t p, double n_bytes, const Cluster& cluster) {
  check_args(p, n_bytes);
  const int64_t g = cluster.gpus_per_server;
  BIGBATCH_CHECK(g >= 1, "[sim] expected at least 1 GPU per server, got " << g);
  switch (algorithm) {
    case Algorithm::ring:
      // The ring's hops run at once; with ranks in server order each NIC carries one flow.
      return ring_cost(p, n_bytes, p > g ? cluster.inter : cluster.intra, cluster.gamma_s);
    case Algorithm::hd: {
      AllreduceCost cost;
      if (p == 1) return cost;
      const int64_t servers = (p + g - 1) / g;
      const int64_t q = floor_pow2(p), extra = p - q;
      auto step = [&](double bytes, double reduced, int64_t contention) {
        if (contention == 0)
          add_step(cost, bytes, reduced, cluster.intra.beta_s, cluster.intra.alpha_s, cluster.gamma_s);
        else
          add_step(cost, bytes, reduced, cluster.inter.beta_s * static_cast<double>(contention), cluster.inter.alpha_s,
                   cluster.gamma_s);
      };
      // Non-power of two: extra ranks q+i hand their buffer to rank i, and get the sum back.
      const int64_t pre = extra > 0 ? nic_contention(q, p, g, servers, [q](int64_t r) { return r - q; }) : 0;
      const int64_t post = extra > 0 ? nic_contention(0, extra, g, servers, [q](int64_t r) { return r + q; }) : 0;
      if (extra > 0) step(n_bytes, n_bytes, pre);
      const int64_t levels = log2_exact(q);
      std::vector<int64_t> contention(static_cast<size_t>(levels));
      for (int64_t k = 0; k < levels; ++k) {
        const int64_t d = int64_t{1} << k;
        contention[static_cast<size_t>(k)] = nic_contention(0, q, g, servers, [d](int64_t r) { return r ^ d; });
      }
      double bytes = n_bytes;
      for (int64_t k = 0; k < levels; ++k) {  // reduce-scatter: halve the data, double the distance
        bytes /= 2;
        step(bytes, bytes, contention[static_cast<size_t>(k)]);
      }
      for (int64_t k = levels - 1; k >= 0; --k) {  // allgather: the mirror image
        step(bytes, 0.0, contention[static_cast<size_t>(k)]);
        bytes *= 2;
      }
      if (extra > 0) step(n_bytes, 0.0, post);
      return cost;
    }
    case Algorithm::hier_ring:
    case Algorithm::hier_hd:
    case Algorithm::ps:
      break;
  }
  BIGBATCH_THROW(InvalidArgument, "[sim] " << algorithm_name(algorithm) << " is not a flat algorithm");
}

HierarchicalCost hierarchical_cost(Algorithm inter_algorithm, int64_t p, double n_bytes, const Cluster& cluster) {
  check_args(p, n_bytes);
  BIGBATCH_CHECK(cluster.gpus_per_server >= 1,
                 "[sim] expected at least 1 GPU per server, got " << cluster.gpus_per_server);
  const int64_t g = std::min(p, cluster.gpus_per_server);
  BIGBATCH_CHECK(p % g == 0, "[sim] " << p << " GPUs are not whole servers of " << cluster.gpus_per_server
                                      << " (the hierarchical allreduce needs every server full)");
  const int64_t servers = p / g;
  HierarchicalCost h;
  if (g > 1) {
    // Pipelined chains: the fill costs g−1 latencies, then every link carries N once.
    h.reduce = {g - 1, n_bytes,
                static_cast<double>(g - 1) * cluster.intra.alpha_s + n_bytes * (cluster.intra.beta_s + cluster.gamma_s)};
    h.broadcast = {g - 1, n_bytes, static_cast<double>(g - 1) * cluster.intra.alpha_s + n_bytes * cluster.intra.beta_s};
  }
  switch (inter_algorithm) {
    case Algorithm::ring:
    case Algorithm::hier_ring:
      h.inter = ring_cost(servers, n_bytes, cluster.inter, cluster.gamma_s);
      break;
    case Algorithm::hd:
    case Algorithm::hier_hd:
      h.inter = hd_cost(servers, n_bytes, cluster.inter, cluster.gamma_s);
      break;
    case Algorithm::ps:
      BIGBATCH_THROW(InvalidArgument, "[sim] the parameter server's exchange is ps_cost, not an allreduce");
  }
  for (const AllreduceCost* part : {&h.reduce, &h.inter, &h.broadcast}) {
    h.total.steps += part->steps;
    h.total.bytes += part->bytes;
    h.total.seconds += part->seconds;
  }
  return h;
}

AllreduceCost allreduce_cost(Algorithm algorithm, int64_t p, double n_bytes, const Cluster& cluster) {
  switch (algorithm) {
    case Algorithm::ring:
    case Algorithm::hd:
      return flat_cost(algorithm, p, n_bytes, cluster);
    case Algorithm::hier_ring:
    case Algorithm::hier_hd:
      return hierarchical_cost(algorithm, p, n_bytes, cluster).total;
    case Algorithm::ps:
      return ps_cost(p, n_bytes, cluster.ps, cluster).total;
  }
  return {};
}

double beta_from_ring_time(double seconds, double n_bytes, int64_t p, double alpha_s) {
  BIGBATCH_CHECK(p >= 2, "[sim] calibrating a link needs at least 2 ranks, got " << p);
  BIGBATCH_CHECK(std::isfinite(n_bytes) && n_bytes > 0, "[sim] calibrating a link needs a size > 0 bytes");
  const double latency = 2.0 * static_cast<double>(p - 1) * alpha_s;
  BIGBATCH_CHECK(std::isfinite(seconds) && seconds > latency,
                 "[sim] a measured allreduce of " << seconds * 1e3 << " ms does not exceed its latency part of "
                                                  << latency * 1e3 << " ms");
  return (seconds - latency) / (2.0 * static_cast<double>(p - 1) / static_cast<double>(p) * n_bytes);
}

}  // namespace bigbatch::sim
