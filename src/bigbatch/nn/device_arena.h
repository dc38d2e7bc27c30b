// Arenas on the device a run computes on, and the whole-arena operations the trainer's step
// needs, the same calls whatever the device: OpenMP loops on the CPU, the compute stream's
// kernels on the GPU (backend/cuda/arena_ops.h).
#pragma once

#include <memory>

#include "bigbatch/core/arena.h"
#include "bigbatch/core/dtype.h"

namespace bigbatch::nn {

// A zero-filled arena of `layout` on `device` (cuda: the current GPU).
Arena make_arena(std::shared_ptr<const ArenaLayout> layout, Device device);
// dst = src, between any devices (same layout); nothing when both are one storage.
void copy_arena(const Arena& dst, const Arena& src);
void zero_arena(const Arena& a);
// dst += src (same device); a *= factor.
void add_arena(const Arena& dst, const Arena& src);
void scale_arena(const Arena& a, float factor);
// Whether every element is finite (waits for the device).
bool arena_is_finite(const Arena& a);

}  // namespace bigbatch::nn
