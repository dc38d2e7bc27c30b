// `bigbatch simulate`: options and presets, the model's layers, the sweep, and its table, JSON
// and PNG. The model itself is src/bigbatch/sim.
#include "bigbatch/cli/simulate_command.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <ostream>
#include <vector>

#include "bigbatch/cli/model_args.h"
#include "bigbatch/cli/simulate_inputs.h"
#include "bigbatch/comm/ps_sharding.h"
#include "bigbatch/core/error.h"
#include "bigbatch/core/printable.h"
#include "bigbatch/models/registry.h"
#include "bigbatch/plot/line_chart.h"
#include "bigbatch/sim/scaling.h"

namespace bigbatch::cli {

CLI::App* add_simulate_command(CLI::App& app, SimulateOptions& o) {
  CLI::App* sub = app.add_subcommand(
      "simulate", "Model iteration time and scaling efficiency of data-parallel training on a cluster (alpha-beta)");
  const std::string max_gpus = std::to_string(kMaxSimulatedGpus);
  sub->add_option("--preset", o.preset,
                  "goyal2017: ResNet-50 on 8..352 P100s, 8 per server on NVLink, 50 Gbit/s Ethernet (the paper's "
                  "cluster); mxnet-inception-v3, mxnet-resnet152: MXNet's parameter servers on 16 machines of 16 "
                  "K80s, 20 Gbit/s Ethernet (published: 85.6% and 90.1% at 256 GPUs). Flags given beside a preset "
                  "win; docs/distributed.md says which inputs are measured, taken or assumed");
  sub->add_option("--model", o.model, "Model whose gradients are reduced (see 'bigbatch models')")->capture_default_str();
  sub->add_option("--input", o.input,
                  "Input CxHxW, each at most " + std::to_string(kMaxSimulatedInputSize) + " (default: the model's)");
  sub->add_option("--classes", o.classes,
                  "Number of classes, at most " + std::to_string(kMaxSimulatedClasses) + " (default: the model's)");
  sub->add_option("--profile", o.profile,
                  "Measured per-layer backward profile (bench/overlap/*.profile); its model is used");
  sub->add_option("--backward-ms", o.backward_ms,
                  "Backward time per GPU, ms (with --profile: rescales it; 0 keeps the profile's)");
  sub->add_option("--spread", o.spread, "Without a profile, spread backward over layers by: flops | params")
      ->capture_default_str();
  sub->add_option("--forward-ms", o.forward_ms, "Forward time per GPU, ms")->capture_default_str();
  sub->add_option("--optimizer-ms", o.optimizer_ms, "Optimizer step after the last allreduce, ms")->capture_default_str();
  sub->add_option("--gpus", o.gpus,
                  "GPU counts to model, comma-separated: up to " + std::to_string(kMaxGpuCounts) +
                      " counts, each at most " + max_gpus)
      ->capture_default_str();
  sub->add_option("--gpus-per-server", o.gpus_per_server,
                  "GPUs per server (ranks in server order), at most " + max_gpus)
      ->capture_default_str();
  sub->add_option("--algorithms", o.algorithms,
                  "Allreduce algorithms, each once: ring, hd (halving/doubling), hier-ring, hier-hd")
      ->capture_default_str();
  sub->add_option("--comm", o.comm,
                  "allreduce | ps: how gradients are summed; ps (MXNet's KVStore, BytePS) models --algorithms ps "
                  "unless --algorithms is given")
      ->capture_default_str();
  sub->add_option("--servers", o.servers,
                  "Parameter servers (algorithm ps); 0: one per worker machine, at most " + max_gpus)
      ->capture_default_str();
  sub->add_option("--ps-placement", o.ps_placement,
                  "colocated (server s on worker machine s, sharing its link) | dedicated (machines of their own)")
      ->capture_default_str();
  sub->add_option("--ps-imbalance", o.ps_imbalance,
                  "The busiest server's share of the bytes over the mean share, >= 1; 0: the model's keys sharded as "
                  "train shards them (--ps-bigarray-bound, --ps-partition-bytes) over --servers servers (0: the "
                  "machines of the largest GPU count)")
      ->capture_default_str();
  sub->add_option("--ps-bigarray-bound", o.ps_bigarray_bound,
                  "As train's: a tensor of this many elements or more is split over every server")
      ->capture_default_str();
  sub->add_option("--ps-partition-bytes", o.ps_partition_bytes,
                  "As train's: > 0 cuts every tensor into pieces of this many bytes dealt in turn (BytePS)")
      ->capture_default_str();
  sub->add_option("--straggler-spread", o.straggler_spread,
                  "Std / mean of one GPU's forward + backward time; the step waits for the slowest of p GPUs")
      ->capture_default_str();
  sub->add_option("--bucket-mib", o.bucket_mib,
                  "Gradient bucket cap in MiB, as --bucket-mib of train (0: per layer), at most " +
                      std::to_string(static_cast<int64_t>(kMaxBucketMib)))
      ->capture_default_str();
  sub->add_option("--overlap", o.overlap, "Allreduce buckets during backward: on | off")->capture_default_str();
  sub->add_option("--intra-gbit", o.intra_gbit, "Link inside a server, Gbit/s per direction")->capture_default_str();
  sub->add_option("--intra-alpha-us", o.intra_alpha_us, "Latency per message inside a server, us")
      ->capture_default_str();
  sub->add_option("--inter-gbit", o.inter_gbit, "Each server's network link, Gbit/s per direction")
      ->capture_default_str();
  sub->add_option("--inter-alpha-us", o.inter_alpha_us, "Latency per message between servers, us")
      ->capture_default_str();
  sub->add_option("--reduce-gbit", o.reduce_gbit, "Summing throughput (gamma), Gbit/s (0: free)")->capture_default_str();
  sub->add_option("--solo-ms", o.solo_ms,
                  "Calibrate the inter link: a measured ring allreduce of the whole gradient arena over --solo-ranks "
                  "ranks, one per server, took this many ms");
  sub->add_option("--solo-ranks", o.solo_ranks, "Ranks of the --solo-ms measurement, at most " + max_gpus)
      ->capture_default_str();
  sub->add_flag("--json", o.json, "Print one JSON object instead of the table");
  sub->add_option("-o,--out", o.out_png, "Write efficiency and iteration time vs GPUs to this PNG");
  o.command = sub;
  return sub;
}

namespace {

bool given(const SimulateOptions& o, const char* flag) {
  return o.command != nullptr && o.command->get_option(flag)->count() > 0;
}

// The published clusters; flags given beside a preset win.
//   goyal2017 (Goyal et al. 2017, §5): ResNet-50, n = 32 per P100, 8 per server on NVLink, 50 Gbit/s
//     Ethernet, up to 352 GPUs. Backward ~120 ms per GPU is the figure; forward =
//     backward / 2 (backward costs about twice the forward FLOPs).
//   mxnet-inception-v3, mxnet-resnet152: MXNet's KVStore (dist_device_sync) on 16 machines of 16
//     K80s (p2.16xlarge) on 20 Gbit/s Ethernet, n = 32 per GPU; one parameter server per machine,
//     co-located, every tensor a key (no buckets), MXNet's big-array bound. Taken from MXNet's
//     example/image-classification README: one K80 trains ResNet-152 at 57 img/s at batch 32 and
//     Inception-v3 at 30 img/s at batch 64 (taken for batch 32 too). Assumed: forward:backward
//     1:2, 64 Gbit/s between a machine's GPUs (PCIe), 50 us per message, no straggler spread.
//     Published at 256 GPUs: Inception-v3 85.6%, ResNet-152 90.1% of linear.
struct Preset {
  const char* name;
  const char* model;
  double forward_ms, backward_ms;
  const char* gpus;
  int64_t gpus_per_server;
  const char* comm;
  double intra_gbit, inter_gbit;
  double bucket_mib;
  double published_efficiency;  // at the largest GPU count; 0: none quoted
};

constexpr Preset kPresets[] = {
    {"goyal2017", "resnet50", 60.0, 120.0, "8,16,32,64,128,256,352", 8, "allreduce", 160.0, 40.0, 25.0, 0.0},
    {"mxnet-inception-v3", "inception_v3", 1067.0 / 3, 1067.0 * 2 / 3, "1,16,32,64,128,256", 16, "ps", 64.0, 20.0, 0.0,
     0.856},
    {"mxnet-resnet152", "resnet152", 561.0 / 3, 561.0 * 2 / 3, "1,16,32,64,128,256", 16, "ps", 64.0, 20.0, 0.0, 0.901},
};

const Preset* find_preset(const std::string& name) {
  if (name.empty()) return nullptr;
  std::string known;
  for (const Preset& p : kPresets) {
    if (name == p.name) return &p;
    known += (known.empty() ? "" : ", ") + std::string(p.name);
  }
  BIGBATCH_THROW(InvalidArgument, "[simulate] --preset: expected one of " << known << ", got '" << printable(name)
                                                                        << "'");
}

void apply_preset(SimulateOptions& o) {
  const Preset* preset = find_preset(o.preset);
  if (preset == nullptr) return;
  auto set = [&](const char* flag, auto& field, auto value) {
    if (!given(o, flag)) field = value;
  };
  set("--model", o.model, std::string(preset->model));
  set("--backward-ms", o.backward_ms, preset->backward_ms);
  set("--forward-ms", o.forward_ms, preset->forward_ms);
  set("--gpus", o.gpus, std::string(preset->gpus));
  set("--gpus-per-server", o.gpus_per_server, preset->gpus_per_server);
  set("--comm", o.comm, std::string(preset->comm));
  if (o.comm == "allreduce") set("--algorithms", o.algorithms, std::string("hier-hd,hier-ring,hd,ring"));
  set("--intra-gbit", o.intra_gbit, preset->intra_gbit);
  set("--intra-alpha-us", o.intra_alpha_us, 10.0);
  set("--inter-gbit", o.inter_gbit, preset->inter_gbit);
  set("--inter-alpha-us", o.inter_alpha_us, 50.0);
  set("--bucket-mib", o.bucket_mib, preset->bucket_mib);
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    parts.push_back(text.substr(start, comma - start));
    if (comma == std::string::npos) return parts;
    start = comma + 1;
  }
}

std::vector<int64_t> parse_gpus(const std::string& text) {
  const std::vector<std::string> parts = split(text);
  BIGBATCH_CHECK(parts.size() <= kMaxGpuCounts,
                 "[simulate] --gpus: expected at most " << kMaxGpuCounts << " GPU counts, got " << parts.size());
  std::vector<int64_t> gpus;
  for (const std::string& part : parts) {
    int64_t p = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), p);
    BIGBATCH_CHECK(ec == std::errc() && ptr == part.data() + part.size() && p >= 1 && p <= kMaxSimulatedGpus,
                   "[simulate] --gpus: expected GPU counts in [1, " << kMaxSimulatedGpus << "] such as 8,16,32, got '"
                                                                    << printable(part) << "'");
    gpus.push_back(p);
  }
  return gpus;
}

