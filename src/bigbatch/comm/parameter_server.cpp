// The parameter server's job and its workers' side: the split of the job, the key table, the
// exchange of a bucket, the model's load and gather, and the waits that name a stalled peer
// (the protocol: parameter_server_impl.h; the servers' loops: parameter_server_serve.cpp).
#include "bigbatch/comm/parameter_server.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <iostream>
#include <numeric>
#include <thread>
#include <utility>

#include "bigbatch/comm/parameter_server_impl.h"
#include "bigbatch/core/error.h"
#include "bigbatch/core/stop_request.h"

namespace bigbatch::comm {

using namespace ps_detail;

namespace {

using Clock = std::chrono::steady_clock;

std::string ranks_text(int first, int count) {
  return count == 1 ? "rank " + std::to_string(first)
                    : "ranks " + std::to_string(first) + "-" + std::to_string(first + count - 1);
}

}  // namespace

void ParameterServerJob::Impl::wait_all(std::span<MPI_Request> requests, std::span<const int> peers,
                                        const Describe& what, double patience) const {
  if (requests.empty()) return;
  if (stall_timeout_s <= 0) {
    MPI_CHECK(MPI_Waitall(static_cast<int>(requests.size()), requests.data(), MPI_STATUSES_IGNORE));
    return;
  }
  Clock::time_point start = Clock::now(), last = start;
  completed.resize(std::max(completed.size(), requests.size()));
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
      stalled(requests, peers, what(), patience * stall_timeout_s);
    if (polls > 64) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

[[noreturn]] void ParameterServerJob::Impl::stalled(std::span<const MPI_Request> requests, std::span<const int> peers,
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

void ParameterServerJob::Impl::plan(const std::vector<PsKey>& keys) {
  const std::vector<ShardPart> parts = shard_keys(keys, {servers, options.bigarray_bound, options.partition_bytes});
  segments = bucket_segments(parts, buckets, servers);
  loads = comm::server_loads(parts, servers);
  every_worker.resize(static_cast<size_t>(workers));
  std::iota(every_worker.begin(), every_worker.end(), 0);
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

std::unique_ptr<Work> ParameterServerJob::Impl::start(size_t index, float* grads, const Bucket& bucket,
                                                      std::function<void()> ready) {
  BIGBATCH_CHECK(!options.update_on_servers || results != nullptr,
                 "[ps] the update is on the servers but no parameters were set to pull into");
  BIGBATCH_CHECK(index < buckets.size() && bucket.begin == buckets[index].begin && bucket.end == buckets[index].end,
                 "[ps] bucket " << index << " is not the one the servers were given");
  return worker_comm->submit([this, index, grads, ready = std::move(ready)] {
    if (ready) ready();
    exchange(index, grads);
  });
}

void ParameterServerJob::Impl::exchange(size_t b, float* grads) {
  // Synchronous: worker 0 speaks for the step. Asynchronous: each worker for its own.
  if (b == 0 && (rank == 0 || options.async)) send_header({kStep, steps, lr});
  if (b == 0) ++steps;
  pending.clear();
  pending_peers.clear();
  const int tag = kFirstBucketTag + static_cast<int>(b);
  for (int s = 0; s < servers; ++s) {
    const std::vector<Unit>& list = units[b][static_cast<size_t>(s)];
    if (list.empty()) continue;
    float* out = send[static_cast<size_t>(s)].data();
    float* in = recv[static_cast<size_t>(s)].data();
    pack(segments[b][static_cast<size_t>(s)], grads, out);
    for (const Unit& u : list) {
      pending.push_back(MPI_REQUEST_NULL);
      MPI_CHECK(
          MPI_Irecv(in + u.offset, static_cast<int>(u.elems), MPI_FLOAT, server_rank(s), tag, p2p, &pending.back()));
      pending.push_back(MPI_REQUEST_NULL);
      MPI_CHECK(
          MPI_Isend(out + u.offset, static_cast<int>(u.elems), MPI_FLOAT, server_rank(s), tag, p2p, &pending.back()));
      pending_peers.insert(pending_peers.end(), {server_rank(s), server_rank(s)});
    }
  }
  const int64_t step = steps - 1;
  wait_all(pending, pending_peers,
           [b, step] { return "bucket " + std::to_string(b) + " of step " + std::to_string(step); });
  float* into = results != nullptr ? results : grads;  // the new weights, or the sums
  for (int s = 0; s < servers; ++s)
    unpack(segments[b][static_cast<size_t>(s)], recv[static_cast<size_t>(s)].data(), into);
}

int64_t ParameterServerJob::Impl::pack(const std::vector<Segment>& segs, const float* arena, float* out) {
  int64_t n = 0;
  for (const Segment& seg : segs) {
    std::copy(arena + seg.begin, arena + seg.end, out + n);
    n += seg.elems();
  }
  return n;
}

void ParameterServerJob::Impl::unpack(const std::vector<Segment>& segs, const float* in, float* arena) {
  for (const Segment& seg : segs) {
    std::copy(in, in + seg.elems(), arena + seg.begin);
    in += seg.elems();
  }
}

void ParameterServerJob::Impl::send_header(const Header& h) const {
  for (int s = 0; s < servers; ++s) MPI_CHECK(MPI_Send(h.words, 3, MPI_INT64_T, server_rank(s), kHeaderTag, p2p));
}

void ParameterServerJob::Impl::send_state(const float* params, const float* momentum, double prev_lr) {
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
        MPI_CHECK(MPI_Isend(w.data() + u.offset, static_cast<int>(u.elems), MPI_FLOAT, server_rank(s), kStateTag, p2p,
                            &requests[0]));
        MPI_CHECK(MPI_Isend(m.data() + u.offset, static_cast<int>(u.elems), MPI_FLOAT, server_rank(s), kStateTag, p2p,
                            &requests[1]));
        const int peers[] = {server_rank(s), server_rank(s)};
        wait_all(requests, peers, [b] { return "the model of bucket " + std::to_string(b); });
      }
    }
}

void ParameterServerJob::Impl::receive_momentum(float* momentum) {
  send_header({kGather, steps, 0.0});
  for (size_t b = 0; b < buckets.size(); ++b)
    for (int s = 0; s < servers; ++s) {
      float* in = recv[static_cast<size_t>(s)].data();
      for (const Unit& u : units[b][static_cast<size_t>(s)]) {
        std::vector<MPI_Request> request(1, MPI_REQUEST_NULL);
        MPI_CHECK(MPI_Irecv(in + u.offset, static_cast<int>(u.elems), MPI_FLOAT, server_rank(s), kStateTag, p2p,
                            &request[0]));
        const int peer[] = {server_rank(s)};
        wait_all(request, peer, [b] { return "with the momentum of bucket " + std::to_string(b); });
      }
      unpack(segments[b][static_cast<size_t>(s)], in, momentum);
    }
}

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
  return ranks_text(0, m.workers) +
         (m.workers == 1 ? " is worker 0, " : " are workers 0-" + std::to_string(m.workers - 1) + ", ") +
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
    std::vector<int64_t> table = {
        static_cast<int64_t>(keys.size()), static_cast<int64_t>(buckets.size()), m.options.bigarray_bound,
        m.options.partition_bytes,         m.options.update_on_servers ? 1 : 0,  m.options.async ? 1 : 0};
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

}  // namespace bigbatch::comm
