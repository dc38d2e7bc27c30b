// The MPI backend. Only the communication thread calls MPI between a communicator's
// construction and destruction; see MpiCommunicator for why, and for the thread level.
#include "bigbatch/comm/mpi_comm.h"

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <string>

#include "bigbatch/comm/comm_thread.h"
#include "bigbatch/core/error.h"

namespace bigbatch::comm {
namespace {

std::atomic<int> g_world_rank{-1};  // for error messages; -1 before MPI_Init
std::atomic<int> g_live_communicators{0};

[[noreturn]] void throw_mpi_error(int code, const char* expr, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  std::string message = MPI_Error_string(code, text, &length) == MPI_SUCCESS ? std::string(text, static_cast<size_t>(length))
                                                                             : "MPI error " + std::to_string(code);
  BIGBATCH_THROW(CommError, "[rank " << g_world_rank.load() << "] " << expr << " failed at " << file << ":" << line
                                     << ": " << message);
}

}  // namespace
}  // namespace bigbatch::comm

#ifdef MPI_CHECK
#error "MPI_CHECK is already defined (the MPI_ prefix belongs to MPI): rename bigbatch's macro"
#endif
// MPI_CHECK(MPI_Xxx(...)): throws CommError with the call, file:line and MPI_Error_string.
// Meaningful because the communicators' error handler is MPI_ERRORS_RETURN.
#define MPI_CHECK(expr)                                                                 \
  do {                                                                                  \
    const int mpi_check_code_ = (expr);                                                 \
    if (mpi_check_code_ != MPI_SUCCESS)                                                 \
      ::bigbatch::comm::throw_mpi_error(mpi_check_code_, #expr, __FILE__, __LINE__);    \
  } while (0)

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

// Owns a duplicate of MPI_COMM_WORLD, so that our collectives can never match messages of
// another library sharing the world communicator.
class CommHandle {
 public:
  CommHandle() {
    MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
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
class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    // Here on the caller's thread: no communication thread exists yet (one communicator per
    // process, checked by the session), so these calls are serialised with every other.
    MPI_CHECK(MPI_Comm_rank(comm_.get(), &rank_));
    MPI_CHECK(MPI_Comm_size(comm_.get(), &size_));
  }
  ~MpiCommunicator() override { --g_live_communicators; }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void broadcast(void* data, int64_t bytes, int root) override {
    check_count("broadcast", bytes, data);
    BIGBATCH_CHECK(root >= 0 && root < size_,
                   "[rank " << rank_ << "] broadcast root " << root << " outside [0, " << size_ << ")");
    thread_.run([&] {
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
      MPI_CHECK(MPI_Allgather(source, static_cast<int>(bytes_per_rank), MPI_BYTE, recv,
                              static_cast<int>(bytes_per_rank), MPI_BYTE, comm_.get()));
    });
  }

  void barrier() override {
    thread_.run([&] { MPI_CHECK(MPI_Barrier(comm_.get())); });
  }

  void abort(int code) override {
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

  CommHandle comm_;  // first: freed after the thread has joined
  int rank_ = 0, size_ = 1;
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

std::unique_ptr<Communicator> MpiSession::make_communicator() const {
  // One at a time: a second communication thread would call MPI concurrently with the first,
  // which MPI_THREAD_SERIALIZED forbids.
  if (g_live_communicators.fetch_add(1) != 0) {
    --g_live_communicators;
    BIGBATCH_THROW(CommError, "[rank " << rank_ << "] only one MPI communicator may exist at a time");
  }
  try {
    return std::make_unique<MpiCommunicator>();
  } catch (...) {
    --g_live_communicators;
    throw;
  }
}

void MpiSession::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code == 0 ? 1 : code);
  std::_Exit(code == 0 ? 1 : code);  // MPI_Abort does not return; this line is for the compiler
}

}  // namespace bigbatch::comm
