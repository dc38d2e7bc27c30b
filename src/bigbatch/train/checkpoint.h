// Checkpoints: one safetensors file holding the parameters and BN buffers under their
// torchvision names (loadable by PyTorch's load_state_dict), the momentum buffer under
// "optimizer.momentum.", and the run's position in "__metadata__". Written atomically.
#pragma once

#include <cstdint>
#include <map>
#include <string>

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
// when the file is not a bigbatch checkpoint of this model or a tensor is missing or misshapen.
// Nothing is modified unless every check passes.
CheckpointState load_checkpoint(const std::string& path, const Arena& params, const Arena& buffers,
                                const Arena& momentum);

// Weights only (for --init and eval): the parameters, and the BN buffers when the file has
// them (PyTorch state dicts do; a file of parameters alone keeps the buffers as they are).
// Tensors the model lacks, such as "optimizer.*", are ignored.
void load_weights(const std::string& path, const Arena& params, const Arena& buffers);

}  // namespace bigbatch::train
