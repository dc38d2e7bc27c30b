// overlap_bench: how much of the gradient allreduce a bucketed, overlapped GradientReducer
// hides behind backward, for a real model's bucket plan (default resnet50, 25.6 M parameters).
//
//   overlap_bench profile --out FILE [--model resnet50] [--batch 4] [--threads 2] [--steps 3]
//       One process, no MPI: runs the real CPU executor's forward + backward and records when
//       each layer's gradients become final (the executor's GradsReadyHook); writes the
//       median time of every event (node id, seconds since backward began) and the backward
//       total to FILE.
//   mpirun -np R overlap_bench replay --profile FILE [--bucket-mib 25] [--overlap on|off]
//       [--steps 10] [--warmup 2] [--time-scale 1] [--solo 3] [--json]
//       Every rank replays that backward (sleeping until each event's time, then reporting the
//       node to its GradientReducer over a gradient arena of the model's real size) while
//       the reducer's allreduces run over MPI. Sleeping, not spinning or computing: the host
//       cores stay free for communication, as on a machine whose backward runs on a GPU.
//   mpirun -np R overlap_bench real [--batch 2] [--threads 1] ...same flags...
//       Every rank runs the real CPU backward itself (competes with the communication for
//       the cores when ranks share a machine).
//   --comm ps --servers S (replay or real): under mpirun -np W+S the last S ranks are
//       parameter servers (comm/parameter_server.h, the update on the workers: the servers
//       sum) and the buckets are pushed and pulled instead of allreduced; rank 0 (a worker)
//       reports. `--solo` is then skipped (there is no whole-arena allreduce).
//
// Per step (medians over the timed steps, rank 0's figures): backward_s (begin_step() to
// finish()), allreduce_s (sum of the buckets' allreduce running times), exposed_s (time
// finish() waited), step_s (backward + exposed). `--solo N` first times N allreduces of the
// whole arena in one call, a check of the network's effective bandwidth.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bigbatch/comm/communicator.h"
#include "bigbatch/comm/gradient_reducer.h"
#include "bigbatch/comm/mpi_comm.h"
#include "bigbatch/comm/parameter_server.h"
#include "bigbatch/core/arena.h"
#include "bigbatch/core/rng.h"
#include "bigbatch/core/tensor.h"
#include "bigbatch/core/threading.h"
#include "bigbatch/models/registry.h"
#include "bigbatch/nn/executor.h"
#include "bigbatch/nn/graph.h"
#include "bigbatch/nn/init.h"

namespace {

using Clock = std::chrono::steady_clock;
using bigbatch::Arena;
using bigbatch::Tensor;
namespace comm = bigbatch::comm;
namespace nn = bigbatch::nn;

struct Options {
  std::string mode;
  std::string model = "resnet50";
  std::string out, profile;
  int64_t batch = 0;  // profile: 4, real: 2
  int threads = 0;    // profile: 2, real: 1
  int steps = 10, warmup = 2, solo = 3;
  int64_t bucket_mib = 25;
  bool overlap = true;
  double time_scale = 1.0;
  bool json = false;
  std::string comm = "allreduce";  // or ps
  int servers = 1;
};

[[noreturn]] void usage(const std::string& error) {
  std::cerr << "overlap_bench: " << error
            << "\nusage: overlap_bench profile --out FILE [--model M] [--batch B] [--threads T] [--steps S]\n"
               "       overlap_bench replay --profile FILE [--bucket-mib MIB] [--overlap on|off] [--steps S]\n"
               "                     [--warmup W] [--time-scale X] [--solo N] [--comm allreduce|ps] [--servers S] [--json]\n"
               "       overlap_bench real [--model M] [--batch B] [--threads T] [same flags as replay]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  if (argc < 2) usage("missing mode");
  Options o;
  o.mode = argv[1];
  if (o.mode != "profile" && o.mode != "replay" && o.mode != "real") usage("unknown mode '" + o.mode + "'");
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--json") {
      o.json = true;
      continue;
    }
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string v = argv[++i];
    try {
      if (flag == "--model") o.model = v;
      else if (flag == "--out") o.out = v;
      else if (flag == "--profile") o.profile = v;
      else if (flag == "--batch") o.batch = std::stoll(v);
      else if (flag == "--threads") o.threads = std::stoi(v);
      else if (flag == "--steps") o.steps = std::stoi(v);
      else if (flag == "--warmup") o.warmup = std::stoi(v);
      else if (flag == "--solo") o.solo = std::stoi(v);
      else if (flag == "--bucket-mib") o.bucket_mib = std::stoll(v);
      else if (flag == "--time-scale") o.time_scale = std::stod(v);
      else if (flag == "--servers") o.servers = std::stoi(v);
      else if (flag == "--comm") {
        if (v != "allreduce" && v != "ps") usage("--comm: expected allreduce or ps");
        o.comm = v;
      }
      else if (flag == "--overlap") {
        if (v != "on" && v != "off") usage("--overlap: expected on or off");
        o.overlap = v == "on";
      } else usage("unknown flag " + flag);
    } catch (const std::logic_error&) {
      usage(flag + ": bad value '" + v + "'");
    }
  }
  if (o.batch == 0) o.batch = o.mode == "real" ? 2 : 4;
  if (o.threads == 0) o.threads = o.mode == "real" ? 1 : 2;
  if (o.mode == "profile" && o.out.empty()) usage("profile needs --out");
  if (o.mode == "replay" && o.profile.empty()) usage("replay needs --profile");
  if (o.steps < 1 || o.warmup < 0 || o.batch < 1 || o.threads < 1 || o.bucket_mib < 1 || o.time_scale <= 0)
    usage("bad numeric flag");
  return o;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A model with a real CPU executor over synthetic data; backward with the caller's hook.
