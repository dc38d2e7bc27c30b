// `bigbatch simulate`: an analytic model of the time per iteration and the scaling efficiency of
// synchronous data-parallel training on a cluster (src/bigbatch/sim): a model's per-layer
// gradients and backward times, bucketed like the gradient reducer, allreduced by ring,
// halving/doubling or the paper's hierarchical scheme under an α–β–γ cost model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace CLI {
class App;
}

namespace bigbatch::cli {

// Upper bounds on the counts simulate accepts (each larger value is one clear error): the model
// keeps a counter per server and visits every rank, and the network's sizes must not overflow.
constexpr int64_t kMaxSimulatedGpus = int64_t{1} << 20;  // --gpus (each), --gpus-per-server, --solo-ranks
constexpr size_t kMaxGpuCounts = 64;                     // values in the --gpus list
constexpr int64_t kMaxSimulatedClasses = int64_t{1} << 20;
constexpr int64_t kMaxSimulatedInputSize = 65536;  // C, H and W of --input
constexpr double kMaxBucketMib = 1048576;          // --bucket-mib: 1 TiB

struct SimulateOptions {
  std::string preset;  // "goyal2017": the paper's cluster (flags given beside it win)
  std::string model = "resnet50";
  std::string input;    // "CxHxW"; empty: the model's default
  int64_t classes = 0;  // 0: the model's default
  std::string profile;  // bench/overlap/*.profile: measured per-layer ready times
  double backward_ms = 0;  // per GPU; with a profile, 0 keeps the profile's total
  std::string spread = "flops";
  double forward_ms = 0, optimizer_ms = 0;
  std::string gpus = "1,2,4,8,16,32,64,128,256";
  int64_t gpus_per_server = 8;
  std::string algorithms = "ring,hd,hier-ring,hier-hd";
  std::string comm = "allreduce";  // ps: --algorithms ps unless given
  int64_t servers = 0;             // parameter servers; 0: one per worker machine
  std::string ps_placement = "colocated";
  double ps_imbalance = 0.0;       // the busiest server's share over the mean; 0: from the model's keys
  int64_t ps_bigarray_bound = 1000000;  // the keys' sharding, as train's --ps-bigarray-bound
  int64_t ps_partition_bytes = 0;       // ... and --ps-partition-bytes
  double straggler_spread = 0.0;   // std / mean of one GPU's compute time
  double bucket_mib = 25;  // 0: one bucket per layer
  std::string overlap = "on";
  double intra_gbit = 160, intra_alpha_us = 10;  // NVLink (P100): 20 GB/s per direction
  double inter_gbit = 40, inter_alpha_us = 50;   // 50 Gbit/s Ethernet at 80% for TCP
  double reduce_gbit = 0;  // γ as a summing throughput; 0: free
  double solo_ms = 0;      // calibrate the inter link from a measured whole-arena allreduce
  int64_t solo_ranks = 2;
  bool json = false;
  std::string out_png;
  const CLI::App* command = nullptr;  // to tell given flags from defaults (presets)
};

// Registers the subcommand on `app`; parsed values land in `options`.
CLI::App* add_simulate_command(CLI::App& app, SimulateOptions& options);
// Prints the table (or one JSON object) to `out`, writes the PNG if asked; returns the exit
// status. Throws InvalidArgument "[simulate] ..." on a bad option or a malformed profile.
int run_simulate_command(SimulateOptions options, std::ostream& out);

}  // namespace bigbatch::cli
