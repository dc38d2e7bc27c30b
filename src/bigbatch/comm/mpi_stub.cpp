// MpiSession for a build without MPI (BIGBATCH_MPI=OFF): it cannot be constructed.
#include "bigbatch/comm/mpi_comm.h"

#include <cstdlib>

#include "bigbatch/core/error.h"

namespace bigbatch::comm {

bool built_with_mpi() { return false; }

MpiSession::MpiSession() {
  BIGBATCH_THROW(CommError, "[mpi] bigbatch was built without MPI (configure with -DBIGBATCH_MPI=ON)");
}

MpiSession::~MpiSession() = default;

std::unique_ptr<Communicator> MpiSession::make_communicator(double /*stall_timeout_s*/) const {
  BIGBATCH_THROW(CommError, "[mpi] bigbatch was built without MPI");
}

void MpiSession::abort(int code) const { std::_Exit(code == 0 ? 1 : code); }

}  // namespace bigbatch::comm
