// Flat arenas: every parameter of a network in one f32 buffer, every gradient in another
// with the same layout, so an allreduce is a few large buckets and the optimizer one pass.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bigbatch/core/tensor.h"

namespace bigbatch {

// What a tensor is for; weight-decay and LARS rules are chosen by role (RECIPE §3).
enum class TensorRole { conv_weight, fc_weight, bias, bn_gamma, bn_beta, bn_running_mean, bn_running_var };

const char* role_name(TensorRole role);

// Whether a parameter is a BN γ/β or a bias: the tensors that weight decay and LARS leave alone
// by default (RECIPE §3, §9). A BN running statistic is a buffer, not a parameter: an
// InvalidArgument that starts with `who`.
bool is_bn_or_bias_parameter(TensorRole role, const char* who);

struct ArenaEntry {
  std::string name;  // torchvision state-dict name, e.g. "layer1.0.conv1.weight"
  Shape shape;
  TensorRole role;
  int64_t offset;  // in elements from the arena's start; a multiple of kArenaAlignElems
};

// The names, shapes and offsets of an arena's tensors; built once, then frozen.
class ArenaLayout {
 public:
  static constexpr int64_t kArenaAlignElems = 16;  // 64 bytes of f32
  // The elements a tensor of numel elements takes in an arena: numel rounded up to the alignment.
  static constexpr int64_t padded(int64_t numel) {
    return (numel + kArenaAlignElems - 1) / kArenaAlignElems * kArenaAlignElems;
  }

  // Appends a tensor and returns its index.
  int add(std::string name, Shape shape, TensorRole role);
  const std::vector<ArenaEntry>& entries() const { return entries_; }
  int size() const { return static_cast<int>(entries_.size()); }
  const ArenaEntry& entry(int i) const { return entries_[static_cast<size_t>(i)]; }
  int find(const std::string& name) const;        // -1 when absent
  int64_t total_elems() const { return total_; }  // including alignment padding
  int64_t count() const;                          // sum of numel, no padding

 private:
  std::vector<ArenaEntry> entries_;
  int64_t total_ = 0;
};

// A contiguous element range [begin, end) of an arena, alignment padding included, held by
// `owner` (in a gradient arena: the graph node whose gradients it holds).
struct ArenaRange {
  int owner = -1;
  int64_t begin = 0;
  int64_t end = 0;
  int64_t elems() const { return end - begin; }
};

// One f32 buffer laid out by an ArenaLayout; tensor(i) is a view into it.
class Arena {
 public:
  Arena() = default;
  explicit Arena(std::shared_ptr<const ArenaLayout> layout);  // zero-filled, on the CPU
  // Laid out over `storage` (at least total_elems() floats, on any device): how a backend
  // makes an arena in its own memory (nn::make_arena).
  Arena(std::shared_ptr<const ArenaLayout> layout, std::shared_ptr<Storage> storage);

  const ArenaLayout& layout() const { return *layout_; }
  const std::shared_ptr<const ArenaLayout>& layout_ptr() const { return layout_; }
  const Tensor& tensor(int i) const { return tensors_[static_cast<size_t>(i)]; }
  const Tensor& tensor(const std::string& name) const;  // throws InvalidArgument when absent
  float* data() const { return static_cast<float*>(storage_->data()); }
  int64_t total_elems() const { return layout_->total_elems(); }
  Device device() const { return storage_->device(); }
  bool same_storage(const Arena& other) const { return storage_ == other.storage_; }
  // CPU arenas only (InvalidArgument otherwise; nn/device_arena.h works on any device).
  void zero() const;
  void copy_from(const Arena& other) const;  // same layout

 private:
  std::shared_ptr<const ArenaLayout> layout_;
  std::shared_ptr<Storage> storage_;
  std::vector<Tensor> tensors_;
};

}  // namespace bigbatch
