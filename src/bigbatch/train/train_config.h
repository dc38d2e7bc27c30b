// Everything a training run is configured by, with the paper's choices as defaults
// (RECIPE.md). Each group is the struct of the layer that uses it, so a default is written
// once, where its meaning is: the CLI fills the groups from a TOML file and flags (one key per
// field, cli/train_options.cpp), the trainer validates them and hands each to its owner.
#pragma once

#include <cstdint>
#include <string>

#include "bigbatch/comm/gradient_reducer.h"
#include "bigbatch/comm/parameter_server.h"
#include "bigbatch/core/dtype.h"
#include "bigbatch/data/augment.h"
#include "bigbatch/nn/init.h"
#include "bigbatch/optim/lr_policy.h"
#include "bigbatch/optim/sgd.h"
#include "bigbatch/train/datasets.h"

namespace bigbatch::train {

struct ModelConfig {
  std::string name = "resnet20";  // models::build_model's name (`bigbatch models`)
  nn::InitOptions init;           // zero-γ (RECIPE §6)
  // Models with an auxiliary classifier (inception_v3): its loss's weight in training.
  double aux_loss_weight = 0.4;
};

// Where the examples come from and how a batch is made (RECIPE §5, §7).
struct InputConfig {
  DatasetSpec data;  // the dataset and how its files are read
  bool shuffle = true;
  data::AugmentKind augment = data::AugmentKind::standard;
  int64_t augment_until_epoch = -1;  // stop augmenting from this epoch on; -1 = never
  int64_t decode_threads = 0;        // threads reading a batch; 0 = decode_threads_for's rule
  int64_t prefetch_batches = 2;      // batches made ahead of the step (the bounded queue)
};

// The minibatch (RECIPE §4, §6, §8): kn = global, n = per_worker, k = kn / n workers.
struct BatchConfig {
  int64_t global = 1024;
  int64_t per_worker = 32;
  int64_t micro = 0;  // examples per forward/backward pass (whole workers); 0 = all at once

  int64_t workers() const { return global / per_worker; }  // k, over all ranks
};

// How the run is driven: what it starts from, where it writes, how it reports.
struct RunConfig {
  int64_t max_iters = 0;  // stop after this many optimizer steps in total; 0 = all epochs
  uint64_t seed = 0;      // initialisation, data order, augmentation (and synthetic data)
  int threads = 0;        // 0 = the usable cores (core/threading's choose_threads)
  DType precision = DType::f32;
  Device device = Device::cpu;  // cuda: one GPU per rank (its local rank)
  bool channels_last = false;   // cuda: NHWC activations
  std::string init;             // safetensors weights to start from
  bool init_partial = false;    // init: load what matches, list the rest (else all or an error)
  std::string resume;           // run directory to continue
  bool allow_batch_change = false;  // resume: at another kn or n (at an epoch boundary)
  std::string out = "runs/default";
  bool overwrite = false;  // out: replace the run it holds (else that is an error)
  int64_t log_every = 10;        // iterations between "iter" metric lines
  int64_t checkpoint_every = 1;  // epochs between checkpoints (the last epoch always)
  int64_t eval_batch = 500;      // examples per evaluation forward
  // Before each evaluation (and so in each checkpoint after one), the BN running statistics are
  // recomputed as plain averages over this many training batches (TrainStep::
  // recompute_bn_statistics); 0 keeps the running averages of training.
  int64_t precise_bn_batches = 0;
  bool progress = true;          // progress bar / lines on stderr
  // Several ranks: a collective some rank has not reached after this long ends the job, naming
  // it (comm::MpiSession::make_communicator); 0 waits forever. Generous: a checkpoint write or
  // an evaluation on one rank must never trip it.
  double stall_timeout_s = 600;
};

struct TrainConfig {
  ModelConfig model;
  InputConfig input;
  BatchConfig batch;
  // The lr policy (RECIPE §1–2). Its global_batch and iters_per_epoch are not configured: the
  // trainer sets them from `batch` and the sampler.
  optim::LrPolicyConfig lr;
  optim::SgdOptions optimizer;   // momentum, weight decay, LARS (RECIPE §3, §9)
  comm::ReducerOptions reducer;  // distributed: gradient buckets (its stream is the trainer's)
  comm::PsOptions ps;            // distributed: parameter servers instead of the allreduce
  RunConfig run;
};

// Throws InvalidArgument "[config] <key>: ..." naming the key when values disagree (kn not
// divisible by n, micro-batch not whole workers, negative epochs, ...).
void validate(const TrainConfig& config);

}  // namespace bigbatch::train
