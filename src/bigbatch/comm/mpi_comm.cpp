// The MPI backend. Only the communication thread calls MPI between a communicator's
// construction and destruction; see MpiCommunicator for why, and for the thread level.
#include "bigbatch/comm/mpi_comm.h"

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bigbatch/comm/comm_thread.h"
#include "bigbatch/comm/mpi_internal.h"
#include "bigbatch/core/error.h"
#include "bigbatch/core/stop_request.h"

namespace bigbatch::comm {
namespace {

std::atomic<int> g_world_rank{-1};  // for error messages; -1 before MPI_Init
std::atomic<int> g_live_communicators{0};

}  // namespace

[[noreturn]] void throw_mpi_error(int code, const char* expr, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  std::string message = MPI_Error_string(code, text, &length) == MPI_SUCCESS ? std::string(text, static_cast<size_t>(length))
                                                                             : "MPI error " + std::to_string(code);
  BIGBATCH_THROW(CommError, "[rank " << g_world_rank.load() << "] " << expr << " failed at " << file << ":" << line
                                     << ": " << message);
}

}  // namespace bigbatch::comm

namespace bigbatch::comm {
namespace {

// MPI takes int counts; larger buffers go in pieces of this many elements.
constexpr int64_t kMaxChunk = int64_t{1} << 30;

MPI_Datatype mpi_type(ReduceType type) {
  switch (type) {
    case ReduceType::f32: return MPI_FLOAT;
    case ReduceType::f64: return MPI_DOUBLE;
    case ReduceType::i64: return MPI_INT64_T;
  }
  return MPI_DATATYPE_NULL;
}

// Owns a duplicate of a communicator (MPI_COMM_WORLD, or the workers' part of it), so that our
// collectives can never match messages of another library or of another of our communicators.
class CommHandle {
 public:
  explicit CommHandle(MPI_Comm base) {
    MPI_CHECK(MPI_Comm_dup(base, &comm_));
    MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  }
  ~CommHandle() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);  // errors ignored: nothing to do about them here
  }
  CommHandle(const CommHandle&) = delete;
  CommHandle& operator=(const CommHandle&) = delete;
  MPI_Comm get() const { return comm_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The stall watch (--stall-timeout): before each collective, every rank waits for all the
// others at an MPI_Ibarrier that the communication thread polls. Past a quarter of the timeout
// (at most 1 s) a waiting rank tells its peers, by a point-to-point message on a communicator
// of its own, which collective it waits at; past the timeout, the ranks that have not said so
// are the ones that did not arrive (stopped, hung, or far slower): the lowest rank that did
// arrive prints one line naming them, and the job ends with MPI_Abort. A healthy collective
// costs one barrier's latency and no messages. The collective itself, once all have arrived,
// is watched by a thread of its own (a rank stopped inside it cannot be named, only timed).
class StallWatch {
 public:
  StallWatch(MPI_Comm base, int rank, int size, double timeout_s, double defer_s)
      : comm_(base), rank_(rank), size_(size), timeout_s_(timeout_s), defer_s_(defer_s),
        announce_s_(std::clamp(timeout_s / 4, 0.01, 1.0)),
        heard_(static_cast<size_t>(size), 0), inbox_(static_cast<size_t>(size), 0),
        outbox_(static_cast<size_t>(size), 0), receives_(static_cast<size_t>(size), MPI_REQUEST_NULL),
        sends_(static_cast<size_t>(size), MPI_REQUEST_NULL) {
    if (!enabled()) return;
    for (int peer = 0; peer < size_; ++peer)
      if (peer != rank_) post_receive(peer);
    watcher_ = std::thread([this] { watch_collectives(); });
  }
  ~StallWatch() {
    stopping_ = true;
    if (watcher_.joinable()) watcher_.join();
    // Called on the communicator's own thread after its communication thread has joined.
    for (MPI_Request& r : receives_)
      if (r != MPI_REQUEST_NULL) {
        MPI_Cancel(&r);
        MPI_Request_free(&r);
      }
    for (MPI_Request& r : sends_)
      if (r != MPI_REQUEST_NULL) MPI_Request_free(&r);
  }
  StallWatch(const StallWatch&) = delete;
  StallWatch& operator=(const StallWatch&) = delete;

  bool enabled() const { return timeout_s_ > 0 && size_ > 1; }

  // On the communication thread, before collective number `++sequence_`: returns once every
  // rank has reached it, or ends the job.
  void arrive() {
    ++sequence_;
    if (!enabled()) return;
    MPI_Request barrier = MPI_REQUEST_NULL;
    MPI_CHECK(MPI_Ibarrier(comm_.get(), &barrier));
    Clock::time_point start = Clock::now(), last = start;
    double next_announce = announce_s_;
    for (int polls = 0;; ++polls) {
      int done = 0;
      MPI_CHECK(MPI_Test(&barrier, &done, MPI_STATUS_IGNORE));
      if (done) break;
      // A long gap between two polls: this rank was the one stopped (and is continued only to
      // be killed), so it must not blame the others; its clock starts again.
      if (seconds_since(last) > announce_s_) {
        start = Clock::now();
        next_announce = announce_s_;
      }
      last = Clock::now();
      const double waited = seconds_since(start);
      if (waited >= next_announce) {  // no peer announces sooner: before this, nothing to collect
        collect_announcements();
        announce();
        next_announce += announce_s_;
      }
      if (waited >= timeout_s_) stalled_at_arrival();
      // Spin briefly (a healthy barrier completes in microseconds), then give the core back
      // to the compute threads while the peers finish their backward.
      if (polls > 64) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    collective_started_ns_ = Clock::now().time_since_epoch().count();
  }

  // After the collective: the watcher stops timing it.
  void done() { collective_started_ns_ = 0; }

  MPI_Comm comm() const { return comm_.get(); }

 private:
  static constexpr int kTag = 7;

  void post_receive(int peer) {
    MPI_CHECK(MPI_Irecv(&inbox_[static_cast<size_t>(peer)], 1, MPI_INT64_T, peer, kTag, comm_.get(),
                        &receives_[static_cast<size_t>(peer)]));
  }

  void collect_announcements() {
    for (int peer = 0; peer < size_; ++peer) {
      if (peer == rank_) continue;
      int done = 0;
      MPI_CHECK(MPI_Test(&receives_[static_cast<size_t>(peer)], &done, MPI_STATUS_IGNORE));
      if (!done) continue;
      heard_[static_cast<size_t>(peer)] = std::max(heard_[static_cast<size_t>(peer)], inbox_[static_cast<size_t>(peer)]);
      post_receive(peer);
    }
  }

  // "I wait at collective sequence_", to each peer whose previous message has left (a
  // stopped peer's queue does not grow).
  void announce() {
    for (int peer = 0; peer < size_; ++peer) {
      if (peer == rank_) continue;
      MPI_Request& send = sends_[static_cast<size_t>(peer)];
      int done = 1;
      if (send != MPI_REQUEST_NULL) MPI_CHECK(MPI_Test(&send, &done, MPI_STATUS_IGNORE));
      if (!done) continue;
      outbox_[static_cast<size_t>(peer)] = sequence_;
      MPI_CHECK(MPI_Isend(&outbox_[static_cast<size_t>(peer)], 1, MPI_INT64_T, peer, kTag, comm_.get(), &send));
    }
  }

  [[noreturn]] void stalled_at_arrival() {
    collect_announcements();
    std::vector<int> missing;
    int lowest_present = rank_;
    for (int peer = 0; peer < size_; ++peer) {
      if (peer == rank_) continue;
      if (heard_[static_cast<size_t>(peer)] >= sequence_)
        lowest_present = std::min(lowest_present, peer);
      else
        missing.push_back(peer);
    }
    std::ostringstream line;
    line << "[rank " << rank_ << "] stalled: ";
    if (missing.empty()) {
      line << "every rank says it waits at collective " << sequence_ << ", which did not complete";
    } else {
      line << (missing.size() == 1 ? "rank " : "ranks ");
      for (size_t i = 0; i < missing.size() && i < 16; ++i) line << (i ? ", " : "") << missing[i];
      if (missing.size() > 16) line << " and " << missing.size() - 16 << " more";
      line << " did not reach collective " << sequence_;
    }
    line << " within --stall-timeout " << timeout_s_ << " s (stopped, hung or far slower); ending the job";
    end_job(lowest_present == rank_, line.str());
  }

  // The watcher thread: a collective that every rank reached but that does not complete.
  void watch_collectives() {
    Clock::time_point last = Clock::now();
    while (!stopping_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const bool was_stopped = seconds_since(last) > 1.0;  // this process itself (see arrive())
      last = Clock::now();
      if (was_stopped) {  // restart the running collective's clock, unless it has just ended
        int64_t running = collective_started_ns_;
        if (running != 0) collective_started_ns_.compare_exchange_strong(running, last.time_since_epoch().count());
      }
      const int64_t started = collective_started_ns_;
      if (started == 0) continue;
      const double busy =
          std::chrono::duration<double>(Clock::now().time_since_epoch() - Clock::duration(started)).count();
      if (busy < timeout_s_) continue;
      std::ostringstream line;
      line << "[rank " << rank_ << "] stalled: collective " << sequence_.load()
           << " that every rank reached did not complete within --stall-timeout " << timeout_s_
           << " s (a rank stopped or hung inside it); ending the job";
      end_job(rank_ == 0, line.str());
    }
  }

  // One line from one rank: the others give it a moment to end the job, and speak themselves
  // only if it did not (it may be the rank that stopped). MPI_Abort may be called from any
  // thread (see MpiCommunicator); its SIGTERM then ends this process at once.
  [[noreturn]] void end_job(bool speaker, const std::string& line) const {
    remove_stop_handlers();
    // Beside parameter servers, whose waits name a stopped peer better, this watch speaks last.
    if (defer_s_ > 0) std::this_thread::sleep_for(std::chrono::duration<double>(defer_s_));
    if (!speaker) std::this_thread::sleep_for(std::chrono::duration<double>(std::min(2.0, timeout_s_)));
    std::cerr << "bigbatch: error: " << line << std::endl;
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }

  CommHandle comm_;  // the barrier and the announcements: never matched with a collective's messages
  int rank_, size_;
  double timeout_s_, defer_s_, announce_s_;
  std::atomic<int64_t> sequence_{0};
  std::vector<int64_t> heard_;  // per peer: the latest collective it said it waits at
  std::vector<int64_t> inbox_, outbox_;
  std::vector<MPI_Request> receives_, sends_;
  std::atomic<int64_t> collective_started_ns_{0};  // steady clock; 0 between collectives
  std::atomic<bool> stopping_{false};
  std::thread watcher_;  // last: started once the rest exists
};

// Why a communication thread running blocking collectives, rather than MPI_Iallreduce from
// the compute thread: MPI progresses a non-blocking collective only inside MPI calls, and
// Open MPI has no asynchronous progress thread for most transports, so an MPI_Iallreduce
// started mid-backward would mostly run at MPI_Wait, i.e. not overlap at all. A thread
// blocked in MPI_Allreduce drives progress itself. Why not MPI_THREAD_MULTIPLE: it is not
// reliable with every Open MPI transport, and is not needed: the FIFO gives one thread that
// makes every call, in the same order on every rank (which MPI requires of collectives), so
// MPI_THREAD_SERIALIZED suffices (not FUNNELED: that thread is not the one that called
// MPI_Init_thread). The one exception is MPI_Abort, called from whatever thread failed,
// because the communication thread may be blocked in a collective a dead peer never joins.
class MpiCommunicator final : public ThreadedMpiCommunicator {
 public:
  MpiCommunicator(MPI_Comm base, double stall_timeout_s, double defer_s) : comm_(base) {
    // Here on the caller's thread: no communication thread exists yet (one communicator per
    // process, checked by the session), so these calls are serialised with every other.
    MPI_CHECK(MPI_Comm_rank(comm_.get(), &rank_));
    MPI_CHECK(MPI_Comm_size(comm_.get(), &size_));
    watch_ = std::make_unique<StallWatch>(base, rank_, size_, stall_timeout_s, defer_s);
  }
  ~MpiCommunicator() override { --g_live_communicators; }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void broadcast(void* data, int64_t bytes, int root) override {
    check_count("broadcast", bytes, data);
    BIGBATCH_CHECK(root >= 0 && root < size_,
                   "[rank " << rank_ << "] broadcast root " << root << " outside [0, " << size_ << ")");
    thread_.run([&] {
      Watched watched(*watch_);
      for (int64_t done = 0; done < bytes; done += kMaxChunk)
        MPI_CHECK(MPI_Bcast(static_cast<char*>(data) + done, static_cast<int>(std::min(kMaxChunk, bytes - done)),
                            MPI_BYTE, root, comm_.get()));
    });
  }

  void allgather(const void* send, void* recv, int64_t bytes_per_rank) override {
    check_count("allgather", bytes_per_rank, recv);
    BIGBATCH_CHECK(bytes_per_rank <= INT_MAX, "[rank " << rank_ << "] allgather of " << bytes_per_rank
                                                       << " bytes per rank; at most " << INT_MAX);
    const char* own = static_cast<const char*>(recv) + bytes_per_rank * rank_;
    // MPI forbids overlapping send and receive buffers; the in-place form says so instead.
    const void* source = send == own ? MPI_IN_PLACE : send;
    thread_.run([&] {
      Watched watched(*watch_);
      MPI_CHECK(MPI_Allgather(source, static_cast<int>(bytes_per_rank), MPI_BYTE, recv,
                              static_cast<int>(bytes_per_rank), MPI_BYTE, comm_.get()));
    });
  }

  void barrier() override {
    thread_.run([&] {
      Watched watched(*watch_);
      MPI_CHECK(MPI_Barrier(comm_.get()));
    });
  }

  std::unique_ptr<Work> submit(std::function<void()> fn) override { return thread_.submit(std::move(fn)); }

  void abort(int code) override {
    remove_stop_handlers();
    MPI_Abort(MPI_COMM_WORLD, code == 0 ? 1 : code);
    std::_Exit(code == 0 ? 1 : code);  // not reached: MPI_Abort does not return
  }

 protected:
  void allreduce_sum_any(void* data, int64_t count, ReduceType type) override {
    check_count("allreduce_sum", count, data);
    thread_.run([=, this] { allreduce(data, count, type); });
  }

  std::unique_ptr<Work> allreduce_sum_async_any(void* data, int64_t count, ReduceType type) override {
    check_count("allreduce_sum_async", count, data);
    return thread_.submit([=, this] { allreduce(data, count, type); });
  }

 private:
  void allreduce(void* data, int64_t count, ReduceType type) const {
    Watched watched(*watch_);
    const size_t elem = reduce_type_size(type);
    for (int64_t done = 0; done < count; done += kMaxChunk)
      MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, static_cast<char*>(data) + static_cast<size_t>(done) * elem,
                              static_cast<int>(std::min(kMaxChunk, count - done)), mpi_type(type), MPI_SUM,
                              comm_.get()));
  }

  void check_count(const char* op, int64_t count, const void* data) const {
    BIGBATCH_CHECK(count >= 0, "[rank " << rank_ << "] " << op << " of a negative count " << count);
    BIGBATCH_CHECK(data != nullptr || count == 0, "[rank " << rank_ << "] " << op << " of a null buffer");
  }

  // Every collective, on the communication thread: all ranks arrive, then it is timed.
  struct Watched {
    explicit Watched(StallWatch& w) : watch(w) { watch.arrive(); }
    ~Watched() { watch.done(); }
    StallWatch& watch;
  };

  CommHandle comm_;  // first: freed after the thread has joined
  int rank_ = 0, size_ = 1;
  std::unique_ptr<StallWatch> watch_;  // before the thread: outlives it
  CommThread thread_;  // last: joined (after draining its queue) before comm_ is freed
};

}  // namespace

