// The NCCL backend in a build without NCCL (BIGBATCH_NCCL=OFF): it cannot be made.
#include "bigbatch/comm/nccl_comm.h"

#include "bigbatch/core/error.h"

namespace bigbatch::comm {

bool built_with_nccl() { return false; }

std::unique_ptr<NcclCommunicator> make_nccl_communicator(Communicator&, int) {
  BIGBATCH_THROW(CommError, "[nccl] bigbatch was built without NCCL (configure with NCCL present, or -DBIGBATCH_NCCL=ON)");
}

}  // namespace bigbatch::comm