struct RealModel {
  nn::Graph graph;
  Arena params, grads, buffers;
  std::unique_ptr<nn::Executor> executor;
  Tensor src, diff_logits;

  RealModel(const std::string& model, int64_t batch) : graph(build(model)) {
    params = Arena(graph.parameter_layout());
    grads = Arena(graph.parameter_layout());
    buffers = Arena(graph.buffer_layout());
    bigbatch::Rng rng(1);
    nn::initialize(graph, params, buffers, rng);
    executor = nn::make_cpu_executor({.graph = &graph, .params = &params, .grads = &grads, .buffers = &buffers},
                                     {.batch = batch, .bn_group = 0, .precision = bigbatch::DType::f32});
    const nn::Node& in = graph.input_node();
    src = Tensor::zeros({batch, in.c, in.h, in.w});
    float* s = src.data<float>();
    for (int64_t i = 0; i < src.numel(); ++i) s[i] = static_cast<float>(rng.normal());
    diff_logits = Tensor::zeros({batch, graph.output_columns()});
    float* d = diff_logits.data<float>();
    for (int64_t i = 0; i < diff_logits.numel(); ++i) d[i] = static_cast<float>(rng.normal()) * 1e-3f;
  }
  // At the input and classes the model is usually run at (the registry's rule).
  static nn::Graph build(const std::string& model) {
    return bigbatch::models::build_model(bigbatch::models::usual_spec(model));
  }
};

struct Event {
  int node;
  double t;  // seconds since backward began
};

struct Profile {
  std::string model;
  int64_t batch = 0;
  int threads = 0;
  double backward_s = 0;
  std::vector<Event> events;
};

int run_profile(const Options& o) {
  bigbatch::set_num_threads(o.threads);
  RealModel m(o.model, o.batch);
  std::vector<std::map<int, double>> runs;
  std::vector<double> totals;
  for (int s = 0; s < o.steps + 1; ++s) {  // the first is a warm-up
    m.executor->forward(m.src, true);
    std::map<int, double> at;
    const Clock::time_point t0 = Clock::now();
    m.executor->backward(m.diff_logits,
                         [&](int id) { at[id] = std::chrono::duration<double>(Clock::now() - t0).count(); });
    const double total = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s == 0) continue;
    runs.push_back(std::move(at));
    totals.push_back(total);
  }
  Profile p{o.model, o.batch, o.threads, median(totals), {}};
  for (const auto& [id, t] : runs.front()) {
    std::vector<double> ts;
    for (const auto& r : runs) ts.push_back(r.at(id));
    p.events.push_back({id, median(ts)});
  }
  std::sort(p.events.begin(), p.events.end(), [](const Event& a, const Event& b) { return a.t < b.t; });
  std::ofstream f(o.out);
  f << "# overlap_bench profile: model batch threads backward_s, then one 'node_id seconds' per event\n";
  f << p.model << " " << p.batch << " " << p.threads << " " << p.backward_s << "\n";
  for (const Event& e : p.events) f << e.node << " " << e.t << "\n";
  if (!f.good()) {
    std::cerr << "overlap_bench: cannot write " << o.out << "\n";
    return 1;
  }
  std::cout << "profile: " << o.model << " batch " << o.batch << ", " << o.threads << " threads: backward "
            << p.backward_s * 1e3 << " ms, " << p.events.size() << " gradient-ready events -> " << o.out << "\n";
  return 0;
}

