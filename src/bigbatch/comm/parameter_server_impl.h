// Inside the parameter server only (it includes <mpi.h>): the state its two halves share,
// parameter_server.cpp (the job, the workers' exchange, the waits) and parameter_server_serve.cpp
// (the servers' loops). The protocol, over MPI point-to-point: worker 0 sends
// every server the key table (tag 1), then headers (tag 0) of four kinds:
//   step:   with its first bucket (and the step's lr). Bucket by bucket in the reducer's order,
//           each worker sends each server the pieces of the bucket that server holds, packed in
//           arena order (tag 3 + bucket), and receives back their sums, or with the update on
//           the servers the new weights. A server takes the buckets in the same order, waits for
//           all W pushes of one, sums them in worker order, updates if it is to, and answers.
//   load:   worker 0's weights and momentum follow, bucket by bucket (tag 2), and its last lr.
//   gather: the server sends worker 0 its momentum, bucket by bucket (tag 2).
//   stop:   the server returns.
// The buckets of one step run one at a time on each side, so nothing can deadlock. Messages
// between two ranks with one tag on one communicator do not overtake each other (MPI's rule),
// so steps cannot mix.
#pragma once

#include <bit>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bigbatch/comm/mpi_internal.h"
#include "bigbatch/comm/parameter_server.h"

namespace bigbatch::comm {
namespace ps_detail {

constexpr int kHeaderTag = 0;
constexpr int kTableTag = 1;
constexpr int kStateTag = 2;  // load and gather
constexpr int kFirstBucketTag = 3;
constexpr int kMaxBuckets = 32000;  // tags up to 32767 are guaranteed (MPI_TAG_UB)
enum HeaderKind : int64_t { kStep = 1, kStop = 2, kLoad = 3, kGather = 4 };

// {kind, step, a double's bits}: one message of three int64.
struct Header {
  int64_t words[3] = {0, 0, 0};
  Header() = default;
  Header(HeaderKind kind, int64_t step, double value) : words{kind, step, std::bit_cast<int64_t>(value)} {}
  int64_t kind() const { return words[0]; }
  int64_t step() const { return words[1]; }
  double value() const { return std::bit_cast<double>(words[2]); }
};

}  // namespace ps_detail

struct ParameterServerJob::Impl final : BucketExchange {
  PsOptions options;
  double stall_timeout_s = 0;
  int rank = 0, size = 1, workers = 1, servers = 1;
  MPI_Comm p2p = MPI_COMM_NULL;
  std::unique_ptr<ThreadedMpiCommunicator> worker_comm;  // workers only

  // After connect (workers) or the table (servers).
  std::shared_ptr<ArenaLayout> layout;  // servers: the workers' parameter layout, rebuilt
  std::vector<Bucket> buckets;
  int64_t total_elems = 0;          // workers: of the gradient arena
  float* results = nullptr;         // workers, update on the servers: the params the pulls overwrite
  double lr = 0.0;                  // workers: the next step's, for its header
  ShardUpdater* updater = nullptr;  // servers, update on the servers
  std::vector<float> state;         // servers: one bucket's weights and momentum, for load and gather
  std::vector<std::vector<std::vector<Segment>>> segments;  // [bucket][server]
  std::vector<int64_t> loads;
  std::vector<std::vector<float>> send, recv;  // per server (workers) or per worker (servers)
  int64_t steps = 0;

  bool is_server() const { return rank >= workers; }
  int server_rank(int s) const { return workers + s; }
  std::string name_of(int world_rank) const {
    return world_rank >= workers
               ? "server " + std::to_string(world_rank - workers) + " (rank " + std::to_string(world_rank) + ")"
               : "worker " + std::to_string(world_rank) + " (rank " + std::to_string(world_rank) + ")";
  }

