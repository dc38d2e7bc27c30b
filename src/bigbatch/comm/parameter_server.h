// MXNet's half of the system: synchronous parameter-server training over MPI (KVStore's
// dist_sync with the update on the workers, as BytePS runs it). Under `mpirun -np W+S` the last
// S ranks of the job are servers and the first W are workers. Each parameter tensor is a key,
// sharded over the servers (comm/ps_sharding.h). Every step, a worker pushes each gradient
// bucket as backward finishes it (the reducer's ready hook, so pushes overlap backward), a
// server sums the W pushes of its part of the bucket in worker order and every worker pulls the
// sum; each worker then runs the optimizer, so the training is the allreduce's. MPI is the
// transport: point-to-point calls on a duplicate of MPI_COMM_WORLD, made on the workers'
// communication thread (the one thread of a process that calls MPI).
//
// Faults: a wait for a peer that has not answered within the stall timeout ends the job with
// one line naming the peer's role and rank (then MPI_Abort); a dead rank ends it through mpirun.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bigbatch/comm/bucket_plan.h"
#include "bigbatch/comm/communicator.h"
#include "bigbatch/comm/gradient_reducer.h"
#include "bigbatch/comm/mpi_comm.h"
#include "bigbatch/comm/ps_sharding.h"
#include "bigbatch/core/arena.h"

namespace bigbatch::comm {

struct PsOptions {
  bool enabled = false;              // --comm ps (else the gradients are allreduced)
  int servers = 1;                   // S: the last S ranks of the job
  int64_t bigarray_bound = 1000000;  // keys of this many elements or more are split over the servers
  int64_t partition_bytes = 0;       // > 0: BytePS-style fixed pieces instead (ShardOptions)
};

enum class PsRole { worker, server };

class ParameterServerJob {
 public:
  // Collective over the whole job: every rank constructs it, on its main thread, before any
  // communicator exists. Throws InvalidArgument unless 1 <= S < the job's ranks. A wait for a
  // peer longer than stall_timeout_s ends the job naming it (0: forever); between steps a
  // server waits as long as the workers evaluate and checkpoint.
  ParameterServerJob(const MpiSession& session, const PsOptions& options, double stall_timeout_s);
  ~ParameterServerJob();
  ParameterServerJob(const ParameterServerJob&) = delete;
  ParameterServerJob& operator=(const ParameterServerJob&) = delete;

  PsRole role() const;
  int index() const;  // this rank's number among its role
  int workers() const;
  int servers() const;
  // "ranks 0-1 are workers 0-1, ranks 2-3 are servers 0-1".
  std::string describe() const;

  // Workers: the communicator of the W workers (the trainer's collectives).
  Communicator& workers_comm();
  // Workers, once each, alike: the keys are the tensors of the gradient arena's layout, the
  // buckets the reducer's. Worker 0 sends them to the servers; returns the exchange the
  // reducer's buckets go through (ReducerOptions::exchange).
  BucketExchange& connect(const ArenaLayout& layout, const std::vector<Bucket>& buckets);
  // After connect: the bytes each server holds.
  const std::vector<int64_t>& server_loads() const;
  // Workers, at the end of training: worker 0 tells the servers to stop (the others do nothing).
  void finish();

  // Servers: answers the workers' pushes until worker 0 calls finish(), then returns.
  void serve();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bigbatch::comm
