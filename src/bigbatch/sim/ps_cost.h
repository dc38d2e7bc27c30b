// The parameter server (MXNet's KVStore in dist_sync, BytePS) in the α–β–γ model: inside each
// machine the g GPUs' gradients are reduced to one buffer and the result broadcast back (the
// pipelined chains of the hierarchical scheme); between machines each of W workers pushes its
// N bytes, split over S servers, and pulls the N bytes of the sum.
#pragma once

#include <cstdint>

#include "bigbatch/sim/allreduce_cost.h"

namespace bigbatch::sim {

// ParameterServers is in allreduce_cost.h, part of the Cluster.

// The network part for one buffer of n_bytes among `workers` machines. A server answers each
// part as soon as it holds the W pushes of it, so on full-duplex links the pull of one part
// overlaps the push of the next (the fill of one part is neglected): the time is 2α (push, pull)
// plus the busiest NIC's bytes in its busier direction times β, plus the servers' summing
// ((W−1)·N·imbalance/S bytes on the busiest). Per direction, a dedicated setup carries N on a
// worker's NIC and W·N·imbalance/S on a server's; a co-located server's machine carries its own
// pushes to the other servers, N·(S−1)/S, plus its answers to the other workers,
// (W−1)·N·imbalance/S, i.e. 2(W−1)/W·N for S = W: the ring's bytes. `bytes` is that busiest
// NIC's load; `steps` is 2. One worker with co-located servers moves nothing. Throws
// InvalidArgument for workers < 1, servers < 1 (0 is ps_cost's), a co-located S > W, or
// imbalance < 1.
AllreduceCost ps_network_cost(int64_t workers, double n_bytes, const ParameterServers& ps, const Link& link,
                              double gamma_s);

// The whole exchange over p = W·g GPUs (g = min(p, gpus_per_server)): the reduce inside each
// machine, the network part (ps.servers = 0: S = W), and the broadcast inside. Throws InvalidArgument when p is not
// whole machines.
HierarchicalCost ps_cost(int64_t p, double n_bytes, const ParameterServers& ps, const Cluster& cluster);

}  // namespace bigbatch::sim