void check_number(bool ok, const char* flag, double value, const char* expected) {
  BIGBATCH_CHECK(ok && std::isfinite(value), "[simulate] " << flag << ": expected " << expected << ", got " << value);
}

double seconds_per_byte(double gbit) { return 8.0 / (gbit * 1e9); }

std::string mb(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", bytes / 1e6);
  return buf;
}

}  // namespace

int run_simulate_command(SimulateOptions o, std::ostream& out) {
  apply_preset(o);
  check_number(o.backward_ms >= 0, "--backward-ms", o.backward_ms, ">= 0");
  check_number(o.forward_ms >= 0, "--forward-ms", o.forward_ms, ">= 0");
  check_number(o.optimizer_ms >= 0, "--optimizer-ms", o.optimizer_ms, ">= 0");
  check_number(o.bucket_mib >= 0 && o.bucket_mib <= kMaxBucketMib, "--bucket-mib", o.bucket_mib,
               "in [0, 1048576] (1 TiB)");
  check_number(o.intra_gbit > 0, "--intra-gbit", o.intra_gbit, "> 0");
  check_number(o.inter_gbit > 0, "--inter-gbit", o.inter_gbit, "> 0");
  check_number(o.intra_alpha_us >= 0, "--intra-alpha-us", o.intra_alpha_us, ">= 0");
  check_number(o.inter_alpha_us >= 0, "--inter-alpha-us", o.inter_alpha_us, ">= 0");
  check_number(o.reduce_gbit >= 0, "--reduce-gbit", o.reduce_gbit, ">= 0");
  check_number(o.solo_ms >= 0, "--solo-ms", o.solo_ms, ">= 0");
  BIGBATCH_CHECK(
      o.gpus_per_server >= 1 && o.gpus_per_server <= kMaxSimulatedGpus,
      "[simulate] --gpus-per-server: expected in [1, " << kMaxSimulatedGpus << "], got " << o.gpus_per_server);
  BIGBATCH_CHECK(o.solo_ranks >= 2 && o.solo_ranks <= kMaxSimulatedGpus,
                 "[simulate] --solo-ranks: expected in [2, " << kMaxSimulatedGpus << "], got " << o.solo_ranks);
  BIGBATCH_CHECK(o.overlap == "on" || o.overlap == "off",
                 "[simulate] --overlap: expected on or off, got '" << o.overlap << "'");
  BIGBATCH_CHECK(o.comm == "allreduce" || o.comm == "ps",
                 "[simulate] --comm: expected allreduce or ps, got '" << printable(o.comm) << "'");
  if (o.comm == "ps" && !given(o, "--algorithms")) o.algorithms = "ps";
  BIGBATCH_CHECK(o.ps_placement == "colocated" || o.ps_placement == "dedicated",
                 "[simulate] --ps-placement: expected colocated or dedicated, got '" << printable(o.ps_placement)
                                                                                     << "'");
  BIGBATCH_CHECK(o.servers >= 0 && o.servers <= kMaxSimulatedGpus,
                 "[simulate] --servers: expected in [0, " << kMaxSimulatedGpus << "] (0: one per worker machine), got "
                                                          << o.servers);
  check_number(o.ps_imbalance == 0 || o.ps_imbalance >= 1, "--ps-imbalance", o.ps_imbalance,
               ">= 1 (or 0: from the model's keys)");
  check_number(o.straggler_spread >= 0 && o.straggler_spread <= 10, "--straggler-spread", o.straggler_spread,
               "in [0, 10]");
  const std::vector<int64_t> gpus = parse_gpus(o.gpus);
  std::vector<sim::Algorithm> algorithms;
  for (const std::string& name : split(o.algorithms)) {
    sim::Algorithm a{};
    try {
      a = sim::parse_algorithm(name);
    } catch (const InvalidArgument& e) {
      BIGBATCH_THROW(InvalidArgument, "[simulate] --algorithms: " << printable(e.what()));
    }
    // Each once: a repeated name would only repeat rows (and the list is as long as the argument).
    BIGBATCH_CHECK(std::find(algorithms.begin(), algorithms.end(), a) == algorithms.end(),
                   "[simulate] --algorithms: '" << name << "' is given twice");
    algorithms.push_back(a);
  }
  const bool models_ps = std::find(algorithms.begin(), algorithms.end(), sim::Algorithm::ps) != algorithms.end();
  BIGBATCH_CHECK(o.comm != "ps" || models_ps, "[simulate] --comm ps: --algorithms " << o.algorithms << " has no ps");
  if (models_ps && o.ps_placement == "colocated")
    for (int64_t p : gpus) {
      const int64_t machines = p / std::min(p, o.gpus_per_server);
      BIGBATCH_CHECK(o.servers <= machines, "[simulate] --servers " << o.servers << " co-located servers on " << p
                                                                    << " GPUs: at most one per worker machine ("
                                                                    << machines << "); or --ps-placement dedicated");
    }

  // The layers: from a measured profile, or a total backward time spread over the graph.
  sim::BackwardProfile profile;
  if (!o.profile.empty()) {
    profile = sim::read_backward_profile(o.profile);
    BIGBATCH_CHECK(!given(o, "--model") || o.model == profile.model,
                   "[simulate] --model " << o.model << " disagrees with " << o.profile << ", a profile of "
                                         << profile.model);
    BIGBATCH_CHECK(!given(o, "--spread"), "[simulate] --spread applies only without --profile");
    o.model = profile.model;
    if (o.backward_ms == 0) o.backward_ms = profile.backward_s * 1e3;
  }
  check_number(o.backward_ms > 0, "--backward-ms", o.backward_ms, "> 0 (or a --profile)");
  const ModelDefaults defaults = model_defaults(o.model);
  const InputDims dims = o.input.empty() ? defaults.input : parse_input_dims(o.input, "--input");
  // Larger sizes overflow the layers' 64-bit multiply-add counts.
  BIGBATCH_CHECK(
      dims.channels <= kMaxSimulatedInputSize && dims.height <= kMaxSimulatedInputSize &&
          dims.width <= kMaxSimulatedInputSize,
      "[simulate] --input: expected C, H and W of at most " << kMaxSimulatedInputSize << ", got " << dims.to_string());
  BIGBATCH_CHECK(o.classes >= 0 && o.classes <= kMaxSimulatedClasses,
                 "[simulate] --classes: expected in [0, " << kMaxSimulatedClasses << "], got " << o.classes);
  const int64_t classes = o.classes > 0 ? o.classes : defaults.classes;
  const nn::Graph graph = models::build_model({o.model, dims.channels, dims.height, dims.width, classes});
  const double backward_s = o.backward_ms * 1e-3;
  const std::vector<sim::LayerGrad> layers =
      o.profile.empty() ? layers_from_spread(graph, backward_s, parse_backward_spread(o.spread))
                        : layers_from_profile(graph, profile, backward_s, o.profile);
  const auto cap = static_cast<int64_t>(std::llround(o.bucket_mib * 1048576.0));
  const std::vector<sim::Bucket> buckets = sim::plan_buckets(layers, cap);
  double grad_bytes = 0;
  for (const sim::LayerGrad& l : layers) grad_bytes += static_cast<double>(l.bytes);

  sim::Cluster cluster;
  cluster.gpus_per_server = o.gpus_per_server;
  cluster.intra = {o.intra_alpha_us * 1e-6, seconds_per_byte(o.intra_gbit)};
  cluster.inter = {o.inter_alpha_us * 1e-6, seconds_per_byte(o.inter_gbit)};
  cluster.gamma_s = o.reduce_gbit > 0 ? seconds_per_byte(o.reduce_gbit) : 0.0;
  // The servers' loads from the model's own keys, sharded by train's rule (comm/ps_sharding.h),
  // next to BytePS's 4 MB pieces (its default partition), over the servers of the largest job.
  const int64_t sharded_over =
      o.servers > 0 ? o.servers : gpus.back() / std::min(gpus.back(), o.gpus_per_server);
  double imbalance_rule = 1.0, imbalance_pieces = 1.0;
  if (models_ps) {
    std::vector<comm::PsKey> keys;
    for (const ArenaEntry& e : graph.parameter_layout()->entries()) keys.push_back({e.offset, e.shape.numel()});
    const int s_count = static_cast<int>(std::min<int64_t>(sharded_over, 1 << 20));
    imbalance_rule = comm::load_imbalance(comm::server_loads(
        comm::shard_keys(keys, {s_count, o.ps_bigarray_bound, o.ps_partition_bytes}), s_count));
    imbalance_pieces =
        comm::load_imbalance(comm::server_loads(comm::shard_keys(keys, {s_count, o.ps_bigarray_bound, 4096000}), s_count));
  }
  const double imbalance = o.ps_imbalance > 0 ? o.ps_imbalance : imbalance_rule;
  cluster.ps = {o.servers, o.ps_placement == "colocated", imbalance};
  if (o.solo_ms > 0) {
    cluster.inter.beta_s = sim::beta_from_ring_time(o.solo_ms * 1e-3, grad_bytes, o.solo_ranks, cluster.inter.alpha_s);
    o.inter_gbit = 8.0 / cluster.inter.beta_s / 1e9;
  }
  sim::StepInputs inputs{o.forward_ms * 1e-3, backward_s, o.optimizer_ms * 1e-3, o.overlap == "on",
                         o.straggler_spread};
  const std::vector<sim::ScalingRow> rows = sim::simulate_scaling(buckets, inputs, cluster, gpus, algorithms);

  const std::string input_text = dims.to_string();
  const std::string source = o.profile.empty() ? "spread by " + o.spread : "profile " + o.profile;
  if (o.json) {
    nlohmann::json j = {{"model", o.model},
                        {"input", input_text},
                        {"classes", classes},
                        {"params", graph.parameter_layout()->count()},
                        {"grad_bytes", grad_bytes},
                        {"layers", layers.size()},
                        {"bucket_mib", o.bucket_mib},
                        {"backward_ms", o.backward_ms},
                        {"backward_source", source},
                        {"forward_ms", o.forward_ms},
                        {"optimizer_ms", o.optimizer_ms},
                        {"overlap", inputs.overlap},
                        {"gpus_per_server", o.gpus_per_server},
                        {"intra", {{"gbit", o.intra_gbit}, {"alpha_us", o.intra_alpha_us}}},
                        {"inter", {{"gbit", o.inter_gbit}, {"alpha_us", o.inter_alpha_us}}},
                        {"reduce_gbit", o.reduce_gbit},
                        {"straggler_spread", o.straggler_spread}};
    if (models_ps)
      j["ps"] = {{"servers", o.servers},
                 {"placement", o.ps_placement},
                 {"imbalance", imbalance},
                 {"sharded_over", sharded_over},
                 {"imbalance_of_the_rule", imbalance_rule},
                 {"imbalance_of_4mb_pieces", imbalance_pieces}};
    for (const sim::Bucket& b : buckets)
      j["buckets"].push_back({{"mb", static_cast<double>(b.bytes) / 1e6}, {"ready_ms", b.ready_s * 1e3}});
    for (const sim::ScalingRow& r : rows)
      j["rows"].push_back({{"gpus", r.gpus},
                           {"servers", r.servers},
                           {"algorithm", sim::algorithm_name(r.algorithm)},
                           {"comm_ms", r.step.comm_s * 1e3},
                           {"exposed_ms", r.step.exposed_s * 1e3},
                           {"iteration_ms", r.step.iteration_s * 1e3},
                           {"efficiency", r.efficiency},
                           {"efficiency_vs_first", r.efficiency_vs_first},
                           {"straggler_factor", r.straggler_factor}});
    if (const Preset* preset = find_preset(o.preset); preset && preset->published_efficiency > 0)
      j["published_efficiency"] = {{"gpus", gpus.back()}, {"efficiency", preset->published_efficiency}};
    out << j.dump() << '\n';
  } else {
    std::string sizes;
    for (const sim::Bucket& b : buckets) sizes += (sizes.empty() ? "" : " ") + mb(static_cast<double>(b.bytes));
    if (buckets.size() > 12) sizes = "(" + std::to_string(buckets.size()) + " buckets)";
    char line[512];
    out << o.model << " (" << input_text << ", " << classes << " classes): "
        << with_thousands(graph.parameter_layout()->count()) << " parameters, " << mb(grad_bytes)
        << " MB of gradients, " << layers.size() << " layers in " << buckets.size() << " buckets (cap " << o.bucket_mib
        << " MiB): " << sizes << " MB\n";
    std::snprintf(line, sizeof line, "per GPU: forward %.1f ms, backward %.1f ms (%s), optimizer %.1f ms; overlap %s\n",
                  o.forward_ms, o.backward_ms, source.c_str(), o.optimizer_ms, o.overlap.c_str());
    out << line;
    std::snprintf(line, sizeof line,
                  "links: intra %.4g Gbit/s, alpha %.4g us; inter %.4g Gbit/s per server, alpha %.4g us%s; reduce %s; "
                  "%lld GPUs per server\n",
                  o.intra_gbit, o.intra_alpha_us, o.inter_gbit, o.inter_alpha_us,
                  o.solo_ms > 0 ? " (from --solo-ms)" : "",
                  o.reduce_gbit > 0 ? (std::to_string(o.reduce_gbit) + " Gbit/s").c_str() : "free",
                  static_cast<long long>(o.gpus_per_server));
    out << line;
    if (models_ps) {
      std::snprintf(line, sizeof line, "parameter servers: %s, %s, busiest server %.3gx the mean share%s\n",
                    o.servers == 0 ? "one per worker machine" : (std::to_string(o.servers) + " in all").c_str(),
                    o.ps_placement.c_str(), imbalance, o.ps_imbalance > 0 ? " (--ps-imbalance)" : "");
      out << line;
      std::snprintf(line, sizeof line,
                    "key sharding over %lld servers: %s %.3gx the mean, BytePS's 4 MB pieces %.3gx\n",
                    static_cast<long long>(sharded_over),
                    o.ps_partition_bytes > 0 ? "--ps-partition-bytes" : "MXNet's rule", imbalance_rule,
                    imbalance_pieces);
      out << line;
    }
    if (o.straggler_spread > 0) {
      std::snprintf(line, sizeof line,
                    "stragglers: per-GPU compute spread %.3g (std / mean); the step waits for the slowest GPU\n",
                    o.straggler_spread);
      out << line;
    }
    std::snprintf(line, sizeof line, "%6s %8s %-9s %9s %10s %9s %7s %8s\n", "gpus", "machines", "algorithm", "comm_ms",
                  "exposed_ms", "iter_ms", "eff", ("eff/" + std::to_string(gpus.front())).c_str());
    out << line;
    for (const sim::ScalingRow& r : rows) {
      std::snprintf(line, sizeof line, "%6lld %8lld %-9s %9.1f %10.1f %9.1f %6.1f%% %7.1f%%\n",
                    static_cast<long long>(r.gpus), static_cast<long long>(r.servers), sim::algorithm_name(r.algorithm),
                    r.step.comm_s * 1e3, r.step.exposed_s * 1e3, r.step.iteration_s * 1e3, 100 * r.efficiency,
                    100 * r.efficiency_vs_first);
      out << line;
    }
    if (const Preset* preset = find_preset(o.preset); preset && preset->published_efficiency > 0) {
      std::snprintf(line, sizeof line, "published (%s): %.1f%% at %lld GPUs\n", preset->name,
                    100 * preset->published_efficiency, static_cast<long long>(gpus.back()));
      out << line;
    }
  }

  if (!o.out_png.empty()) {
    plot::Panel efficiency{"Scaling efficiency t(1 GPU) / t(p GPUs)", "GPUs", "efficiency %", {}, false, 0.0, 100.0};
    plot::Panel iteration{"Time per iteration", "GPUs", "ms", {}, false, 0.0, std::nullopt};
    for (sim::Algorithm a : algorithms) {
      plot::Series e{sim::algorithm_name(a), {}, {}}, t{sim::algorithm_name(a), {}, {}};
      for (const sim::ScalingRow& r : rows) {
        if (r.algorithm != a) continue;
        e.x.push_back(static_cast<double>(r.gpus));
        e.y.push_back(100 * r.efficiency);
        t.x.push_back(static_cast<double>(r.gpus));
        t.y.push_back(r.step.iteration_s * 1e3);
      }
      efficiency.series.push_back(std::move(e));
      iteration.series.push_back(std::move(t));
    }
    plot::render_panels({efficiency, iteration}, 2, o.out_png);
    if (!o.json) out << "plot: " << o.out_png << '\n';
  }
  return 0;
}

}  // namespace bigbatch::cli
