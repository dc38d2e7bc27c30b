// LARS trust ratios and the per-tensor norms behind them (RECIPE §9).
#include "bigbatch/optim/lars.h"

#include <algorithm>
#include <cmath>

#include "bigbatch/backend/cuda/sgd.h"
#include "bigbatch/core/error.h"

namespace bigbatch::optim {

bool applies_lars(TensorRole role, bool on_bn_and_bias) {
  return !is_bn_or_bias_parameter(role, "[lars]") || on_bn_and_bias;
}

double lars_local_lr(double eta, double w_norm, double g_norm, double weight_decay) {
  if (w_norm == 0.0 || g_norm == 0.0) return 1.0;
  return eta * w_norm / (g_norm + weight_decay * w_norm);
}

TensorNorms::TensorNorms(std::shared_ptr<const ArenaLayout> layout, const std::vector<int>& tensors)
    : layout_(std::move(layout)) {
  BIGBATCH_CHECK(layout_ != nullptr, "[lars] expected a parameter layout, got null");
  for (int i : tensors) {
    BIGBATCH_CHECK(i >= 0 && i < layout_->size(),
                   "[lars] tensor index " << i << " is outside the layout's " << layout_->size() << " tensors");
    const ArenaEntry& e = layout_->entry(i);
    const int64_t end = e.offset + e.shape.numel();
    for (int64_t b = e.offset; b < end; b += kChunkElems) chunks_.push_back({i, b, std::min(end, b + kChunkElems)});
  }
  for (const Chunk& c : chunks_) bounds_.insert(bounds_.end(), {c.begin, c.end});
  w_sq_.assign(chunks_.size(), 0.0);
  g_sq_.assign(chunks_.size(), 0.0);
  w_norm_.assign(static_cast<size_t>(layout_->size()), 0.0);
  g_norm_.assign(static_cast<size_t>(layout_->size()), 0.0);
}

void TensorNorms::compute(const float* w, const float* g) {
  const auto n = static_cast<int64_t>(chunks_.size());
  // Static schedule or dynamic, each chunk's sum is computed the same way by whoever takes it.
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t c = 0; c < n; ++c) {
    const Chunk& chunk = chunks_[static_cast<size_t>(c)];
    double sw = 0.0, sg = 0.0;
#pragma omp simd reduction(+ : sw, sg)
    for (int64_t i = chunk.begin; i < chunk.end; ++i) {
      sw += static_cast<double>(w[i]) * w[i];
      sg += static_cast<double>(g[i]) * g[i];
    }
    w_sq_[static_cast<size_t>(c)] = sw;
    g_sq_[static_cast<size_t>(c)] = sg;
  }
  add_chunks();
}

void TensorNorms::compute_on_device(const float* w, const float* g) {
  backend::cuda::square_sums(w, g, bounds_, w_sq_, g_sq_);
  add_chunks();
}

void TensorNorms::add_chunks() {
  // Chunks are grouped by tensor and ordered: one serial pass adds them in a fixed order.
  size_t c = 0;
  while (c < chunks_.size()) {
    const int t = chunks_[c].tensor;
    double sw = 0.0, sg = 0.0;
    for (; c < chunks_.size() && chunks_[c].tensor == t; ++c) {
      sw += w_sq_[c];
      sg += g_sq_[c];
    }
    w_norm_[static_cast<size_t>(t)] = std::sqrt(sw);
    g_norm_[static_cast<size_t>(t)] = std::sqrt(sg);
  }
}

}  // namespace bigbatch::optim