Profile read_profile(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read profile " + path);
  Profile p;
  std::string line;
  bool header = false;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    if (!header) {
      in >> p.model >> p.batch >> p.threads >> p.backward_s;
      header = true;
    } else {
      Event e{};
      in >> e.node >> e.t;
      p.events.push_back(e);
    }
  }
  if (!header || p.events.empty()) throw std::runtime_error("empty profile " + path);
  return p;
}

int run_distributed(const Options& o, comm::Communicator& c, comm::ParameterServerJob* ps) {
  const bool replay = o.mode == "replay";
  Profile profile;
  if (replay) profile = read_profile(o.profile);
  const std::string model = replay ? profile.model : o.model;
  bigbatch::set_num_threads(o.threads);
  std::unique_ptr<RealModel> real;
  nn::Graph graph = RealModel::build(model);
  if (!replay) real = std::make_unique<RealModel>(model, o.batch);
  const nn::Graph& g = replay ? graph : real->graph;
  Arena replay_grads;
  if (replay) replay_grads = Arena(g.parameter_layout());
  const Arena& grads = replay ? replay_grads : real->grads;
  comm::ReducerOptions reducer_options{.bucket_cap_bytes = o.bucket_mib << 20, .overlap = o.overlap};
  if (ps != nullptr)
    reducer_options.exchange = &ps->connect(
        *g.parameter_layout(), comm::plan_buckets(g.gradient_ranges(), grads.total_elems(), reducer_options.bucket_cap_bytes));
  comm::GradientReducer reducer(g.gradient_ranges(), grads, c, reducer_options);
  const int64_t bytes = grads.total_elems() * static_cast<int64_t>(sizeof(float));
  const bool root = c.rank() == 0;

  // The network on its own: allreduces of the whole arena, one call each, after one untimed
  // (connections are set up at the first message).
  std::fill(grads.data(), grads.data() + grads.total_elems(), 1.0f);
  if (ps == nullptr) c.allreduce_sum(grads.data(), grads.total_elems());
  std::vector<double> solo;
  for (int i = 0; i < (ps == nullptr ? o.solo : 0); ++i) {
    std::fill(grads.data(), grads.data() + grads.total_elems(), 1.0f);
    c.barrier();
    const Clock::time_point t0 = Clock::now();
    c.allreduce_sum(grads.data(), grads.total_elems());
    solo.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }

  std::vector<double> bwd, busy, exposed, step;
  for (int s = 0; s < o.warmup + o.steps; ++s) {
    if (replay) {
      std::fill(grads.data(), grads.data() + grads.total_elems(), 1.0f);  // what backward would write
    } else {
      real->executor->forward(real->src, true);
    }
    c.barrier();  // every rank starts backward together, as after the previous step's allreduce
    const Clock::time_point t0 = Clock::now();
    reducer.begin_step();
    if (replay) {
      for (const Event& e : profile.events) {
        std::this_thread::sleep_until(t0 + std::chrono::duration<double>(e.t * o.time_scale));
        reducer.on_grads_ready(e.node);
      }
      std::this_thread::sleep_until(t0 + std::chrono::duration<double>(profile.backward_s * o.time_scale));
    } else {
      real->executor->backward(real->diff_logits, reducer.hook());
    }
    reducer.finish();
    const double total = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s < o.warmup) continue;
    const comm::ReducerStats& st = reducer.last_stats();
    bwd.push_back(st.backward_s);
    busy.push_back(st.allreduce_busy_s);
    exposed.push_back(st.exposed_s);
    step.push_back(total);
  }
  if (!root) return 0;
  const auto& buckets = reducer.buckets();
  const double last_mb = static_cast<double>(buckets.back().elems()) * 4 / 1e6;
  const double bw = bwd.empty() ? 0 : median(bwd), ar = median(busy), ex = median(exposed), st = median(step);
  const double solo_s = solo.empty() ? 0 : median(solo);
  std::string sizes;  // per bucket in MB, in start order
  for (const comm::Bucket& b : buckets) {
    char one[32];
    std::snprintf(one, sizeof one, "%s%.1f", sizes.empty() ? "" : ",", static_cast<double>(b.elems()) * 4 / 1e6);
    sizes += one;
  }
  char line[2048];
  if (o.json) {
    std::snprintf(line, sizeof line,
                  "{\"mode\":\"%s\",\"comm\":\"%s\",\"servers\":%d,\"model\":\"%s\",\"ranks\":%d,\"params_mb\":%.1f,\"buckets\":%zu,"
                  "\"bucket_mib\":%lld,\"bucket_mb\":[%s],\"last_bucket_mb\":%.2f,\"overlap\":%s,\"profile_batch\":%lld,"
                  "\"time_scale\":%g,\"steps\":%d,\"solo_allreduce_s\":%.4f,\"backward_s\":%.4f,\"allreduce_s\":%.4f,"
                  "\"exposed_s\":%.4f,\"step_s\":%.4f,\"exposed_over_allreduce\":%.3f}",
                  o.mode.c_str(), o.comm.c_str(), ps ? ps->servers() : 0, model.c_str(), c.size(),
                  static_cast<double>(bytes) / 1e6, buckets.size(), static_cast<long long>(o.bucket_mib), sizes.c_str(), last_mb, o.overlap ? "true" : "false",
                  static_cast<long long>(replay ? profile.batch : o.batch), o.time_scale, o.steps, solo_s, bw, ar, ex,
                  st, ar > 0 ? ex / ar : 0.0);
  } else {
    std::snprintf(line, sizeof line,
                  "%s %s, %d ranks, %.1f MB in %zu buckets (cap %lld MiB, last %.1f MB), overlap %s: "
                  "solo allreduce %.1f ms | backward %.1f ms, allreduce %.1f ms, exposed %.1f ms (%.0f%%), step %.1f ms",
                  o.mode.c_str(), model.c_str(), c.size(), static_cast<double>(bytes) / 1e6, buckets.size(),
                  static_cast<long long>(o.bucket_mib), last_mb, o.overlap ? "on" : "off", solo_s * 1e3, bw * 1e3,
                  ar * 1e3, ex * 1e3, ar > 0 ? 100 * ex / ar : 0.0, st * 1e3);
  }
  std::cout << line << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.mode == "profile") {
    try {
      return run_profile(o);
    } catch (const std::exception& e) {
      std::cerr << "overlap_bench: error: " << e.what() << std::endl;
      return 1;
    }
  }
  std::unique_ptr<comm::MpiSession> session_holder;
  try {
    session_holder = std::make_unique<comm::MpiSession>();  // throws in a build without MPI
  } catch (const std::exception& e) {
    std::cerr << "overlap_bench: error: " << e.what() << std::endl;
    return 1;
  }
  const comm::MpiSession& session = *session_holder;
  if (o.comm == "ps") {
    try {
      comm::ParameterServerJob job(session, {.enabled = true, .servers = o.servers, .update_on_servers = false}, 0);
      if (job.role() == comm::PsRole::server) {
        job.serve();
        return 0;
      }
      const int rc = run_distributed(o, job.workers_comm(), &job);
      job.finish();
      return rc;
    } catch (const std::exception& e) {
      std::cerr << "overlap_bench: error: [rank " << session.rank() << "] " << e.what() << std::endl;
      session.abort(1);
    }
  }
  std::unique_ptr<comm::Communicator> c = session.make_communicator();
  try {
    const int rc = run_distributed(o, *c, nullptr);
    c.reset();
    return rc;
  } catch (const std::exception& e) {
    std::cerr << "overlap_bench: error: [rank " << session.rank() << "] " << e.what() << std::endl;
    session.abort(1);
  }
}
