// The parameter server over MPI point-to-point (see the header). The protocol: worker 0 sends
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
#include "bigbatch/comm/parameter_server.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "bigbatch/comm/mpi_internal.h"
#include "bigbatch/core/error.h"
#include "bigbatch/core/stop_request.h"

namespace bigbatch::comm {
namespace {

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

using Clock = std::chrono::steady_clock;

std::string ranks_text(int first, int count) {
  return count == 1 ? "rank " + std::to_string(first)
                    : "ranks " + std::to_string(first) + "-" + std::to_string(first + count - 1);
}

}  // namespace

struct ParameterServerJob::Impl final : BucketExchange {
  PsOptions options;
  double stall_timeout_s = 0;
  int rank = 0, size = 1, workers = 1, servers = 1;
  MPI_Comm p2p = MPI_COMM_NULL;
  std::unique_ptr<ThreadedMpiCommunicator> worker_comm;  // workers only

  // After connect (workers) or the table (servers).
  std::shared_ptr<ArenaLayout> layout;  // servers: the workers' parameter layout, rebuilt
  std::vector<Bucket> buckets;
  int64_t total_elems = 0;        // workers: of the gradient arena
  float* results = nullptr;       // workers, update on the servers: the params the pulls overwrite
  double lr = 0.0;                // workers: the next step's, for its header
  ShardUpdater* updater = nullptr;  // servers, update on the servers
  std::vector<float> state;       // servers: one bucket's weights and momentum, for load and gather
  std::vector<std::vector<std::vector<Segment>>> segments;  // [bucket][server]
  std::vector<int64_t> loads;
  std::vector<std::vector<float>> send, recv;  // per server (workers) or per worker (servers)
  int64_t steps = 0;

  bool is_server() const { return rank >= workers; }
  int server_rank(int s) const { return workers + s; }
  std::string name_of(int world_rank) const {
    return world_rank >= workers ? "server " + std::to_string(world_rank - workers) + " (rank " +
                                       std::to_string(world_rank) + ")"
                                 : "worker " + std::to_string(world_rank) + " (rank " + std::to_string(world_rank) + ")";
  }

