#include "bigbatch/core/arena.h"

#include <cstring>

#include "bigbatch/core/error.h"

namespace bigbatch {

const char* role_name(TensorRole role) {
  switch (role) {
    case TensorRole::conv_weight:
      return "conv_weight";
    case TensorRole::fc_weight:
      return "fc_weight";
    case TensorRole::bias:
      return "bias";
    case TensorRole::bn_gamma:
      return "bn_gamma";
    case TensorRole::bn_beta:
      return "bn_beta";
    case TensorRole::bn_running_mean:
      return "bn_running_mean";
    case TensorRole::bn_running_var:
      return "bn_running_var";
  }
  return "?";
}

bool is_bn_or_bias_parameter(TensorRole role, const char* who) {
  switch (role) {
    case TensorRole::conv_weight:
    case TensorRole::fc_weight:
      return false;
    case TensorRole::bias:
    case TensorRole::bn_gamma:
    case TensorRole::bn_beta:
      return true;
    case TensorRole::bn_running_mean:
    case TensorRole::bn_running_var:
      break;
  }
  BIGBATCH_THROW(InvalidArgument, who << " a parameter arena holds a tensor of role '" << role_name(role)
                                      << "', which is a buffer, not a parameter");
}

int ArenaLayout::add(std::string name, Shape shape, TensorRole role) {
  BIGBATCH_CHECK(find(name) < 0, "[arena] duplicate tensor name '" << name << "'");
  entries_.push_back({std::move(name), shape, role, total_});
  total_ += padded(shape.numel());
  return size() - 1;
}

int ArenaLayout::find(const std::string& name) const {
  for (int i = 0; i < size(); ++i)
    if (entries_[static_cast<size_t>(i)].name == name) return i;
  return -1;
}

int64_t ArenaLayout::count() const {
  int64_t n = 0;
  for (const ArenaEntry& e : entries_) n += e.shape.numel();
  return n;
}

Arena::Arena(std::shared_ptr<const ArenaLayout> layout)
    : Arena(layout, Storage::allocate(static_cast<size_t>(layout->total_elems()) * sizeof(float))) {}

Arena::Arena(std::shared_ptr<const ArenaLayout> layout, std::shared_ptr<Storage> storage)
    : layout_(std::move(layout)), storage_(std::move(storage)) {
  BIGBATCH_CHECK(
      storage_ != nullptr && storage_->nbytes() >= static_cast<size_t>(layout_->total_elems()) * sizeof(float),
      "[arena] the storage is smaller than the layout's " << layout_->total_elems() << " floats");
  tensors_.reserve(static_cast<size_t>(layout_->size()));
  for (const ArenaEntry& e : layout_->entries())
    tensors_.push_back(Tensor::view_of(storage_, static_cast<size_t>(e.offset) * sizeof(float), e.shape, DType::f32));
}

const Tensor& Arena::tensor(const std::string& name) const {
  int i = layout_->find(name);
  BIGBATCH_CHECK(i >= 0, "[arena] no tensor named '" << name << "'");
  return tensor(i);
}

void Arena::zero() const {
  BIGBATCH_CHECK(device() == Device::cpu, "[arena] zero() of a " << device_name(device()) << " arena");
  std::memset(data(), 0, static_cast<size_t>(total_elems()) * sizeof(float));
}

void Arena::copy_from(const Arena& other) const {
  BIGBATCH_CHECK(other.total_elems() == total_elems(), "[arena] copy between different layouts");
  BIGBATCH_CHECK(device() == Device::cpu && other.device() == Device::cpu,
                 "[arena] copy_from() between " << device_name(other.device()) << " and " << device_name(device())
                                                << " arenas (use nn::copy_arena)");
  std::memcpy(data(), other.data(), static_cast<size_t>(total_elems()) * sizeof(float));
}

}  // namespace bigbatch
