// Inside the MPI backend only (it includes <mpi.h>): what comm/mpi_comm.cpp shares with the
// parameter server (comm/parameter_server.cpp), which makes its point-to-point calls on the
// workers' communication thread, the one thread of a process that calls MPI.
#pragma once

#include <mpi.h>

#include <functional>
#include <memory>

#include "bigbatch/comm/communicator.h"

namespace bigbatch::comm {

// Throws CommError "[rank r] <expr> failed at file:line: <MPI_Error_string>".
[[noreturn]] void throw_mpi_error(int code, const char* expr, const char* file, int line);

}  // namespace bigbatch::comm

#ifdef MPI_CHECK
#error "MPI_CHECK is already defined (the MPI_ prefix belongs to MPI): rename bigbatch's macro"
#endif
// MPI_CHECK(MPI_Xxx(...)): throws CommError with the call, file:line and MPI_Error_string.
// Meaningful because our communicators' error handler is MPI_ERRORS_RETURN.
#define MPI_CHECK(expr)                                                              \
  do {                                                                               \
    const int mpi_check_code_ = (expr);                                              \
    if (mpi_check_code_ != MPI_SUCCESS)                                              \
      ::bigbatch::comm::throw_mpi_error(mpi_check_code_, #expr, __FILE__, __LINE__); \
  } while (0)

namespace bigbatch::comm {

// An MPI communicator whose communication thread also runs other MPI work, in one FIFO with its
// collectives.
class ThreadedMpiCommunicator : public Communicator {
 public:
  // Queues fn on the communication thread (see CommThread::submit).
  virtual std::unique_ptr<Work> submit(std::function<void()> fn) = 0;
};

// A communicator over a duplicate of `base` (MPI_COMM_WORLD, or a part of it from
// MPI_Comm_split), with its own communication thread and stall watch (MpiSession::
// make_communicator). One may exist at a time in a process; throws CommError otherwise. A stall
// the watch finds is reported stall_defer_s later (beside parameter servers: their own waits
// name the stopped peer better, and speak first).
std::unique_ptr<ThreadedMpiCommunicator> make_mpi_communicator(MPI_Comm base, double stall_timeout_s,
                                                               double stall_defer_s);

}  // namespace bigbatch::comm
