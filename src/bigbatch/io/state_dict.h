// PyTorch-style state dicts in safetensors files: an Arena's tensors saved and loaded by
// their torchvision names (e.g. "layer1.0.conv1.weight"), optionally under a prefix.
#pragma once

#include <string>

#include "bigbatch/core/arena.h"
#include "bigbatch/io/safetensors.h"

namespace bigbatch::io {

// True for names ending in ".num_batches_tracked": PyTorch keeps those as I64 scalars.
bool is_num_batches_tracked(const std::string& name);

// Adds every entry of arena as prefix + name: F32 with the entry's shape, except
// num_batches_tracked entries (numel 1), which become I64 scalars of shape [] as in PyTorch.
void add_arena(SafetensorsWriter& writer, const Arena& arena, const std::string& prefix = "");

// Why file's tensor `name` cannot fill entry ("missing ...", "has shape ...", "is I8, ..."), or
// "" when it can: present, the same shape (num_batches_tracked: any shape of numel 1), and a
// dtype read_f32 converts. The one rule load_arena and partial loads check.
std::string unfit_reason(const SafetensorsFile& file, const std::string& name, const ArenaEntry& entry);

// Fills arena from the tensors prefix + name. Every entry must fit (unfit_reason); strict
// also rejects tensors under prefix that the arena lacks. Everything is checked before
// anything is written, so on InvalidArgument the arena is unchanged.
void load_arena(const SafetensorsFile& file, const Arena& arena, const std::string& prefix, bool strict);

}  // namespace bigbatch::io
