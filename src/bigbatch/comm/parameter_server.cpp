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

  void plan(const std::vector<PsKey>& keys) {
    const std::vector<ShardPart> parts =
        shard_keys(keys, {servers, options.bigarray_bound, options.partition_bytes});
    segments = bucket_segments(parts, buckets, servers);
    loads = comm::server_loads(parts, servers);
    const int peers = is_server() ? workers : servers;
    std::vector<int64_t> most(static_cast<size_t>(peers), 0);
    for (const auto& by_server : segments)
      for (int s = 0; s < servers; ++s) {
        int64_t n = 0;
        for (const Segment& seg : by_server[static_cast<size_t>(s)]) n += seg.elems();
        if (is_server()) {
          if (s == rank - workers) std::fill(most.begin(), most.end(), std::max(most.front(), n));
        } else {
          most[static_cast<size_t>(s)] = std::max(most[static_cast<size_t>(s)], n);
        }
      }
    send.assign(static_cast<size_t>(peers), {});
    recv.assign(static_cast<size_t>(peers), {});
    for (int p = 0; p < peers; ++p) {
      recv[static_cast<size_t>(p)].resize(static_cast<size_t>(most[static_cast<size_t>(p)]));
      if (!is_server()) send[static_cast<size_t>(p)].resize(static_cast<size_t>(most[static_cast<size_t>(p)]));
    }
  }

  std::unique_ptr<Work> start(size_t index, float* grads, const Bucket& bucket) override {
    BIGBATCH_CHECK(!options.update_on_servers || results != nullptr,
                   "[ps] the update is on the servers but no parameters were set to pull into");
    BIGBATCH_CHECK(index < buckets.size() && bucket.begin == buckets[index].begin && bucket.end == buckets[index].end,
                   "[ps] bucket " << index << " is not the one the servers were given");
    return worker_comm->submit([this, index, grads] { exchange(index, grads); });
  }

  // On the communication thread: push bucket b's pieces to their servers, pull the sums.
  void exchange(size_t b, float* grads) {
    // Synchronous: worker 0 speaks for the step. Asynchronous: each worker for its own.
    if (b == 0 && (rank == 0 || options.async)) send_header({kStep, steps, lr});
    if (b == 0) ++steps;
    std::vector<MPI_Request> requests;
    std::vector<int> peers;
    const int tag = kFirstBucketTag + static_cast<int>(b);
    for (int s = 0; s < servers; ++s) {
      const std::vector<Segment>& segs = segments[b][static_cast<size_t>(s)];
      if (segs.empty()) continue;
      float* out = send[static_cast<size_t>(s)].data();
      int64_t n = 0;
      for (const Segment& seg : segs) {
        std::copy(grads + seg.begin, grads + seg.end, out + n);
        n += seg.elems();
      }
      requests.push_back(MPI_REQUEST_NULL);
      MPI_CHECK(MPI_Irecv(recv[static_cast<size_t>(s)].data(), static_cast<int>(n), MPI_FLOAT, server_rank(s), tag,
                          p2p, &requests.back()));
      peers.push_back(server_rank(s));
      requests.push_back(MPI_REQUEST_NULL);
      MPI_CHECK(MPI_Isend(out, static_cast<int>(n), MPI_FLOAT, server_rank(s), tag, p2p, &requests.back()));
      peers.push_back(server_rank(s));
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
  int64_t piece(size_t b, int s) const {
    int64_t n = 0;
    for (const Segment& seg : segments[b][static_cast<size_t>(s)]) n += seg.elems();
    return n;
  }

  // Worker 0, on the communication thread.
  void send_header(const Header& h) const {
    for (int s = 0; s < servers; ++s) MPI_CHECK(MPI_Send(h.words, 3, MPI_INT64_T, server_rank(s), kHeaderTag, p2p));
  }

  // Worker 0, on the communication thread: every bucket's weights and momentum to its servers.
  void send_state(const float* params, const float* momentum, double prev_lr) {
    send_header({kLoad, steps, prev_lr});
    std::vector<float> w, m;
    for (size_t b = 0; b < buckets.size(); ++b)
      for (int s = 0; s < servers; ++s) {
        const int64_t n = piece(b, s);
        if (n == 0) continue;
        w.resize(static_cast<size_t>(n));
        m.resize(static_cast<size_t>(n));
        pack(segments[b][static_cast<size_t>(s)], params, w.data());
        pack(segments[b][static_cast<size_t>(s)], momentum, m.data());
        std::vector<MPI_Request> requests(2, MPI_REQUEST_NULL);
        MPI_CHECK(MPI_Isend(w.data(), static_cast<int>(n), MPI_FLOAT, server_rank(s), kStateTag, p2p, &requests[0]));
        MPI_CHECK(MPI_Isend(m.data(), static_cast<int>(n), MPI_FLOAT, server_rank(s), kStateTag, p2p, &requests[1]));
        wait_all(requests, {server_rank(s), server_rank(s)}, "the model of bucket " + std::to_string(b));
      }
  }

  // Worker 0, on the communication thread: every bucket's momentum from its servers.
  void receive_momentum(float* momentum) {
    send_header({kGather, steps, 0.0});
    std::vector<float> m;
    for (size_t b = 0; b < buckets.size(); ++b)
      for (int s = 0; s < servers; ++s) {
        const int64_t n = piece(b, s);
        if (n == 0) continue;
        m.resize(static_cast<size_t>(n));
        std::vector<MPI_Request> request(1, MPI_REQUEST_NULL);
        MPI_CHECK(MPI_Irecv(m.data(), static_cast<int>(n), MPI_FLOAT, server_rank(s), kStateTag, p2p, &request[0]));
        wait_all(request, {server_rank(s)}, "with the momentum of bucket " + std::to_string(b));
        unpack(segments[b][static_cast<size_t>(s)], m.data(), momentum);
      }
  }

  // Servers: load (from worker 0) or gather (to worker 0) every bucket's state of this server.
  void serve_state(bool load) {
    const int own = rank - workers;
    for (size_t b = 0; b < buckets.size(); ++b) {
      const int64_t n = piece(b, own);
      if (n == 0) continue;
      state.resize(2 * static_cast<size_t>(n));
      std::vector<MPI_Request> requests(load ? 2 : 1, MPI_REQUEST_NULL);
      const std::string what = "the model of bucket " + std::to_string(b);
      if (load) {
        MPI_CHECK(MPI_Irecv(state.data(), static_cast<int>(n), MPI_FLOAT, 0, kStateTag, p2p, &requests[0]));
        MPI_CHECK(MPI_Irecv(state.data() + n, static_cast<int>(n), MPI_FLOAT, 0, kStateTag, p2p, &requests[1]));
        wait_all(requests, {0, 0}, "with " + what);
        updater->load(b, state.data(), state.data() + n);
      } else {
        updater->read_momentum(b, state.data());
        MPI_CHECK(MPI_Isend(state.data(), static_cast<int>(n), MPI_FLOAT, 0, kStateTag, p2p, &requests[0]));
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
    // worker that stops there: twice the patience.
    wait_all(requests, {0}, "with the next step", 2.0);
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
    for (size_t b = 0; b < buckets.size(); ++b) {
      int64_t n = 0;
      for (const Segment& seg : segments[b][own]) n += seg.elems();
      if (n == 0) continue;
      const int tag = kFirstBucketTag + static_cast<int>(b);
      requests.assign(static_cast<size_t>(workers), MPI_REQUEST_NULL);
      std::vector<int> peers(static_cast<size_t>(workers));
      for (int w = 0; w < workers; ++w) {
        peers[static_cast<size_t>(w)] = w;
        MPI_CHECK(MPI_Irecv(recv[static_cast<size_t>(w)].data(), static_cast<int>(n), MPI_FLOAT, w, tag, p2p,
                            &requests[static_cast<size_t>(w)]));
      }
      const std::string what = "bucket " + std::to_string(b) + " of step " + std::to_string(header.step());
      wait_all(requests, peers, what);
      float* sum = recv[0].data();
      for (int w = 1; w < workers; ++w) {  // in worker order: the same sum on every server and run
        const float* add = recv[static_cast<size_t>(w)].data();
        for (int64_t i = 0; i < n; ++i) sum[i] += add[i];
      }
      if (updates) updater->update(b, sum, header.value());  // the sum becomes the new weights
      for (int w = 0; w < workers; ++w)
        MPI_CHECK(MPI_Isend(sum, static_cast<int>(n), MPI_FLOAT, w, tag, p2p, &requests[static_cast<size_t>(w)]));
      // A worker stopped after its push: the others' stall watch names it first, in their next
      // collective (twice the patience here).
      wait_all(requests, peers, what + " (the sum)", 2.0);
    }
    return true;
  }

  // Servers, asynchronous (MXNet's dist_async): each worker's pushes are applied the moment
  // they arrive, in arrival order, and the pull answers with the weights as they are then.
  // Per worker: a header (its step and lr), its buckets in order, again; until it says stop.
  void serve_async() {
    const size_t own = static_cast<size_t>(rank - workers);
    struct Peer {
      Header header;
      int64_t bucket = -1;  // the bucket being received; -1: a header
      bool done = false;
    };
    std::vector<Peer> peer(static_cast<size_t>(workers));
    std::vector<MPI_Request> incoming(static_cast<size_t>(workers), MPI_REQUEST_NULL);
    std::vector<MPI_Request> outgoing(static_cast<size_t>(workers), MPI_REQUEST_NULL);
    std::vector<std::vector<float>> answer(static_cast<size_t>(workers));
    auto next_bucket = [&](int64_t after) {
      for (auto b = static_cast<size_t>(after + 1); b < buckets.size(); ++b)
        if (piece(b, static_cast<int>(own)) > 0) return static_cast<int64_t>(b);
      return int64_t{-1};
    };
    auto post = [&](int w) {
      Peer& p = peer[static_cast<size_t>(w)];
      if (p.bucket < 0)
        MPI_CHECK(MPI_Irecv(p.header.words, 3, MPI_INT64_T, w, kHeaderTag, p2p, &incoming[static_cast<size_t>(w)]));
      else
        MPI_CHECK(MPI_Irecv(recv[static_cast<size_t>(w)].data(), static_cast<int>(piece(static_cast<size_t>(p.bucket), static_cast<int>(own))),
                            MPI_FLOAT, w, kFirstBucketTag + static_cast<int>(p.bucket), p2p, &incoming[static_cast<size_t>(w)]));
    };
    for (int w = 0; w < workers; ++w) post(w);
    int active = workers;
    while (active > 0) {
      int w = MPI_UNDEFINED;
      MPI_CHECK(MPI_Waitany(workers, incoming.data(), &w, MPI_STATUS_IGNORE));
      if (w == MPI_UNDEFINED) break;
      Peer& p = peer[static_cast<size_t>(w)];
      if (p.bucket < 0) {
        const int64_t kind = p.header.kind();
        if (kind == kStop) {
          p.done = true;
          --active;
          continue;
        }
        if (kind == kGather || kind == kLoad) {
          BIGBATCH_CHECK(w == 0, "[ps] a model to load or gather from worker " << w);
          serve_state(kind == kLoad);
          if (kind == kLoad) updater->set_prev_lr(p.header.value());
        } else {
          BIGBATCH_CHECK(kind == kStep, "[ps] server " << own << ": a header of kind " << kind);
          p.bucket = next_bucket(-1);
        }
        post(w);
        continue;
      }
      const auto b = static_cast<size_t>(p.bucket);
      const int64_t n = piece(b, static_cast<int>(own));
      MPI_CHECK(MPI_Wait(&outgoing[static_cast<size_t>(w)], MPI_STATUS_IGNORE));  // its last answer left
      std::vector<float>& out = answer[static_cast<size_t>(w)];
      out.assign(recv[static_cast<size_t>(w)].begin(), recv[static_cast<size_t>(w)].begin() + n);
      updater->update(b, out.data(), p.header.value());  // this worker's gradient alone
      MPI_CHECK(MPI_Isend(out.data(), static_cast<int>(n), MPI_FLOAT, w, kFirstBucketTag + static_cast<int>(b), p2p,
                          &outgoing[static_cast<size_t>(w)]));
      p.bucket = next_bucket(p.bucket);
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
  if (!m.is_server()) m.worker_comm = make_mpi_communicator(split, stall_timeout_s);
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
    std::vector<std::vector<Segment>> own;
    for (const auto& by_server : m.segments) own.push_back(by_server[static_cast<size_t>(m.rank - m.workers)]);
    updater->plan(m.layout, own);
  }
  if (m.options.async) {
    // The model first: worker 0 loads it before any worker's first push is taken.
    Header header;
    std::vector<MPI_Request> first(1, MPI_REQUEST_NULL);
    MPI_CHECK(MPI_Irecv(header.words, 3, MPI_INT64_T, 0, kHeaderTag, m.p2p, &first[0]));
    m.wait_all(first, {0}, "with the model", 2.0);
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
