// The parameter server's cost in closed form: the bytes on the busiest link (a dedicated
// worker's N, a server's W·N/S, a co-located machine's 2(W−1)/W·N, the ring's), the imbalance
// of key sharding, the machine-local chains it shares with the hierarchical scheme, and bad
// configurations named.
#include "bigbatch/sim/ps_cost.h"

#include <gtest/gtest.h>

#include "bigbatch/core/error.h"

namespace bigbatch::sim {
namespace {

constexpr double kN = 100e6;            // bytes
const Link kLink{20e-6, 1.0 / 5e9};     // 20 us, 5 GB/s
const Link kNvlink{10e-6, 1.0 / 20e9};  // 10 us, 20 GB/s

ParameterServers servers(int64_t s, bool colocated, double imbalance = 1.0) { return {s, colocated, imbalance}; }

TEST(PsCost, DedicatedServersCarryWNOverS) {
  for (int64_t w : {2, 4, 16})
    for (int64_t s : {1, 2, 4, 16}) {
      const AllreduceCost c = ps_network_cost(w, kN, servers(s, false), kLink, 0.0);
      const double busiest = std::max(kN, static_cast<double>(w) * kN / static_cast<double>(s));
      EXPECT_EQ(c.steps, 2);
      EXPECT_DOUBLE_EQ(c.bytes, busiest) << w << " " << s;
      EXPECT_DOUBLE_EQ(c.seconds, 2 * kLink.alpha_s + busiest * kLink.beta_s);
    }
  // S >= W dedicated servers: N per worker each way, half the ring's 2(W−1)/W·N for large W.
  EXPECT_LT(ps_network_cost(16, kN, servers(16, false), kLink, 0).seconds, ring_cost(16, kN, kLink, 0).seconds * 0.6);
  // One server for 16 workers: its link carries 16 N, eight times the ring's.
  EXPECT_GT(ps_network_cost(16, kN, servers(1, false), kLink, 0).seconds, ring_cost(16, kN, kLink, 0).seconds * 7);
}

TEST(PsCost, ColocatedServersMoveTheRingsBytes) {
  for (int64_t w : {2, 3, 8, 16}) {
    const AllreduceCost c = ps_network_cost(w, kN, servers(w, true), kLink, 0.0);
    EXPECT_NEAR(c.bytes, ring_cost(w, kN, kLink, 0).bytes, 1e-6 * kN) << w;
    EXPECT_LE(c.seconds, ring_cost(w, kN, kLink, 0).seconds) << w;  // the same bytes in 2 latencies
    if (w > 2) {
      EXPECT_LT(c.seconds, ring_cost(w, kN, kLink, 0).seconds) << w;  // the ring takes 2(W−1) latencies
    }
  }
  // Fewer servers than workers: a machine that serves carries its pushes and (W−1) answers.
  const AllreduceCost few = ps_network_cost(4, kN, servers(2, true), kLink, 0.0);
  EXPECT_DOUBLE_EQ(few.bytes, kN / 2 + 3 * kN / 2);
  EXPECT_EQ(ps_network_cost(1, kN, servers(1, true), kLink, 0.0).seconds, 0.0);  // nothing leaves
}

TEST(PsCost, ImbalanceLoadsTheBusiestServer) {
  const AllreduceCost even = ps_network_cost(8, kN, servers(8, false), kLink, 1.0 / 10e9);
  const AllreduceCost skewed = ps_network_cost(8, kN, servers(8, false, 1.5), kLink, 1.0 / 10e9);
  EXPECT_DOUBLE_EQ(skewed.bytes, 1.5 * kN);
  EXPECT_DOUBLE_EQ(skewed.seconds - even.seconds, 0.5 * kN * kLink.beta_s + 7 * kN / 8 * 0.5 / 10e9);
}

TEST(PsCost, MachineChainsAreTheHierarchicalOnes) {
  Cluster c;
  c.gpus_per_server = 8;
  c.intra = kNvlink;
  c.inter = kLink;
  c.ps = servers(4, true);
  const HierarchicalCost ps = ps_cost(32, kN, c.ps, c), hier = hierarchical_cost(Algorithm::hier_ring, 32, kN, c);
  EXPECT_DOUBLE_EQ(ps.reduce.seconds, hier.reduce.seconds);
  EXPECT_DOUBLE_EQ(ps.broadcast.seconds, hier.broadcast.seconds);
  EXPECT_DOUBLE_EQ(ps.inter.seconds, ps_network_cost(4, kN, c.ps, kLink, 0).seconds);
  EXPECT_DOUBLE_EQ(ps.total.seconds, ps.reduce.seconds + ps.inter.seconds + ps.broadcast.seconds);
  EXPECT_DOUBLE_EQ(allreduce_cost(Algorithm::ps, 32, kN, c).seconds, ps.total.seconds);
  EXPECT_EQ(parse_algorithm("ps"), Algorithm::ps);
  EXPECT_THROW(ps_cost(12, kN, c.ps, c), InvalidArgument);  // not whole machines
}

TEST(PsCost, BadConfigurationsAreNamed) {
  EXPECT_THROW(ps_network_cost(0, kN, servers(1, false), kLink, 0), InvalidArgument);
  EXPECT_THROW(ps_network_cost(2, kN, servers(0, false), kLink, 0), InvalidArgument);
  EXPECT_THROW(ps_network_cost(2, kN, servers(3, true), kLink, 0), InvalidArgument);
  EXPECT_THROW(ps_network_cost(2, kN, servers(1, false, 0.5), kLink, 0), InvalidArgument);
  EXPECT_THROW(ps_network_cost(2, -1, servers(1, false), kLink, 0), InvalidArgument);
}

}  // namespace
}  // namespace bigbatch::sim
