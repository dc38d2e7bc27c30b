// Everything a training run is configured by, with the paper's choices as defaults
// (RECIPE.md). The CLI fills it from a TOML file and flags; the trainer validates it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bigbatch/core/dtype.h"
#include "bigbatch/data/augment.h"
#include "bigbatch/data/jpeg_codec.h"
#include "bigbatch/optim/lr_policy.h"
#include "bigbatch/optim/sgd.h"

namespace bigbatch::train {

enum class MomentumForm { u, v };  // RECIPE §3: u-form (default) or v-form with correction

const char* momentum_form_name(MomentumForm form);
MomentumForm parse_momentum_form(const std::string& name);  // "u" or "v"

struct TrainConfig {
  // Model and data.
  std::string model = "resnet20";
  std::string dataset = "fashion-mnist";  // fashion-mnist | mnist | cifar10 | cifar100 | synthetic |
                                          // imagefolder | imageshards
  std::string data_dir;                    // empty: the dataset's default directory
  int64_t synthetic_size = 4096;           // synthetic: training examples (test: a quarter)

  // Minibatch (RECIPE §4, §6, §8): kn = global_batch, n = per_worker_batch, k = kn / n.
  int64_t global_batch = 1024;
  int64_t per_worker_batch = 32;
  int64_t micro_batch = 0;  // examples per forward/backward pass (whole workers); 0 = all at once

  // Learning rate (RECIPE §1–2).
  double lr = 0.1;         // η₀ at ref_batch
  int64_t ref_batch = 256;  // B₀
  optim::LrScaling scaling = optim::LrScaling::linear;
  optim::LrWarmup warmup = optim::LrWarmup::gradual;
  int64_t warmup_epochs = 5;
  int64_t epochs = 90;
  optim::LrSchedule decay = optim::LrSchedule::step;
  std::vector<int64_t> decay_epochs = {30, 60, 80};
  double decay_factor = 0.1;
  double final_lr = 0.0;
  double poly_power = 2.0;

  // Optimizer (RECIPE §3).
  double momentum = 0.9;
  MomentumForm momentum_form = MomentumForm::u;
  bool nesterov = false;
  double weight_decay = 1e-4;
  bool wd_on_bn = false;  // also decay BN γ/β and biases
  // LARS (RECIPE §9): per-tensor trust ratio η_lars·‖w‖/(‖g‖ + λ‖w‖) on the update (optim/sgd.h).
  optim::OptimizerKind optimizer = optim::OptimizerKind::sgd;
  double lars_eta = 0.001;  // trust coefficient η_lars
  bool lars_on_bn = false;  // also scale BN γ/β and biases

  // Network and data order (RECIPE §5–7).
  bool zero_gamma = true;
  bool shuffle = true;
  data::AugmentKind augment = data::AugmentKind::standard;
  int64_t augment_until_epoch = -1;  // stop augmenting from this epoch on; -1 = never

  // Input pipeline; JPEG datasets (imagefolder, imageshards) are decoded as they are read.
  int64_t image_size = 224;      // JPEG: training crop and evaluation centre crop (pixels)
  int64_t decode_threads = 0;    // threads reading a batch; 0 = half the cores for JPEG, 1 in memory
  int64_t prefetch_batches = 2;  // batches made ahead of the step (the bounded queue)
  bool skip_bad_images = false;  // JPEG: replace an unreadable image (logged) instead of stopping
  int64_t max_image_pixels = data::kDefaultMaxImagePixels;  // JPEG: a larger header is a bad image

  // Distributed (mpirun -np R): gradient buckets and their overlap with backward.
  int64_t bucket_mib = 25;  // bucket cap in MiB (PyTorch DDP's default)
  bool overlap = true;      // start each bucket's allreduce during backward

  // Run control.
  int64_t max_iters = 0;  // stop after this many optimizer steps in total; 0 = all epochs
  uint64_t seed = 0;
  int threads = 0;  // 0 = all cores
  DType precision = DType::f32;
  Device device = Device::cpu;  // cuda: the GPU executor, one GPU per rank (its local rank)
  bool channels_last = false;   // cuda: NHWC activations
  std::string init;    // safetensors weights to start from
  std::string resume;  // run directory to continue
  std::string out = "runs/default";
  int64_t log_every = 10;         // iterations between "iter" metric lines
  int64_t checkpoint_every = 1;   // epochs between checkpoints (the last epoch always)
  int64_t eval_batch = 500;       // examples per evaluation forward
  bool progress = true;           // progress bar / lines on stderr

  // k, over all ranks (valid after validate()).
  int64_t workers() const { return global_batch / per_worker_batch; }
};

// Throws InvalidArgument "[config] ..." naming the key when values disagree (kn not
// divisible by n, micro-batch not whole workers, negative epochs, ...).
void validate(const TrainConfig& config);

}  // namespace bigbatch::train
