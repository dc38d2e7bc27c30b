// MXNet's half of the system: synchronous parameter-server training over MPI (KVStore's
// dist_sync). Under `mpirun -np W+S` the last S ranks of the job are servers and the first W are
// workers. Each parameter tensor is a key, sharded over the servers (comm/ps_sharding.h). Every
// step, a worker pushes each gradient bucket as backward finishes it (the reducer's ready hook,
// so pushes overlap backward) and a server sums the W pushes of its part of the bucket in worker
// order. Then either
//   - the update runs on the workers (BytePS): every worker pulls the sum and runs the
//     optimizer, so the training is the allreduce's; or
//   - it runs on the servers (MXNet's update_on_kvstore): a server applies the optimizer to its
//     part (a ShardUpdater, at the lr worker 0 sends with each step) and the workers pull the
//     new weights. The momentum then lives on the servers; worker 0 loads them at the start
//     and gathers it back for each checkpoint, so checkpoints are the same files either way.
// MPI is the transport: point-to-point calls on a duplicate of MPI_COMM_WORLD, made on the
// workers' communication thread (the one thread of a process that calls MPI).
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
  bool update_on_servers = true;     // --ps-update server (MXNet's default) | worker (BytePS)
  // --ps-mode async (MXNet's dist_async; the update on the servers): a server applies each
  // worker's push the moment it arrives and answers with the weights as they are then. Not the
  // paper's recipe and not deterministic. The workers still agree on the loss and a stop after
  // every step, so a gradient is at most one step stale.
  bool async = false;
};

// The optimizer on a server's part of the model (--ps-update server). comm knows no optimizer:
// train/ implements this with optim::Sgd. The part comes in units (at most 1 MiB of one
// bucket's part each, the messages of the exchange); unit u is segments[u], packed in order.
class ShardUpdater {
 public:
  virtual ~ShardUpdater() = default;
  // Once, before anything else: the layout of the workers' parameter arena (tensors named
  // key<i>, with their roles) and this server's units.
  virtual void plan(std::shared_ptr<const ArenaLayout> layout, const std::vector<std::vector<Segment>>& segments) = 0;
  // Worker 0's weights and momentum of unit u, packed; and the lr of its last step.
  virtual void load(size_t unit, const float* weights, const float* momentum) = 0;
  virtual void set_prev_lr(double lr) = 0;
  // In place: unit u's summed gradients become its updated weights, at this step's lr.
  virtual void update(size_t unit, float* sum_then_weights, double lr) = 0;
  // Unit u's momentum, packed.
  virtual void read_momentum(size_t unit, float* out) const = 0;
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
  bool update_on_servers() const;
  // Update on the servers, before the first step: what a bucket pulls is the new weights,
  // written into `params` (the step's host parameter arena, the gradients' layout); the worker
  // must not update them itself.
  void set_parameters(const Arena& params);
  // Update on the servers: the lr of the step about to run (sent with its first bucket).
  void set_lr(double lr);
  // Update on the servers, every worker after connect (worker 0 acts): the servers take these
  // weights, momentum and last lr as theirs (a new run's initial model, or a checkpoint's).
  void load_servers(const Arena& params, const Arena& momentum, double prev_lr);
  // Update on the servers, worker 0 between steps: the servers' momentum into `momentum`.
  void gather_momentum(const Arena& momentum);
  // After connect: the bytes each server holds.
  const std::vector<int64_t>& server_loads() const;
  // Workers, at the end of training: worker 0 tells the servers to stop (asynchronous: every
  // worker says it is done).
  void finish();

  // Servers: answers the workers' pushes until worker 0 calls finish(), then returns. With the
  // update on the servers, `updater` runs it (required then, ignored otherwise).
  void serve(ShardUpdater* updater = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bigbatch::comm
