// The parameter server's servers: the key table, then per step the W pushes of every unit of
// their part, summed in worker order (and updated, with the update on the servers) and answered;
// the model's load and gather; asynchronous mode's push-at-once loop (parameter_server_impl.h).
#include <algorithm>
#include <utility>

#include "bigbatch/comm/parameter_server.h"
#include "bigbatch/comm/parameter_server_impl.h"
#include "bigbatch/core/error.h"

namespace bigbatch::comm {

using namespace ps_detail;

void ParameterServerJob::Impl::serve_state(bool load) {
  const size_t own = static_cast<size_t>(rank - workers);
  for (size_t b = 0; b < buckets.size(); ++b)
    for (const Unit& u : units[b][own]) {
      state.resize(2 * static_cast<size_t>(u.elems));
      std::vector<MPI_Request> requests(load ? 2 : 1, MPI_REQUEST_NULL);
      const auto what = [b] { return "the model of bucket " + std::to_string(b); };
      const int worker0[] = {0, 0};
      if (load) {
        MPI_CHECK(MPI_Irecv(state.data(), static_cast<int>(u.elems), MPI_FLOAT, 0, kStateTag, p2p, &requests[0]));
        MPI_CHECK(
            MPI_Irecv(state.data() + u.elems, static_cast<int>(u.elems), MPI_FLOAT, 0, kStateTag, p2p, &requests[1]));
        wait_all(requests, worker0, [&what] { return "with " + what(); });
        updater->load(static_cast<size_t>(u.id), state.data(), state.data() + u.elems);
      } else {
        updater->read_momentum(static_cast<size_t>(u.id), state.data());
        MPI_CHECK(MPI_Isend(state.data(), static_cast<int>(u.elems), MPI_FLOAT, 0, kStateTag, p2p, &requests[0]));
        wait_all(requests, std::span(worker0, 1), [&what] { return what() + " (its momentum)"; });
      }
    }
}

bool ParameterServerJob::Impl::serve_step() {
  Header header;
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Irecv(header.words, 3, MPI_INT64_T, 0, kHeaderTag, p2p, &request));
  // Between steps the workers evaluate and checkpoint, and their own stall watch names a
  // worker that stops there (at the timeout plus its 8 s deferral): more patience than that.
  const int worker0 = 0;
  wait_all(
      std::span(&request, 1), std::span(&worker0, 1), [] { return std::string("with the next step"); },
      later_than_the_workers());
  if (header.kind() == kStop) return false;
  const bool updates = options.update_on_servers;
  if (header.kind() == kLoad || header.kind() == kGather) {
    BIGBATCH_CHECK(updates, "[ps] server " << rank - workers << ": a model to "
                                           << (header.kind() == kLoad ? "load" : "gather")
                                           << " while the workers update");
    serve_state(header.kind() == kLoad);
    if (header.kind() == kLoad) updater->set_prev_lr(header.value());
    return true;
  }
  BIGBATCH_CHECK(header.kind() == kStep, "[ps] server " << rank - workers << ": a header of kind " << header.kind());
  const size_t own = static_cast<size_t>(rank - workers);
  const auto w_count = static_cast<size_t>(workers);
  for (size_t b = 0; b < buckets.size(); ++b) {
    const std::vector<Unit>& list = units[b][own];
    if (list.empty()) continue;
    const int tag = kFirstBucketTag + static_cast<int>(b);
    // Every unit's pushes are posted at once; each is answered as soon as it is whole.
    pushes.resize(std::max(pushes.size(), list.size() * w_count));
    for (size_t u = 0; u < list.size(); ++u)
      for (int w = 0; w < workers; ++w)
        MPI_CHECK(MPI_Irecv(recv[static_cast<size_t>(w)].data() + list[u].offset, static_cast<int>(list[u].elems),
                            MPI_FLOAT, w, tag, p2p, &pushes[u * w_count + static_cast<size_t>(w)]));
    const int64_t step = header.step();
    const auto what = [b, step] { return "bucket " + std::to_string(b) + " of step " + std::to_string(step); };
    pending.clear();
    pending_peers.clear();
    for (size_t u = 0; u < list.size(); ++u) {
      wait_all(std::span(pushes).subspan(u * w_count, w_count), every_worker, what);
      float* sum = recv[0].data() + list[u].offset;
      for (int w = 1; w < workers; ++w) {  // in worker order: the same sum on every server and run
        const float* add = recv[static_cast<size_t>(w)].data() + list[u].offset;
        for (int64_t i = 0; i < list[u].elems; ++i) sum[i] += add[i];
      }
      if (updates) updater->update(static_cast<size_t>(list[u].id), sum, header.value());  // sum -> weights
      for (int w = 0; w < workers; ++w) {
        pending.push_back(MPI_REQUEST_NULL);
        MPI_CHECK(MPI_Isend(sum, static_cast<int>(list[u].elems), MPI_FLOAT, w, tag, p2p, &pending.back()));
        pending_peers.push_back(w);
      }
    }
    // A worker stopped after its push: the others' stall watch names it first, in their next
    // collective. The next bucket reuses the buffers.
    wait_all(
        pending, pending_peers, [&what] { return what() + " (the sum)"; }, later_than_the_workers());
  }
  return true;
}

void ParameterServerJob::Impl::serve_async() {
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

void ParameterServerJob::serve(ShardUpdater* updater) {
  Impl& m = *impl_;
  BIGBATCH_CHECK(m.is_server(), "[ps] only servers serve");
  int64_t count = 0;
  std::vector<MPI_Request> request(1, MPI_REQUEST_NULL);
  MPI_CHECK(MPI_Irecv(&count, 1, MPI_INT64_T, 0, kTableTag, m.p2p, &request[0]));
  const int worker0 = 0;
  m.wait_all(request, std::span(&worker0, 1), [] { return std::string("with the key table"); });
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
    m.wait_all(
        first, std::span(&worker0, 1), [] { return std::string("with the model"); }, m.later_than_the_workers());
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
