// N ranks as N threads of one process, meeting at a shared rendezvous: fast tests over many
// world sizes, and the same arithmetic as real workers.
#pragma once

#include <memory>
#include <vector>

#include "bigbatch/comm/communicator.h"

namespace bigbatch::comm {

// size >= 1 communicators, rank k at index k, meant to be used from one thread per rank.
// Sums are taken in rank order 0..size-1 for every element, so results are deterministic and
// bitwise identical on every rank. Each rank runs its collectives on its own communication
// thread, like the MPI backend. A collective whose ranks disagree on the operation, type,
// count or root throws CommError on every rank. The communicators may be destroyed in any
// order, each once its rank has finished with it.
std::vector<std::unique_ptr<Communicator>> make_inprocess_group(int size);

}  // namespace bigbatch::comm