  // Waits for every request; past the stall timeout, one line naming a peer that has not
  // answered (peers[i]: the rank of requests[i]), then the job ends. Who speaks first knows
  // best: server 0 (a missing push names the worker), then the other servers, then worker 0,
  // then the other workers, 2 s apart, so one line is printed (a worker waiting for a sum may
  // be waiting for a stopped worker's push). A gap between two polls (this process was itself
  // stopped, and continued to be killed) restarts the clock rather than blaming a peer.
  // `patience` multiplies the timeout.
  void wait_all(std::vector<MPI_Request>& requests, const std::vector<int>& peers, const std::string& what,
                double patience = 1.0) const {
    if (requests.empty()) return;
    if (stall_timeout_s <= 0) {
      MPI_CHECK(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE));
      return;
    }
    Clock::time_point start = Clock::now(), last = start;
    std::vector<int> completed(requests.size());
    size_t left = requests.size();
    for (int polls = 0;; ++polls) {
      // Testsome, not Testall: it frees what completed, so what is left names the late peers.
      int count = 0;
      MPI_CHECK(MPI_Testsome(static_cast<int>(requests.size()), requests.data(), &count, completed.data(),
                             MPI_STATUSES_IGNORE));
      if (count != MPI_UNDEFINED) left -= static_cast<size_t>(count);
      if (left == 0 || count == MPI_UNDEFINED) return;
      const Clock::time_point now = Clock::now();
      if (std::chrono::duration<double>(now - last).count() > std::min(1.0, stall_timeout_s / 4)) start = now;
      last = now;
      if (std::chrono::duration<double>(now - start).count() >= patience * stall_timeout_s)
        stalled(requests, peers, what, patience * stall_timeout_s);
      if (polls > 64) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  // A patience (a factor of the timeout) past the workers' own stall watch: 2T + 10 s.
  double later_than_the_workers() const { return stall_timeout_s > 0 ? 2.0 + 10.0 / stall_timeout_s : 1.0; }

  [[noreturn]] void stalled(const std::vector<MPI_Request>& requests, const std::vector<int>& peers,
                            const std::string& what, double waited_s) const {
    int late = peers.front();
    for (size_t i = 0; i < requests.size(); ++i)
      if (requests[i] != MPI_REQUEST_NULL) {
        late = peers[i];
        break;
      }
    remove_stop_handlers();
    const int turn = is_server() ? (rank == workers ? 0 : 1) : (rank == 0 ? 2 : 3);
    std::this_thread::sleep_for(std::chrono::seconds(2 * turn));
    std::cerr << "bigbatch: error: [" << name_of(rank) << "] stalled: " << name_of(late) << " did not answer " << what
              << " within " << waited_s << " s (--stall-timeout " << stall_timeout_s
              << "; stopped, hung or far slower); ending the job" << std::endl;
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }

  // A bucket's part on one server goes in units of at most kUnitElems, each its own message:
  // a server answers a unit once it holds the W pushes of it while the next ones still arrive,
  // so pushes and pulls share the full-duplex links (BytePS's partitioning, inside a bucket).
  static constexpr int64_t kUnitElems = int64_t{1} << 18;  // 1 MiB of f32
  struct Unit {
    std::vector<Segment> segments;  // arena ranges, in packed order
    int64_t offset = 0;             // in the (bucket, server) piece, packed
    int64_t elems = 0;
    int id = -1;                    // servers: this server's unit number (ShardUpdater's)
  };
  std::vector<std::vector<std::vector<Unit>>> units;  // [bucket][server]

  void plan(const std::vector<PsKey>& keys) {
    const std::vector<ShardPart> parts =
        shard_keys(keys, {servers, options.bigarray_bound, options.partition_bytes});
    segments = bucket_segments(parts, buckets, servers);
    loads = comm::server_loads(parts, servers);
    units.assign(buckets.size(), std::vector<std::vector<Unit>>(static_cast<size_t>(servers)));
    int next_id = 0;
    std::vector<int64_t> most(static_cast<size_t>(servers), 0);
    for (size_t b = 0; b < buckets.size(); ++b)
      for (int s = 0; s < servers; ++s) {
        std::vector<Unit>& list = units[b][static_cast<size_t>(s)];
        int64_t at = 0;
        for (const Segment& seg : segments[b][static_cast<size_t>(s)])
          for (int64_t begin = seg.begin; begin < seg.end;) {
            if (list.empty() || list.back().elems == kUnitElems) list.push_back({{}, at, 0, -1});
            const int64_t take = std::min(seg.end - begin, kUnitElems - list.back().elems);
            list.back().segments.push_back({begin, begin + take});
            list.back().elems += take;
            begin += take;
            at += take;
          }
        if (is_server() && s == rank - workers)
          for (Unit& u : list) u.id = next_id++;
        most[static_cast<size_t>(s)] = std::max(most[static_cast<size_t>(s)], at);
      }
    const int peers = is_server() ? workers : servers;
    const int64_t own_most = is_server() ? most[static_cast<size_t>(rank - workers)] : 0;
    send.assign(static_cast<size_t>(peers), {});
    recv.assign(static_cast<size_t>(peers), {});
    for (int p = 0; p < peers; ++p) {
      const int64_t n = is_server() ? own_most : most[static_cast<size_t>(p)];
      recv[static_cast<size_t>(p)].resize(static_cast<size_t>(n));
      if (!is_server()) send[static_cast<size_t>(p)].resize(static_cast<size_t>(n));
    }
  }

  // Servers: this server's units, in the order the workers send them, as ShardUpdater sees them.
  std::vector<std::vector<Segment>> own_units() const {
    std::vector<std::vector<Segment>> out;
    for (const auto& by_server : units)
      for (const Unit& u : by_server[static_cast<size_t>(rank - workers)]) out.push_back(u.segments);
    return out;
  }

  std::unique_ptr<Work> start(size_t index, float* grads, const Bucket& bucket) override {
    BIGBATCH_CHECK(!options.update_on_servers || results != nullptr,
                   "[ps] the update is on the servers but no parameters were set to pull into");
    BIGBATCH_CHECK(index < buckets.size() && bucket.begin == buckets[index].begin && bucket.end == buckets[index].end,
                   "[ps] bucket " << index << " is not the one the servers were given");
    return worker_comm->submit([this, index, grads] { exchange(index, grads); });
  }

  // On the communication thread: push bucket b's pieces to their servers, unit by unit, and
  // pull the sums (or the new weights).
  void exchange(size_t b, float* grads) {
    // Synchronous: worker 0 speaks for the step. Asynchronous: each worker for its own.
    if (b == 0 && (rank == 0 || options.async)) send_header({kStep, steps, lr});
    if (b == 0) ++steps;
    std::vector<MPI_Request> requests;
    std::vector<int> peers;
    const int tag = kFirstBucketTag + static_cast<int>(b);
    for (int s = 0; s < servers; ++s) {
      const std::vector<Unit>& list = units[b][static_cast<size_t>(s)];
      if (list.empty()) continue;
      float* out = send[static_cast<size_t>(s)].data();
      float* in = recv[static_cast<size_t>(s)].data();
      pack(segments[b][static_cast<size_t>(s)], grads, out);
      for (const Unit& u : list) {
        requests.push_back(MPI_REQUEST_NULL);
        MPI_CHECK(MPI_Irecv(in + u.offset, static_cast<int>(u.elems), MPI_FLOAT, server_rank(s), tag, p2p,
                            &requests.back()));
        requests.push_back(MPI_REQUEST_NULL);
        MPI_CHECK(MPI_Isend(out + u.offset, static_cast<int>(u.elems), MPI_FLOAT, server_rank(s), tag, p2p,
                            &requests.back()));
        peers.insert(peers.end(), {server_rank(s), server_rank(s)});
      }
    }
    wait_all(requests, peers, "bucket " + std::to_string(b) + " of step " + std::to_string(steps - 1));
    float* into = results != nullptr ? results : grads;  // the new weights, or the sums
    for (int s = 0; s < servers; ++s) unpack(segments[b][static_cast<size_t>(s)], recv[static_cast<size_t>(s)].data(), into);
  }

  static int64_t pack(const std::vector<Segment>& segs, const float* arena, float* out) {
    int64_t n = 0;
    for (const Segment& seg : segs) {
      std::copy(arena + seg.begin, arena + seg.end, out + n);
      n += seg.elems();
    }
    return n;
  }
  static void unpack(const std::vector<Segment>& segs, const float* in, float* arena) {
    for (const Segment& seg : segs) {
      std::copy(in, in + seg.elems(), arena + seg.begin);
      in += seg.elems();
    }
  }

  // Worker 0, on the communication thread.
  void send_header(const Header& h) const {
    for (int s = 0; s < servers; ++s) MPI_CHECK(MPI_Send(h.words, 3, MPI_INT64_T, server_rank(s), kHeaderTag, p2p));
  }

  // Worker 0, on the communication thread: every unit's weights and momentum to its server.
  void send_state(const float* params, const float* momentum, double prev_lr) {
    send_header({kLoad, steps, prev_lr});
    std::vector<float> w, m;
    for (size_t b = 0; b < buckets.size(); ++b)
      for (int s = 0; s < servers; ++s) {
        const std::vector<Segment>& segs = segments[b][static_cast<size_t>(s)];
        int64_t n = 0;
        for (const Segment& seg : segs) n += seg.elems();
        w.resize(static_cast<size_t>(n));
        m.resize(static_cast<size_t>(n));
        pack(segs, params, w.data());
        pack(segs, momentum, m.data());
        for (const Unit& u : units[b][static_cast<size_t>(s)]) {
          std::vector<MPI_Request> requests(2, MPI_REQUEST_NULL);
          MPI_CHECK(MPI_Isend(w.data() + u.offset, static_cast<int>(u.elems), MPI_FLOAT, server_rank(s), kStateTag,
                              p2p, &requests[0]));
          MPI_CHECK(MPI_Isend(m.data() + u.offset, static_cast<int>(u.elems), MPI_FLOAT, server_rank(s), kStateTag,
                              p2p, &requests[1]));
          wait_all(requests, {server_rank(s), server_rank(s)}, "the model of bucket " + std::to_string(b));
        }
      }
  }

  // Worker 0, on the communication thread: every unit's momentum from its server.
  void receive_momentum(float* momentum) {
    send_header({kGather, steps, 0.0});
    for (size_t b = 0; b < buckets.size(); ++b)
      for (int s = 0; s < servers; ++s) {
        float* in = recv[static_cast<size_t>(s)].data();
        for (const Unit& u : units[b][static_cast<size_t>(s)]) {
          std::vector<MPI_Request> request(1, MPI_REQUEST_NULL);
          MPI_CHECK(MPI_Irecv(in + u.offset, static_cast<int>(u.elems), MPI_FLOAT, server_rank(s), kStateTag, p2p,
                              &request[0]));
          wait_all(request, {server_rank(s)}, "with the momentum of bucket " + std::to_string(b));
        }
        unpack(segments[b][static_cast<size_t>(s)], in, momentum);
      }
  }

  // Servers: load (from worker 0) or gather (to worker 0) every unit's state of this server.
  void serve_state(bool load) {
    const size_t own = static_cast<size_t>(rank - workers);
    for (size_t b = 0; b < buckets.size(); ++b)
      for (const Unit& u : units[b][own]) {
        state.resize(2 * static_cast<size_t>(u.elems));
        std::vector<MPI_Request> requests(load ? 2 : 1, MPI_REQUEST_NULL);
        const std::string what = "the model of bucket " + std::to_string(b);
        if (load) {
          MPI_CHECK(MPI_Irecv(state.data(), static_cast<int>(u.elems), MPI_FLOAT, 0, kStateTag, p2p, &requests[0]));
          MPI_CHECK(MPI_Irecv(state.data() + u.elems, static_cast<int>(u.elems), MPI_FLOAT, 0, kStateTag, p2p,
                              &requests[1]));
          wait_all(requests, {0, 0}, "with " + what);
          updater->load(static_cast<size_t>(u.id), state.data(), state.data() + u.elems);
        } else {
          updater->read_momentum(static_cast<size_t>(u.id), state.data());
          MPI_CHECK(MPI_Isend(state.data(), static_cast<int>(u.elems), MPI_FLOAT, 0, kStateTag, p2p, &requests[0]));
          wait_all(requests, {0}, what + " (its momentum)");
        }
      }
  }

  // Servers: one step's buckets; false once worker 0 says stop.
  bool serve_step() {
    Header header;
    std::vector<MPI_Request> requests(1, MPI_REQUEST_NULL);
    MPI_CHECK(MPI_Irecv(header.words, 3, MPI_INT64_T, 0, kHeaderTag, p2p, &requests[0]));
    // Between steps the workers evaluate and checkpoint, and their own stall watch names a
    // worker that stops there (at the timeout plus its 8 s deferral): more patience than that.
    wait_all(requests, {0}, "with the next step", later_than_the_workers());
    if (header.kind() == kStop) return false;
    const bool updates = options.update_on_servers;
    if (header.kind() == kLoad || header.kind() == kGather) {
      BIGBATCH_CHECK(updates, "[ps] server " << rank - workers << ": a model to " << (header.kind() == kLoad ? "load" : "gather")
                                             << " while the workers update");
      serve_state(header.kind() == kLoad);
      if (header.kind() == kLoad) updater->set_prev_lr(header.value());
      return true;
    }
    BIGBATCH_CHECK(header.kind() == kStep, "[ps] server " << rank - workers << ": a header of kind " << header.kind());
    const size_t own = static_cast<size_t>(rank - workers);
    std::vector<int> peers(static_cast<size_t>(workers));
    for (int w = 0; w < workers; ++w) peers[static_cast<size_t>(w)] = w;
    std::vector<MPI_Request> answers;
    std::vector<int> answered;
    for (size_t b = 0; b < buckets.size(); ++b) {
      const std::vector<Unit>& list = units[b][own];
      if (list.empty()) continue;
      const int tag = kFirstBucketTag + static_cast<int>(b);
      // Every unit's pushes are posted at once; each is answered as soon as it is whole.
      std::vector<std::vector<MPI_Request>> pushes(list.size(), std::vector<MPI_Request>(static_cast<size_t>(workers)));
      for (size_t u = 0; u < list.size(); ++u)
        for (int w = 0; w < workers; ++w)
          MPI_CHECK(MPI_Irecv(recv[static_cast<size_t>(w)].data() + list[u].offset, static_cast<int>(list[u].elems),
                              MPI_FLOAT, w, tag, p2p, &pushes[u][static_cast<size_t>(w)]));
      const std::string what = "bucket " + std::to_string(b) + " of step " + std::to_string(header.step());
      for (size_t u = 0; u < list.size(); ++u) {
        wait_all(pushes[u], peers, what);
        float* sum = recv[0].data() + list[u].offset;
        for (int w = 1; w < workers; ++w) {  // in worker order: the same sum on every server and run
          const float* add = recv[static_cast<size_t>(w)].data() + list[u].offset;
          for (int64_t i = 0; i < list[u].elems; ++i) sum[i] += add[i];
        }
        if (updates) updater->update(static_cast<size_t>(list[u].id), sum, header.value());  // sum -> weights
        for (int w = 0; w < workers; ++w) {
          answers.push_back(MPI_REQUEST_NULL);
          MPI_CHECK(MPI_Isend(sum, static_cast<int>(list[u].elems), MPI_FLOAT, w, tag, p2p, &answers.back()));
          answered.push_back(w);
        }
      }
      // A worker stopped after its push: the others' stall watch names it first, in their next
      // collective. The next bucket reuses the buffers.
      wait_all(answers, answered, what + " (the sum)", later_than_the_workers());
      answers.clear();
      answered.clear();
    }
    return true;
  }

  // Servers, asynchronous (MXNet's dist_async): each worker's pushes are applied the moment
  // they arrive, in arrival order, and the pull answers with the weights as they are then.
  // Per worker: a header (its step and lr), its units in order, again; until it says stop.
  void serve_async() {
    const size_t own = static_cast<size_t>(rank - workers);
    std::vector<std::pair<size_t, size_t>> order;  // (bucket, unit) in the order workers send them
    for (size_t b = 0; b < buckets.size(); ++b)
      for (size_t u = 0; u < units[b][own].size(); ++u) order.emplace_back(b, u);
    struct Peer {
      Header header;
      int64_t next = -1;  // index into order being received; -1: a header
    };
    std::vector<Peer> peer(static_cast<size_t>(workers));
    std::vector<MPI_Request> incoming(static_cast<size_t>(workers), MPI_REQUEST_NULL);
    std::vector<MPI_Request> outgoing(static_cast<size_t>(workers), MPI_REQUEST_NULL);
    std::vector<std::vector<float>> answer(static_cast<size_t>(workers));
    auto post = [&](int w) {
      Peer& p = peer[static_cast<size_t>(w)];
      if (p.next < 0) {
        MPI_CHECK(MPI_Irecv(p.header.words, 3, MPI_INT64_T, w, kHeaderTag, p2p, &incoming[static_cast<size_t>(w)]));
        return;
      }
      const auto [b, u] = order[static_cast<size_t>(p.next)];
      MPI_CHECK(MPI_Irecv(recv[static_cast<size_t>(w)].data(), static_cast<int>(units[b][own][u].elems), MPI_FLOAT, w,
                          kFirstBucketTag + static_cast<int>(b), p2p, &incoming[static_cast<size_t>(w)]));
    };
    for (int w = 0; w < workers; ++w) post(w);
    int active = workers;
    while (active > 0) {
      int w = MPI_UNDEFINED;
      MPI_CHECK(MPI_Waitany(workers, incoming.data(), &w, MPI_STATUS_IGNORE));
      if (w == MPI_UNDEFINED) break;
      Peer& p = peer[static_cast<size_t>(w)];
      if (p.next < 0) {
        const int64_t kind = p.header.kind();
        if (kind == kStop) {
          --active;
          continue;
        }
        if (kind == kGather || kind == kLoad) {
          BIGBATCH_CHECK(w == 0, "[ps] a model to load or gather from worker " << w);
          serve_state(kind == kLoad);
          if (kind == kLoad) updater->set_prev_lr(p.header.value());
        } else {
          BIGBATCH_CHECK(kind == kStep, "[ps] server " << own << ": a header of kind " << kind);
          p.next = order.empty() ? -1 : 0;
        }
        post(w);
        continue;
      }
      const auto [b, u] = order[static_cast<size_t>(p.next)];
      const Unit& unit = units[b][own][u];
      MPI_CHECK(MPI_Wait(&outgoing[static_cast<size_t>(w)], MPI_STATUS_IGNORE));  // its last answer left
      std::vector<float>& out = answer[static_cast<size_t>(w)];
      out.assign(recv[static_cast<size_t>(w)].begin(), recv[static_cast<size_t>(w)].begin() + unit.elems);
      updater->update(static_cast<size_t>(unit.id), out.data(), p.header.value());  // this worker's gradient alone
      MPI_CHECK(MPI_Isend(out.data(), static_cast<int>(unit.elems), MPI_FLOAT, w, kFirstBucketTag + static_cast<int>(b),
                          p2p, &outgoing[static_cast<size_t>(w)]));
      p.next = p.next + 1 < static_cast<int64_t>(order.size()) ? p.next + 1 : -1;
      post(w);
    }
    MPI_CHECK(MPI_Waitall(workers, outgoing.data(), MPI_STATUSES_IGNORE));
  }
};

ParameterServerJob::ParameterServerJob(const MpiSession& session, const PsOptions& options, double stall_timeout_s)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.options = options;
  m.stall_timeout_s = stall_timeout_s;
  m.rank = session.rank();
  m.size = session.size();
  BIGBATCH_CHECK(options.servers >= 1 && options.servers < m.size,
                 "[ps] ps-servers: expected 1 to " << m.size - 1 << " servers of the job's " << m.size
                                                   << " ranks (at least one worker), got " << options.servers);
  m.servers = options.servers;
  m.workers = m.size - m.servers;
  // On the main thread, before any communication thread exists: every rank in the same order.
  MPI_Comm split = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, m.is_server() ? 1 : 0, m.rank, &split));
  MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &m.p2p));
  MPI_CHECK(MPI_Comm_set_errhandler(m.p2p, MPI_ERRORS_RETURN));
  // The workers' stall watch speaks after every wait of the exchange could have (2 s turns).
  if (!m.is_server()) m.worker_comm = make_mpi_communicator(split, stall_timeout_s, 8.0);
  MPI_CHECK(MPI_Comm_free(&split));
}

