// The parameter server over MPI point-to-point (see the header). The protocol, per step:
// worker 0 sends every server a step header (tag 0) with its first bucket; then, bucket by
// bucket in the reducer's order, each worker sends each server the pieces of the bucket that
// server holds, packed in arena order (tag 1 + bucket), and receives their sums back. A server
// takes the buckets in the same order, waits for all W pushes of one, sums them in worker order
// and answers. The buckets of one step run one at a time on each side, so nothing can deadlock;
// at the end worker 0 sends a stop header. Messages between two ranks with one tag on one
// communicator do not overtake each other (MPI's rule), so steps cannot mix.
#include "bigbatch/comm/parameter_server.h"

#include <algorithm>
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
constexpr int kFirstBucketTag = 2;
constexpr int kMaxBuckets = 32000;  // tags up to 32767 are guaranteed (MPI_TAG_UB)
enum HeaderKind : int64_t { kStep = 1, kStop = 2 };

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
  std::vector<Bucket> buckets;
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
    BIGBATCH_CHECK(index < buckets.size() && bucket.begin == buckets[index].begin && bucket.end == buckets[index].end,
                   "[ps] bucket " << index << " is not the one the servers were given");
    return worker_comm->submit([this, index, grads] { exchange(index, grads); });
  }

  // On the communication thread: push bucket b's pieces to their servers, pull the sums.
  void exchange(size_t b, float* grads) {
    if (b == 0 && rank == 0) {
      const int64_t header[2] = {kStep, steps};
      for (int s = 0; s < servers; ++s) MPI_CHECK(MPI_Send(header, 2, MPI_INT64_T, server_rank(s), kHeaderTag, p2p));
    }
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
    for (int s = 0; s < servers; ++s) {
      const float* in = recv[static_cast<size_t>(s)].data();
      for (const Segment& seg : segments[b][static_cast<size_t>(s)]) {
        std::copy(in, in + seg.elems(), grads + seg.begin);
        in += seg.elems();
      }
    }
  }

  // Servers: one step's buckets; false once worker 0 says stop.
  bool serve_step() {
    int64_t header[2] = {0, 0};
    std::vector<MPI_Request> requests(1, MPI_REQUEST_NULL);
    MPI_CHECK(MPI_Irecv(header, 2, MPI_INT64_T, 0, kHeaderTag, p2p, &requests[0]));
    // Between steps the workers evaluate and checkpoint, and their own stall watch names a
    // worker that stops there: twice the patience.
    wait_all(requests, {0}, "with the next step", 2.0);
    if (header[0] == kStop) return false;
    BIGBATCH_CHECK(header[0] == kStep, "[ps] server " << rank - workers << ": a header of kind " << header[0]);
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
      const std::string what = "bucket " + std::to_string(b) + " of step " + std::to_string(header[1]);
      wait_all(requests, peers, what);
      float* sum = recv[0].data();
      for (int w = 1; w < workers; ++w) {  // in worker order: the same sum on every server and run
        const float* add = recv[static_cast<size_t>(w)].data();
        for (int64_t i = 0; i < n; ++i) sum[i] += add[i];
      }
      for (int w = 0; w < workers; ++w)
        MPI_CHECK(MPI_Isend(sum, static_cast<int>(n), MPI_FLOAT, w, tag, p2p, &requests[static_cast<size_t>(w)]));
      // A worker stopped after its push: the others' stall watch names it first, in their next
      // collective (twice the patience here).
      wait_all(requests, peers, what + " (the sum)", 2.0);
    }
    return true;
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
  std::vector<PsKey> keys;
  for (const ArenaEntry& e : layout.entries()) keys.push_back({e.offset, e.shape.numel()});
  m.plan(keys);
  if (m.rank == 0) {
    // The table: counts and sharding options, then the keys and the buckets.
    std::vector<int64_t> table = {static_cast<int64_t>(keys.size()), static_cast<int64_t>(buckets.size()),
                                  m.options.bigarray_bound, m.options.partition_bytes};
    for (const PsKey& k : keys) table.insert(table.end(), {k.offset, k.numel});
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

const std::vector<int64_t>& ParameterServerJob::server_loads() const { return impl_->loads; }

void ParameterServerJob::finish() {
  Impl& m = *impl_;
  if (m.worker_comm == nullptr || m.rank != 0) return;
  m.worker_comm
      ->submit([&] {
        const int64_t header[2] = {kStop, m.steps};
        for (int s = 0; s < m.servers; ++s)
          MPI_CHECK(MPI_Send(header, 2, MPI_INT64_T, m.server_rank(s), kHeaderTag, m.p2p));
      })
      ->wait();
}

void ParameterServerJob::serve() {
  Impl& m = *impl_;
  BIGBATCH_CHECK(m.is_server(), "[ps] only servers serve");
  int64_t count = 0;
  std::vector<MPI_Request> request(1, MPI_REQUEST_NULL);
  MPI_CHECK(MPI_Irecv(&count, 1, MPI_INT64_T, 0, kTableTag, m.p2p, &request[0]));
  m.wait_all(request, {0}, "with the key table");
  BIGBATCH_CHECK(count >= 4 && count <= INT32_MAX, "[ps] a key table of " << count << " numbers");
  std::vector<int64_t> table(static_cast<size_t>(count));
  MPI_CHECK(MPI_Recv(table.data(), static_cast<int>(count), MPI_INT64_T, 0, kTableTag, m.p2p, MPI_STATUS_IGNORE));
  const int64_t n_keys = table[0], n_buckets = table[1];
  BIGBATCH_CHECK(n_keys >= 0 && n_buckets >= 1 && n_buckets <= kMaxBuckets && count == 4 + 2 * (n_keys + n_buckets),
                 "[ps] a malformed key table");
  m.options.bigarray_bound = table[2];  // worker 0's: what the workers shard by
  m.options.partition_bytes = table[3];
  std::vector<PsKey> keys;
  for (int64_t k = 0; k < n_keys; ++k) keys.push_back({table[4 + 2 * k], table[5 + 2 * k]});
  for (int64_t b = 0; b < n_buckets; ++b)
    m.buckets.push_back({table[4 + 2 * (n_keys + b)], table[5 + 2 * (n_keys + b)], {}});
  m.plan(keys);
  while (m.serve_step()) {
  }
}

}  // namespace bigbatch::comm
