// Checkpoints: one safetensors file holding the parameters and BN buffers under their
// torchvision names (loadable by PyTorch's load_state_dict), the momentum buffer under
// "optimizer.momentum.", and the run's position in "__metadata__". Written atomically.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bigbatch/core/arena.h"

namespace bigbatch::train {

// Where a run stands: `step` optimizer steps done in all, the next one being iteration
// `iter` of epoch `epoch`.
struct TrainPosition {
  int64_t epoch = 0;
  int64_t iter = 0;
  int64_t step = 0;
};

// Everything besides tensors that a bitwise-identical resume needs. The sampler and the
// augmentation draw from (seed, epoch, example) streams (RECIPE §5), so the seed is their
// whole random state.
struct CheckpointState {
  std::string model;
  TrainPosition position;
  // kn and n of the run that wrote it (0: not recorded, a checkpoint of an older bigbatch).
  int64_t global_batch = 0, per_worker_batch = 0;
  uint64_t seed = 0;
  double prev_lr = 0.0;  // η of the last step (the v-form's momentum correction needs it)
  // Sums over the current epoch's steps so far, for its "epoch" metrics line.
  double epoch_loss_sum = 0.0;
  int64_t epoch_correct = 0, epoch_seen = 0;
  std::string config_toml;  // the resolved configuration, for the record
};

// Writes path atomically (temp file, fsync, rename): a crash leaves the previous file whole.
// momentum may be null (no optimizer state, e.g. exported weights).
void save_checkpoint(const std::string& path, const Arena& params, const Arena& buffers, const Arena* momentum,
                     const CheckpointState& state);

// Restores everything save_checkpoint wrote; throws InvalidArgument "[checkpoint] <path>: ..."
// when the file is not a bigbatch checkpoint, holds another model than `model` (checked
// first; "" accepts any), or a tensor is missing, misshapen or not the model's.
// Nothing is modified unless every check passes.
CheckpointState load_checkpoint(const std::string& path, const Arena& params, const Arena& buffers,
                                const Arena& momentum, const std::string& model = "");

// What a partial load left out: the file's tensors it did not use, the model's it did not fill.
struct PartialLoad {
  std::vector<std::string> skipped, missing;
};

// Weights only (for --init and eval) of a `model`: every parameter, and the BN buffers when the
// file has any (PyTorch state dicts do; a file of parameters alone keeps the buffers as they
// are). A recorded model name other than `model`, a tensor the model lacks (optimizer state
// aside), or one missing or misshapen is an error naming them. partial instead loads the tensors
// that fit by name and shape and returns the rest. Nothing is modified unless the load succeeds.
PartialLoad load_weights(const std::string& path, const std::string& model, const Arena& params,
                         const Arena& buffers, bool partial = false);

}  // namespace bigbatch::train