ParameterServerJob::~ParameterServerJob() {
  impl_->worker_comm.reset();  // joins the communication thread: from here this thread calls MPI
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&impl_->p2p);
}

PsRole ParameterServerJob::role() const { return impl_->is_server() ? PsRole::server : PsRole::worker; }
int ParameterServerJob::index() const { return impl_->is_server() ? impl_->rank - impl_->workers : impl_->rank; }
int ParameterServerJob::workers() const { return impl_->workers; }
int ParameterServerJob::servers() const { return impl_->servers; }

std::string ParameterServerJob::describe() const {
  const Impl& m = *impl_;
  return ranks_text(0, m.workers) + (m.workers == 1 ? " is worker 0, " : " are workers 0-" + std::to_string(m.workers - 1) + ", ") +
         ranks_text(m.workers, m.servers) +
         (m.servers == 1 ? " is server 0" : " are servers 0-" + std::to_string(m.servers - 1));
}

Communicator& ParameterServerJob::workers_comm() {
  BIGBATCH_CHECK(impl_->worker_comm != nullptr, "[ps] a server has no workers' communicator");
  return *impl_->worker_comm;
}

BucketExchange& ParameterServerJob::connect(const ArenaLayout& layout, const std::vector<Bucket>& buckets) {
  Impl& m = *impl_;
  BIGBATCH_CHECK(m.worker_comm != nullptr, "[ps] only workers connect");
  BIGBATCH_CHECK(m.buckets.empty(), "[ps] connect() was called twice");
  BIGBATCH_CHECK(!buckets.empty() && buckets.size() <= kMaxBuckets,
                 "[ps] " << buckets.size() << " buckets; the parameter server takes 1 to " << kMaxBuckets
                         << " (raise --bucket-mib)");
  m.buckets = buckets;
  m.total_elems = layout.total_elems();
  std::vector<PsKey> keys;
  for (const ArenaEntry& e : layout.entries()) keys.push_back({e.offset, e.shape.numel()});
  m.plan(keys);
  if (m.rank == 0) {
    // The table: counts, sharding and update options, then the keys and the buckets.
    std::vector<int64_t> table = {static_cast<int64_t>(keys.size()), static_cast<int64_t>(buckets.size()),
                                  m.options.bigarray_bound, m.options.partition_bytes,
                                  m.options.update_on_servers ? 1 : 0, m.options.async ? 1 : 0};
    for (const ArenaEntry& e : layout.entries())
      table.insert(table.end(), {e.offset, e.shape.numel(), static_cast<int64_t>(e.role)});
    for (const Bucket& b : buckets) table.insert(table.end(), {b.begin, b.end});
    const int64_t count = static_cast<int64_t>(table.size());
    BIGBATCH_CHECK(count <= INT32_MAX, "[ps] a key table of " << count << " numbers");
    m.worker_comm
        ->submit([&] {
          for (int s = 0; s < m.servers; ++s) {
            MPI_CHECK(MPI_Send(&count, 1, MPI_INT64_T, m.server_rank(s), kTableTag, m.p2p));
            MPI_CHECK(MPI_Send(table.data(), static_cast<int>(count), MPI_INT64_T, m.server_rank(s), kTableTag, m.p2p));
          }
        })
        ->wait();
  }
  return m;
}

