// The NCCL backend: one rank per GPU, behind the Communicator interface, with the
// stream-ordered allreduce of device memory (allreduce_sum_on_stream) that GPU training's
// reducer uses. Free of <nccl.h> and CUDA headers, so that a build without NCCL links
// nccl_stub.cpp.
#pragma once

#include <memory>

#include "bigbatch/comm/communicator.h"

namespace bigbatch::comm {

// False in a build configured with BIGBATCH_NCCL=OFF.
bool built_with_nccl();

class NcclCommunicator : public Communicator {
 public:
  virtual int device() const = 0;
};

// A communicator over the same ranks as `bootstrap` (usually MPI): rank 0 makes the NCCL
// unique id and broadcasts it over bootstrap; every rank binds CUDA device `device` (one rank
// per GPU: pass the local rank). The Communicator (host-buffer) collectives stage through a
// device buffer and are synchronous; allreduce_sum_async runs synchronously too and returns
// a completed Work. allreduce_sum_on_stream runs on the communicator's own stream after an
// event on the caller's, so that it overlaps the caller's later work until wait(). Throws CommError "[nccl] ..." (or
// "[nccl] bigbatch was built without NCCL").
std::unique_ptr<NcclCommunicator> make_nccl_communicator(Communicator& bootstrap, int device);

}  // namespace bigbatch::comm
