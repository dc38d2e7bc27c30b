// The training loop of large-minibatch synchronous SGD in one process: k = kn/n virtual
// workers, each with its own batch-norm statistics over its n examples (ghost BN), loss
// divided by kn, gradients summed over workers (RECIPE §4, §6), optionally a few workers at a
// time with gradient accumulation (§8); evaluation every epoch, metrics, checkpoints, resume.
#pragma once

#include <memory>
#include <string>

#include "bigbatch/comm/communicator.h"
#include "bigbatch/comm/parameter_server.h"
#include "bigbatch/train/evaluator.h"
#include "bigbatch/train/train_config.h"

namespace bigbatch::train {

struct TrainResult {
  EvalResult final_eval;
  int64_t steps = 0;     // optimizer steps done in all (including before a resume)
  int64_t epochs = 0;    // epochs completed in all
  double wall_s = 0.0;   // this process's training time
  std::string run_dir;
  std::string last_checkpoint;
  // A stop request (stop_request.h) ended the run early at a step boundary, on every rank at
  // the same step, after writing last_checkpoint: the signal, else 0. final_eval is not run.
  int stopped_by = 0;
};

class Trainer {
 public:
  // Loads the data, builds and initialises (or restores, with config.resume) the model and
  // plans the executors. config_toml is the resolved configuration, written to the run
  // directory as config.toml. Throws InvalidArgument on a bad configuration or input.
  // With a communicator of R ranks, k = R·v workers: this rank runs workers r·v .. r·v+v−1
  // of the global order (RECIPE §5), gradients are summed over ranks by a bucketed reducer
  // overlapped with backward, and only rank 0 writes the run directory.
  // With parameter servers (config.ps.enabled), comm is the workers' communicator and `ps` the
  // job: every worker connects to the servers here, and the gradients go through them.
  Trainer(const TrainConfig& config, const std::string& config_toml, comm::Communicator* comm = nullptr,
          comm::ParameterServerJob* ps = nullptr);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Trains to the end (all epochs, or max_iters steps in all). A non-finite loss throws
  // Error naming the iteration, with the last good checkpoint left as it was.
  TrainResult run();

  // For tests and tools: the model's current state.
  const Arena& params() const;
  const Arena& buffers() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace bigbatch::train