bool ParameterServerJob::update_on_servers() const { return impl_->options.update_on_servers; }

void ParameterServerJob::set_parameters(const Arena& params) {
  Impl& m = *impl_;
  BIGBATCH_CHECK(m.options.update_on_servers, "[ps] set_parameters: the workers update");
  BIGBATCH_CHECK(params.total_elems() == m.total_elems && params.device() == Device::cpu,
                 "[ps] the parameters must be a host arena of the gradients' layout");
  m.results = params.data();
}

void ParameterServerJob::set_lr(double lr) { impl_->lr = lr; }

void ParameterServerJob::load_servers(const Arena& params, const Arena& momentum, double prev_lr) {
  Impl& m = *impl_;
  BIGBATCH_CHECK(m.options.update_on_servers && !m.buckets.empty(), "[ps] load_servers: no update on the servers");
  if (m.rank != 0) return;
  m.worker_comm->submit([&] { m.send_state(params.data(), momentum.data(), prev_lr); })->wait();
}

void ParameterServerJob::gather_momentum(const Arena& momentum) {
  Impl& m = *impl_;
  BIGBATCH_CHECK(m.options.update_on_servers && m.rank == 0, "[ps] gather_momentum: worker 0, update on the servers");
  m.worker_comm->submit([&] { m.receive_momentum(momentum.data()); })->wait();
}

