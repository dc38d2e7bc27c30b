// The α–β–γ cost of one allreduce of N bytes over p ranks (Thakur, Rabenseifner & Gropp 2005):
// α seconds per message, β seconds per byte on a link, γ seconds per byte reduced. Ring,
// recursive halving/doubling, and the paper's hierarchical scheme (reduce in a server,
// allreduce between servers, broadcast in the server), on a cluster of servers of g GPUs.
#pragma once

#include <cstdint>
#include <string>

namespace bigbatch::sim {

// One kind of link: alpha_s per message (latency and software overhead), beta_s per byte
// (1 / bandwidth, one direction; links are full duplex).
struct Link {
  double alpha_s = 0.0;
  double beta_s = 0.0;
};

// The parameter servers of Algorithm::ps (sim/ps_cost.h).
struct ParameterServers {
  int64_t servers = 0;  // S; 0: one per worker machine (S = W, MXNet's usual launch)
  // Co-located: server s runs on worker machine s and shares its NIC (MXNet's usual launch,
  // S <= W); dedicated: S machines of their own, each with a NIC like the workers'.
  bool colocated = false;
  // The busiest server's share of the bytes over the mean share (>= 1): key sharding is never
  // perfectly even (comm's ps sharding plan measures it for a model).
  double imbalance = 1.0;
};

// Servers of gpus_per_server GPUs; rank r lives on server r / gpus_per_server. Inside a server
// GPUs talk over `intra` (NVLink); between servers over `inter` (one NIC per server, shared by
// every flow leaving it). gamma_s: reduction arithmetic, seconds per byte summed.
struct Cluster {
  int64_t gpus_per_server = 8;
  Link intra, inter;
  double gamma_s = 0.0;
  ParameterServers ps;  // Algorithm::ps only
};

// How the gradients are summed: ring, hd (recursive halving/doubling), hier_ring and hier_hd
// (hierarchical, with that algorithm between servers), or ps (parameter servers, ps_cost.h).
enum class Algorithm { ring, hd, hier_ring, hier_hd, ps };
const char* algorithm_name(Algorithm algorithm);  // "ring", "hd", "hier-ring", "hier-hd", "ps"
// Throws InvalidArgument "[sim] expected ring, hd, hier-ring, hier-hd or ps, got 'x'".
Algorithm parse_algorithm(const std::string& name);

// One allreduce. steps: messages on the critical path (each costs α); bytes: the sum of their
// sizes (what a rank sends, in order, on the critical path); seconds: the modelled time.
struct AllreduceCost {
  int64_t steps = 0;
  double bytes = 0.0;
  double seconds = 0.0;
};

// Ring over p ranks on one kind of link: a reduce-scatter then an allgather, each p−1 steps of
// N/p bytes: 2(p−1) steps, 2(p−1)/p·N bytes, (p−1)/p·N reduced. p = 1 costs nothing.
AllreduceCost ring_cost(int64_t p, double n_bytes, const Link& link, double gamma_s);

// Recursive halving (reduce-scatter) then doubling (allgather), Rabenseifner's algorithm, on
// one kind of link. p a power of two: 2·log2 p steps, 2(p−1)/p·N bytes. Otherwise (the usual
// fold, as in MPICH's implementation), with p' the largest power of two below p, each extra rank
// p'+i first sends its whole buffer to rank i (1 step of N, N reduced), the p' ranks run the
// power-of-two algorithm, and rank i sends the result back (1 step of N):
// 2·log2 p' + 2 steps, 2(p'−1)/p'·N + 2N bytes.
AllreduceCost hd_cost(int64_t p, double n_bytes, const Link& link, double gamma_s);

// Flat ring or hd over p GPUs of the cluster (ranks ordered by server). Ring: when it spans
// servers every step waits for an inter-server hop (one flow per NIC), else intra. hd: step k of
// the reduce-scatter pairs ranks 2^k apart with N/2^(k+1) bytes (the biggest messages between
// the nearest ranks), the allgather mirrors it; a step whose pairs cross servers costs
// α_inter + bytes·β_inter·c, c being the most flows that share one NIC in that step, else it is
// an intra step. Throws InvalidArgument for a hierarchical algorithm.
AllreduceCost flat_cost(Algorithm algorithm, int64_t p, double n_bytes, const Cluster& cluster);

// The paper's three phases over p = s·g GPUs (g = min(p, gpus_per_server)): a reduce inside each
// server to one GPU, an allreduce of that buffer among the s servers (ring or hd on the inter
// link, one flow per NIC), a broadcast inside each server. Reduce and broadcast are pipelined
// chains, as NCCL's: g−1 steps of latency, each link carries the N bytes once (N reduced).
struct HierarchicalCost {
  AllreduceCost reduce, inter, broadcast;
  AllreduceCost total;  // the three in sequence
};
// Throws InvalidArgument when p > gpus_per_server is not whole servers.
HierarchicalCost hierarchical_cost(Algorithm inter_algorithm, int64_t p, double n_bytes, const Cluster& cluster);

// Any algorithm over p GPUs of the cluster (ps: ps_cost with cluster.ps).
AllreduceCost allreduce_cost(Algorithm algorithm, int64_t p, double n_bytes, const Cluster& cluster);

// β of a link such that one ring allreduce of n_bytes over p ranks on it, with latency alpha_s,
// takes `seconds` (to calibrate from a measured allreduce). Throws InvalidArgument when
// seconds does not exceed the latency part.
double beta_from_ring_time(double seconds, double n_bytes, int64_t p, double alpha_s);

}  // namespace bigbatch::sim
