// The α–β–γ allreduce costs in closed form: step and byte counts of ring and halving/doubling
// (powers of two and not), p = 1, link choice and NIC sharing on a cluster, the hierarchical
// scheme as the sum of its three parts, and calibration from a measured time.
#include "bigbatch/sim/allreduce_cost.h"

#include <gtest/gtest.h>

#include <string>

#include "bigbatch/core/error.h"

namespace bigbatch::sim {
namespace {

constexpr double kN = 100e6;                   // bytes
const Link kLink{20e-6, 1.0 / 5e9};             // 20 us, 5 GB/s
const Link kNvlink{10e-6, 1.0 / 20e9};          // 10 us, 20 GB/s

Cluster cluster(int64_t g) {
  Cluster c;
  c.gpus_per_server = g;
  c.intra = kNvlink;
  c.inter = kLink;
  return c;
}

TEST(AllreduceCost, RingStepsAndBytes) {
  for (int64_t p : {2, 3, 4, 7, 16}) {
    const AllreduceCost c = ring_cost(p, kN, kLink, 0.0);
    const double bytes = 2.0 * static_cast<double>(p - 1) / static_cast<double>(p) * kN;
    EXPECT_EQ(c.steps, 2 * (p - 1)) << p;
    EXPECT_NEAR(c.bytes, bytes, 1e-6 * kN) << p;
    EXPECT_NEAR(c.seconds, static_cast<double>(2 * (p - 1)) * kLink.alpha_s + bytes * kLink.beta_s, 1e-12) << p;
  }
}

TEST(AllreduceCost, HalvingDoublingStepsAndBytesPowerOfTwo) {
  for (int64_t p : {2, 4, 8, 64}) {
    const AllreduceCost hd = hd_cost(p, kN, kLink, 0.0);
    const AllreduceCost ring = ring_cost(p, kN, kLink, 0.0);
    int64_t log2p = 0;
    while ((int64_t{1} << log2p) < p) ++log2p;
    EXPECT_EQ(hd.steps, 2 * log2p) << p;
    EXPECT_NEAR(hd.bytes, ring.bytes, 1e-6 * kN) << p;  // same bytes, fewer steps
    EXPECT_NEAR(hd.seconds, static_cast<double>(2 * log2p) * kLink.alpha_s + hd.bytes * kLink.beta_s, 1e-12) << p;
  }
  EXPECT_LT(hd_cost(64, kN, kLink, 0).seconds, ring_cost(64, kN, kLink, 0).seconds);
}

// p = 6: p' = 4; two extra ranks hand over their whole buffer and get the sum back.
TEST(AllreduceCost, HalvingDoublingNonPowerOfTwo) {
  const AllreduceCost c = hd_cost(6, kN, kLink, 0.0);
  EXPECT_EQ(c.steps, 2 * 2 + 2);
  EXPECT_NEAR(c.bytes, 1.5 * kN + 2 * kN, 1);
  EXPECT_NEAR(c.seconds, 6 * kLink.alpha_s + 3.5 * kN * kLink.beta_s, 1e-12);
}

TEST(AllreduceCost, GammaChargesTheReducedBytes) {
  const double gamma = 1.0 / 50e9;
  EXPECT_NEAR(ring_cost(4, kN, kLink, gamma).seconds - ring_cost(4, kN, kLink, 0).seconds, 0.75 * kN * gamma, 1e-12);
  EXPECT_NEAR(hd_cost(4, kN, kLink, gamma).seconds - hd_cost(4, kN, kLink, 0).seconds, 0.75 * kN * gamma, 1e-12);
  // Non-power of two: the extra ranks' buffers are summed too.
  EXPECT_NEAR(hd_cost(6, kN, kLink, gamma).seconds - hd_cost(6, kN, kLink, 0).seconds, 1.75 * kN * gamma, 1e-12);
}

TEST(AllreduceCost, OneGpuCostsNothing) {
  for (Algorithm a : {Algorithm::ring, Algorithm::hd, Algorithm::hier_ring, Algorithm::hier_hd}) {
    const AllreduceCost c = allreduce_cost(a, 1, kN, cluster(8));
    EXPECT_EQ(c.steps, 0) << algorithm_name(a);
    EXPECT_EQ(c.bytes, 0.0) << algorithm_name(a);
    EXPECT_EQ(c.seconds, 0.0) << algorithm_name(a);
  }
}

TEST(AllreduceCost, FlatRingUsesTheSlowestLinkItSpans) {
  EXPECT_DOUBLE_EQ(flat_cost(Algorithm::ring, 8, kN, cluster(8)).seconds, ring_cost(8, kN, kNvlink, 0).seconds);
  EXPECT_DOUBLE_EQ(flat_cost(Algorithm::ring, 16, kN, cluster(8)).seconds, ring_cost(16, kN, kLink, 0).seconds);
}

// 32 GPUs, 8 per server: distances 1, 2, 4 stay in a server (N/2, N/4, N/8 on NVLink); distances
// 8 and 16 cross, all 8 GPUs of a server sharing its NIC (N/16, N/32 at 8x the time); the
// allgather mirrors the reduce-scatter.
TEST(AllreduceCost, FlatHalvingDoublingSharesTheNic) {
  const AllreduceCost c = flat_cost(Algorithm::hd, 32, kN, cluster(8));
  const double intra = 3 * kNvlink.alpha_s + (kN / 2 + kN / 4 + kN / 8) * kNvlink.beta_s;
  const double inter = 2 * kLink.alpha_s + (kN / 16 + kN / 32) * 8 * kLink.beta_s;
  EXPECT_EQ(c.steps, 10);
  EXPECT_NEAR(c.seconds, 2 * (intra + inter), 1e-12);
  // One GPU per server: every step crosses, one flow per NIC: plain hd on the inter link.
  EXPECT_DOUBLE_EQ(flat_cost(Algorithm::hd, 32, kN, cluster(1)).seconds, hd_cost(32, kN, kLink, 0).seconds);
  // One server: plain hd on NVLink.
  EXPECT_DOUBLE_EQ(flat_cost(Algorithm::hd, 8, kN, cluster(8)).seconds, hd_cost(8, kN, kNvlink, 0).seconds);
}

TEST(AllreduceCost, HierarchicalIsItsThreeParts) {
  const Cluster c = cluster(8);
  for (Algorithm a : {Algorithm::hier_ring, Algorithm::hier_hd}) {
    const HierarchicalCost h = hierarchical_cost(a, 32, kN, c);
    const double chain = 7 * kNvlink.alpha_s + kN * kNvlink.beta_s;  // 8 GPUs: 7 hops, N once per link
    EXPECT_EQ(h.reduce.steps, 7);
    EXPECT_NEAR(h.reduce.seconds, chain, 1e-12);
    EXPECT_NEAR(h.broadcast.seconds, chain, 1e-12);
    const AllreduceCost inter = a == Algorithm::hier_ring ? ring_cost(4, kN, kLink, 0) : hd_cost(4, kN, kLink, 0);
    EXPECT_DOUBLE_EQ(h.inter.seconds, inter.seconds);
    EXPECT_EQ(h.inter.steps, inter.steps);
    EXPECT_NEAR(h.total.seconds, h.reduce.seconds + h.inter.seconds + h.broadcast.seconds, 1e-15);
    EXPECT_EQ(h.total.steps, 7 + inter.steps + 7);
    EXPECT_DOUBLE_EQ(allreduce_cost(a, 32, kN, c).seconds, h.total.seconds);
  }
  // Inside one server there is no inter-server phase.
  const HierarchicalCost one = hierarchical_cost(Algorithm::hier_hd, 4, kN, c);
  EXPECT_EQ(one.inter.seconds, 0.0);
  EXPECT_NEAR(one.total.seconds, 2 * (3 * kNvlink.alpha_s + kN * kNvlink.beta_s), 1e-12);
}

TEST(AllreduceCost, HierarchicalNeedsWholeServers) {
  try {
    hierarchical_cost(Algorithm::hier_hd, 12, kN, cluster(8));
    FAIL() << "12 GPUs on servers of 8 accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("not whole servers of 8"), std::string::npos) << e.what();
  }
  EXPECT_THROW(flat_cost(Algorithm::hier_ring, 8, kN, cluster(8)), InvalidArgument);
  EXPECT_THROW(ring_cost(0, kN, kLink, 0), InvalidArgument);
}

TEST(AllreduceCost, CalibrationInvertsTheRing) {
  const double t = ring_cost(2, kN, kLink, 0).seconds;
  EXPECT_NEAR(beta_from_ring_time(t, kN, 2, kLink.alpha_s), kLink.beta_s, 1e-9 * kLink.beta_s);
  const double t8 = ring_cost(8, kN, kLink, 0).seconds;
  EXPECT_NEAR(beta_from_ring_time(t8, kN, 8, kLink.alpha_s), kLink.beta_s, 1e-9 * kLink.beta_s);
  EXPECT_THROW(beta_from_ring_time(1e-6, kN, 2, 1e-5), InvalidArgument);  // faster than its latency
}

TEST(AllreduceCost, AlgorithmNames) {
  for (Algorithm a : {Algorithm::ring, Algorithm::hd, Algorithm::hier_ring, Algorithm::hier_hd})
    EXPECT_EQ(parse_algorithm(algorithm_name(a)), a);
  try {
    parse_algorithm("tree");
    FAIL() << "tree parsed";
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "[sim] expected ring, hd, hier-ring, hier-hd or ps, got 'tree'");
  }
}

}  // namespace
}  // namespace bigbatch::sim