bool built_with_mpi() { return true; }

MpiSession::MpiSession() {
  int initialized = 0, finalized = 0;
  MPI_CHECK(MPI_Initialized(&initialized));
  MPI_CHECK(MPI_Finalized(&finalized));
  if (initialized || finalized)
    BIGBATCH_THROW(CommError, "[mpi] MPI was already initialised in this process; make one MpiSession per process");
  int provided = MPI_THREAD_SINGLE;
  // Errors here still go to MPI's default handler (abort): there is no communicator yet.
  MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided));
  MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  g_world_rank = rank_;
  if (provided < MPI_THREAD_SERIALIZED) {
    MPI_Finalize();
    BIGBATCH_THROW(CommError, "[rank " << rank_ << "] MPI provides thread level " << provided
                                       << "; bigbatch's communication thread needs MPI_THREAD_SERIALIZED");
  }
}

MpiSession::~MpiSession() { MPI_Finalize(); }

std::unique_ptr<ThreadedMpiCommunicator> make_mpi_communicator(MPI_Comm base, double stall_timeout_s,
                                                               double stall_defer_s) {
  // One at a time: a second communication thread would call MPI concurrently with the first,
  // which MPI_THREAD_SERIALIZED forbids.
  if (g_live_communicators.fetch_add(1) != 0) {
    --g_live_communicators;
    BIGBATCH_THROW(CommError, "[rank " << g_world_rank.load() << "] only one MPI communicator may exist at a time");
  }
  try {
    return std::make_unique<MpiCommunicator>(base, stall_timeout_s, stall_defer_s);
  } catch (...) {
    --g_live_communicators;
    throw;
  }
}

std::unique_ptr<Communicator> MpiSession::make_communicator(double stall_timeout_s) const {
  return make_mpi_communicator(MPI_COMM_WORLD, stall_timeout_s, 0.0);
}

void MpiSession::abort(int code) const {
  remove_stop_handlers();
  MPI_Abort(MPI_COMM_WORLD, code == 0 ? 1 : code);
  std::_Exit(code == 0 ? 1 : code);  // MPI_Abort does not return; this line is for the compiler
}

}  // namespace bigbatch::comm