const std::vector<int64_t>& ParameterServerJob::server_loads() const { return impl_->loads; }

void ParameterServerJob::finish() {
  Impl& m = *impl_;
  // Synchronous: worker 0 speaks for all; asynchronous: each worker for itself.
  if (m.worker_comm == nullptr || (m.rank != 0 && !m.options.async)) return;
  m.worker_comm->submit([&] { m.send_header({kStop, m.steps, 0.0}); })->wait();
}

void ParameterServerJob::serve(ShardUpdater* updater) {
  Impl& m = *impl_;
  BIGBATCH_CHECK(m.is_server(), "[ps] only servers serve");
  int64_t count = 0;
  std::vector<MPI_Request> request(1, MPI_REQUEST_NULL);
  MPI_CHECK(MPI_Irecv(&count, 1, MPI_INT64_T, 0, kTableTag, m.p2p, &request[0]));
  m.wait_all(request, {0}, "with the key table");
  BIGBATCH_CHECK(count >= 6 && count <= INT32_MAX, "[ps] a key table of " << count << " numbers");
  std::vector<int64_t> table(static_cast<size_t>(count));
  MPI_CHECK(MPI_Recv(table.data(), static_cast<int>(count), MPI_INT64_T, 0, kTableTag, m.p2p, MPI_STATUS_IGNORE));
  const int64_t n_keys = table[0], n_buckets = table[1];
  BIGBATCH_CHECK(n_keys >= 0 && n_buckets >= 1 && n_buckets <= kMaxBuckets && count == 6 + 3 * n_keys + 2 * n_buckets,
                 "[ps] a malformed key table");
  // Worker 0's options: what the workers shard and update by.
  m.options.bigarray_bound = table[2];
  m.options.partition_bytes = table[3];
  m.options.update_on_servers = table[4] != 0;
  m.options.async = table[5] != 0;
  BIGBATCH_CHECK(!m.options.update_on_servers || updater != nullptr,
                 "[ps] server " << m.rank - m.workers << ": the update is on the servers but there is no optimizer");
  m.updater = updater;
  m.layout = std::make_shared<ArenaLayout>();
  std::vector<PsKey> keys;
  for (int64_t k = 0; k < n_keys; ++k) {
    const int64_t* key = &table[static_cast<size_t>(6 + 3 * k)];
    keys.push_back({key[0], key[1]});
    BIGBATCH_CHECK(key[1] >= 0 && key[2] >= 0 && key[2] <= static_cast<int64_t>(TensorRole::bn_running_var),
                   "[ps] a malformed key " << k);
    m.layout->add("key" + std::to_string(k), Shape{key[1]}, static_cast<TensorRole>(key[2]));
    BIGBATCH_CHECK(m.layout->entry(static_cast<int>(k)).offset == key[0],
                   "[ps] key " << k << " at " << key[0] << " is not where the arena's rule puts it");
  }
  for (int64_t b = 0; b < n_buckets; ++b) {
    const int64_t* bucket = &table[static_cast<size_t>(6 + 3 * n_keys + 2 * b)];
    m.buckets.push_back({bucket[0], bucket[1], {}});
  }
  m.plan(keys);
  if (updater != nullptr && m.options.update_on_servers) {
    updater->plan(m.layout, m.own_units());
  }
  if (m.options.async) {
    // The model first: worker 0 loads it before any worker's first push is taken.
    Header header;
    std::vector<MPI_Request> first(1, MPI_REQUEST_NULL);
    MPI_CHECK(MPI_Irecv(header.words, 3, MPI_INT64_T, 0, kHeaderTag, m.p2p, &first[0]));
    m.wait_all(first, {0}, "with the model", m.later_than_the_workers());
    BIGBATCH_CHECK(header.kind() == kLoad, "[ps] asynchronous: the first header is not the model");
    m.serve_state(true);
    updater->set_prev_lr(header.value());
    m.serve_async();
    return;
  }
  while (m.serve_step()) {
  }
}

}  // namespace bigbatch::comm