  // Waits for every request; past the stall timeout, one line naming a peer that has not
  // answered (peers[i]: the rank of requests[i]), then the job ends. Who speaks first knows
  // best: server 0 (a missing push names the worker), then the other servers, then worker 0,
  // then the other workers, 2 s apart, so one line is printed (a worker waiting for a sum may
  // be waiting for a stopped worker's push). A gap between two polls (this process was itself
  // stopped, and continued to be killed) restarts the clock rather than blaming a peer.
  // `patience` multiplies the timeout; `what` says what was awaited, built only for that line
  // (the waits of every step allocate nothing).
  using Describe = std::function<std::string()>;
  void wait_all(std::span<MPI_Request> requests, std::span<const int> peers, const Describe& what,
                double patience = 1.0) const;

  // A patience (a factor of the timeout) past the workers' own stall watch: 2T + 10 s.
  double later_than_the_workers() const { return stall_timeout_s > 0 ? 2.0 + 10.0 / stall_timeout_s : 1.0; }

  [[noreturn]] void stalled(std::span<const MPI_Request> requests, std::span<const int> peers, const std::string& what,
                            double waited_s) const;
  // Scratch of the per-step waits, sized once (one thread of a process calls MPI).
  mutable std::vector<int> completed;
  std::vector<MPI_Request> pending;  // a bucket's requests (worker) or a step's answers (server)
  std::vector<int> pending_peers;    // the rank of each
  std::vector<MPI_Request> pushes;   // servers: a bucket's pushes, unit by unit, W each
  std::vector<int> every_worker;     // servers: 0..W-1, the peers of each unit's pushes

  // A bucket's part on one server goes in units of at most kUnitElems, each its own message:
  // a server answers a unit once it holds the W pushes of it while the next ones still arrive,
  // so pushes and pulls share the full-duplex links (BytePS's partitioning, inside a bucket).
  static constexpr int64_t kUnitElems = int64_t{1} << 18;  // 1 MiB of f32
  struct Unit {
    std::vector<Segment> segments;  // arena ranges, in packed order
    int64_t offset = 0;             // in the (bucket, server) piece, packed
    int64_t elems = 0;
    int id = -1;  // servers: this server's unit number (ShardUpdater's)
  };
  std::vector<std::vector<std::vector<Unit>>> units;  // [bucket][server]

  void plan(const std::vector<PsKey>& keys);

  // Servers: this server's units, in the order the workers send them, as ShardUpdater sees them.
  std::vector<std::vector<Segment>> own_units() const {
    std::vector<std::vector<Segment>> out;
    for (const auto& by_server : units)
      for (const Unit& u : by_server[static_cast<size_t>(rank - workers)]) out.push_back(u.segments);
    return out;
  }

  std::unique_ptr<Work> start(size_t index, float* grads, const Bucket& bucket,
                              std::function<void()> ready = {}) override;

  // On the communication thread: push bucket b's pieces to their servers, unit by unit, and
  // pull the sums (or the new weights).
  void exchange(size_t b, float* grads);

  static int64_t pack(const std::vector<Segment>& segs, const float* arena, float* out);
  static void unpack(const std::vector<Segment>& segs, const float* in, float* arena);

  // Worker 0, on the communication thread.
  void send_header(const ps_detail::Header& h) const;

  // Worker 0, on the communication thread: every unit's weights and momentum to its server.
  void send_state(const float* params, const float* momentum, double prev_lr);

  // Worker 0, on the communication thread: every unit's momentum from its server.
  void receive_momentum(float* momentum);

  // Servers: load (from worker 0) or gather (to worker 0) every unit's state of this server.
  void serve_state(bool load);

  // Servers: one step's buckets; false once worker 0 says stop.
  bool serve_step();

  // Servers, asynchronous (MXNet's dist_async): each worker's pushes are applied the moment
  // they arrive, in arrival order, and the pull answers with the weights as they are then.
  // Per worker: a header (its step and lr), its units in order, again; until it says stop.
  void serve_async();
};

}  // namespace bigbatch::comm
