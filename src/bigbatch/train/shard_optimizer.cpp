// One optim::Sgd per unit of a server's part (see the header).
#include "bigbatch/train/shard_optimizer.h"

#include <algorithm>
#include <string>

#include "bigbatch/core/error.h"

namespace bigbatch::train {
namespace {

// Packed (the segments back to back) to and from an arena with one tensor per segment.
void scatter(const float* packed, const Arena& arena) {
  for (const ArenaEntry& e : arena.layout().entries()) {
    std::copy(packed, packed + e.shape.numel(), arena.data() + e.offset);
    packed += e.shape.numel();
  }
}
void gather(const Arena& arena, float* packed) {
  for (const ArenaEntry& e : arena.layout().entries()) {
    std::copy(arena.data() + e.offset, arena.data() + e.offset + e.shape.numel(), packed);
    packed += e.shape.numel();
  }
}

}  // namespace

ShardOptimizer::ShardOptimizer(const optim::SgdOptions& options) : options_(options) {
  BIGBATCH_CHECK(options.kind == optim::OptimizerKind::sgd,
                 "[config] ps-update server runs SGD on the servers; LARS needs whole tensors: use --ps-update worker");
}

void ShardOptimizer::plan(std::shared_ptr<const ArenaLayout> layout,
                          const std::vector<std::vector<comm::Segment>>& segments) {
  const std::vector<ArenaEntry>& keys = layout->entries();
  parts_.clear();
  parts_.resize(segments.size());
  for (size_t b = 0; b < segments.size(); ++b) {
    if (segments[b].empty()) continue;
    auto own = std::make_shared<ArenaLayout>();
    for (const comm::Segment& seg : segments[b]) {
      // The key holding the segment: the last one starting at or before it.
      const auto key = std::upper_bound(keys.begin(), keys.end(), seg.begin,
                                        [](int64_t at, const ArenaEntry& e) { return at < e.offset; }) -
                       1;
      BIGBATCH_CHECK(key >= keys.begin() && seg.end <= key->offset + key->shape.numel(),
                     "[ps] a segment [" << seg.begin << ", " << seg.end << ") outside every key");
      own->add(std::to_string(own->size()), Shape{seg.elems()}, key->role);
    }
    Part& p = parts_[b];
    p.weights = Arena(own);
    p.grads = Arena(own);
    p.sgd = std::make_unique<optim::Sgd>(own, options_);
  }
}

const ShardOptimizer::Part& ShardOptimizer::part(size_t unit) const {
  BIGBATCH_CHECK(unit < parts_.size() && parts_[unit].sgd != nullptr, "[ps] unit " << unit << " is not this server's");
  return parts_[unit];
}

void ShardOptimizer::load(size_t unit, const float* weights, const float* momentum) {
  const Part& p = part(unit);
  scatter(weights, p.weights);
  scatter(momentum, p.sgd->momentum_buffer());
}

void ShardOptimizer::set_prev_lr(double lr) {
  for (Part& p : parts_)
    if (p.sgd) p.sgd->set_prev_lr(lr);
}

void ShardOptimizer::update(size_t unit, float* sum_then_weights, double lr) {
  const Part& p = part(unit);
  scatter(sum_then_weights, p.grads);
  p.sgd->step(p.weights, p.grads, lr);
  gather(p.weights, sum_then_weights);
}

void ShardOptimizer::read_momentum(size_t unit, float* out) const {
  gather(part(unit).sgd->momentum_buffer(), out);
}

}  // namespace bigbatch::train
