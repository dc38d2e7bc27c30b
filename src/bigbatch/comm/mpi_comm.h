// The MPI backend: a process-wide MPI session and a communicator over MPI_COMM_WORLD. Free of
// <mpi.h>, so that a build without MPI links mpi_stub.cpp behind the same header.
#pragma once

#include <memory>

#include "bigbatch/comm/communicator.h"

namespace bigbatch::comm {

// True when this process was started by mpirun/mpiexec (Open MPI, MPICH/PMI) or srun, read
// from the environment; single-process runs then never touch MPI.
bool launched_by_mpi();
// Ranks of this job sharing this machine (Open MPI, Slurm, MPICH); 1 when not launched or unknown.
int local_ranks();
// False in a build configured with BIGBATCH_MPI=OFF.
bool built_with_mpi();

// Owns MPI's lifetime: MPI_Init_thread(MPI_THREAD_SERIALIZED) on construction, MPI_Finalize
// on destruction. One per process (MPI cannot be initialised twice), hence neither copyable
// nor movable. Throws CommError when MPI is missing or fails to start. Communicators made
// from it must be destroyed before it.
class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }  // in MPI_COMM_WORLD
  int size() const { return size_; }

  // A communicator over a duplicate of MPI_COMM_WORLD, with its own communication thread.
  // stall_timeout_s > 0: a collective that some rank has not reached after that many seconds
  // (or that does not complete once all have) ends the job with one line naming the ranks
  // that did not arrive, then MPI_Abort; 0 waits forever.
  std::unique_ptr<Communicator> make_communicator(double stall_timeout_s = 0) const;

  // MPI_Abort on MPI_COMM_WORLD: every process of the job exits with a non-zero status.
  [[noreturn]] void abort(int code) const;

 private:
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace bigbatch::comm
