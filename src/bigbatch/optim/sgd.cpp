// SGD with momentum, u-form (RECIPE §3): one parallel pass over the flat arenas.
#include "bigbatch/optim/sgd.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "bigbatch/backend/cuda/arena_ops.h"
#include "bigbatch/backend/cuda/sgd.h"
#include "bigbatch/core/error.h"

namespace bigbatch::optim {

const char* optimizer_kind_name(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::sgd:
      return "sgd";
    case OptimizerKind::lars:
      return "lars";
  }
  return "?";
}

OptimizerKind parse_optimizer_kind(const std::string& name) {
  if (name == "sgd") return OptimizerKind::sgd;
  if (name == "lars") return OptimizerKind::lars;
  BIGBATCH_THROW(InvalidArgument, "[optim] expected sgd or lars, got '" << name << "'");
}

bool applies_weight_decay(TensorRole role, const SgdOptions& options) {
  // As in the paper, BN γ/β and biases are not decayed by default (RECIPE §3).
  return !is_bn_or_bias_parameter(role, "[sgd]") || options.decay_bn_and_bias;
}

Sgd::Sgd(std::shared_ptr<const ArenaLayout> layout, const SgdOptions& options, Device device)
    : layout_(std::move(layout)), options_(options) {
  BIGBATCH_CHECK(layout_ != nullptr, "[sgd] expected a parameter layout, got null");
  BIGBATCH_CHECK(std::isfinite(options_.momentum) && options_.momentum >= 0.0 && options_.momentum < 1.0,
                 "[sgd] expected momentum in [0, 1), got " << options_.momentum);
  BIGBATCH_CHECK(std::isfinite(options_.weight_decay) && options_.weight_decay >= 0.0,
                 "[sgd] expected weight decay >= 0, got " << options_.weight_decay);
  const bool lars = options_.kind == OptimizerKind::lars;
  BIGBATCH_CHECK(!lars || (std::isfinite(options_.lars_eta) && options_.lars_eta > 0.0),
                 "[sgd] expected a LARS trust coefficient > 0, got " << options_.lars_eta);
  momentum_ = device == Device::cpu
                  ? Arena(layout_)
                  : Arena(layout_,
                          backend::cuda::allocate_storage(static_cast<size_t>(layout_->total_elems()) * sizeof(float)));
  local_.assign(static_cast<size_t>(layout_->size()), 1.0);

  // Merge neighbours with equal decay: a ResNet then has ~2 segments per conv+BN pair
  // instead of 3 tensors, and each segment's padding rides along with it. A LARS tensor has
  // its own ℓ, so it never merges.
  const std::vector<ArenaEntry>& entries = layout_->entries();
  std::vector<int> lars_tensors;
  for (size_t i = 0; i < entries.size(); ++i) {
    const float decay =
        applies_weight_decay(entries[i].role, options_) ? static_cast<float>(options_.weight_decay) : 0.0f;
    const int64_t end = i + 1 < entries.size() ? entries[i + 1].offset : layout_->total_elems();
    const int tensor = lars && applies_lars(entries[i].role, options_.lars_on_bn_and_bias) ? static_cast<int>(i) : -1;
    if (tensor >= 0) lars_tensors.push_back(tensor);
    if (!segments_.empty() && segments_.back().weight_decay == decay && segments_.back().tensor < 0 && tensor < 0)
      segments_.back().end = end;
    else
      segments_.push_back({entries[i].offset, end, decay, tensor});
  }
  if (lars) norms_.emplace(layout_, lars_tensors);
}

namespace {

// The update on one contiguous range; the compiler vectorises it (no aliasing between arenas).
// u-form: buf is u, u ← m·u + d, w ← w − lr·u (Nesterov: w ← w − lr·(d + m·u)).
// v-form: buf is v, v ← m·c·v + lr·d, w ← w − v (Nesterov: w ← w − (m·v + lr·d)).
// LARS multiplies d by ℓ (`local`, 1 for plain SGD). In the v-form ℓ folds into lr (lr·ℓ·d); the
// u-form has a loop of its own, so that plain SGD keeps its exact arithmetic (bitwise).
struct UpdateParams {
  float m, decay, lr, correction, local;
  bool nesterov, v_form, lars;
};

void update_range(float* __restrict w, const float* __restrict g, float* __restrict buf, int64_t n,
                  const UpdateParams& p) {
  const float m = p.m, decay = p.decay, lr = p.lr;
  if (p.lars && !p.v_form) {
    const float local = p.local;
    const bool nesterov = p.nesterov;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float d = local * (g[i] + decay * w[i]);
      const float ui = m * buf[i] + d;
      buf[i] = ui;
      w[i] -= lr * (nesterov ? d + m * ui : ui);
    }
  } else if (!p.v_form && !p.nesterov) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float ui = m * buf[i] + g[i] + decay * w[i];
      buf[i] = ui;
      w[i] -= lr * ui;
    }
  } else if (!p.v_form) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float d = g[i] + decay * w[i];
      const float ui = m * buf[i] + d;
      buf[i] = ui;
      w[i] -= lr * (d + m * ui);
    }
  } else {
    const float mc = m * p.correction;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float d = lr * (g[i] + decay * w[i]);
      const float vi = mc * buf[i] + d;
      buf[i] = vi;
      w[i] -= p.nesterov ? m * vi + d : vi;
    }
  }
}

}  // namespace

void Sgd::step(const Arena& params, const Arena& grads, double lr) {
  BIGBATCH_CHECK(std::isfinite(lr) && lr >= 0.0, "[sgd] expected a learning rate >= 0, got " << lr);
  const int64_t total = layout_->total_elems();
  BIGBATCH_CHECK(params.total_elems() == total && params.layout().size() == layout_->size(),
                 "[sgd] params arena does not have the optimizer's layout ("
                     << params.layout().size() << " tensors, " << params.total_elems() << " elements; "
                     << "expected " << layout_->size() << ", " << total << ")");
  BIGBATCH_CHECK(grads.total_elems() == total && grads.layout().size() == layout_->size(),
                 "[sgd] grads arena does not have the optimizer's layout ("
                     << grads.layout().size() << " tensors, " << grads.total_elems() << " elements; "
                     << "expected " << layout_->size() << ", " << total << ")");
  BIGBATCH_CHECK(params.device() == momentum_.device() && grads.device() == momentum_.device(),
                 "[sgd] params on " << device_name(params.device()) << " and grads on " << device_name(grads.device())
                                    << ", the optimizer's momentum on " << device_name(momentum_.device()));
  // Remark 2: v carries η of the previous step, so rescale it by η_t/η_{t−1}.
  const double correction = options_.v_form && options_.momentum_correction && prev_lr_ > 0.0 ? lr / prev_lr_ : 1.0;
  if (momentum_.device() != Device::cpu) {
    step_on_device(params, grads, lr, correction);
    ++steps_;
    prev_lr_ = lr;
    return;
  }
  float* w = params.data();
  const float* g = grads.data();
  float* u = momentum_.data();
  UpdateParams up{static_cast<float>(options_.momentum),
                  0.0f,
                  static_cast<float>(lr),
                  1.0f,
                  1.0f,
                  options_.nesterov,
                  options_.v_form,
                  false};
  up.correction = static_cast<float>(correction);
  const std::vector<Segment>& segments = segments_;
  if (norms_) {
    // LARS's first pass: the norms of this step's w and g, then ℓ per tensor (RECIPE §9).
    norms_->compute(w, g);
    update_lars_local();
  }
  const std::vector<double>& local = local_;

  // Each thread takes an equal, cache-line-aligned share of the whole arena and walks the
  // segments it overlaps: balanced whatever the tensor sizes, one parallel region, no
  // per-tensor scheduling. The arithmetic per element does not depend on the split, so the
  // result is the same for any thread count.
  constexpr int64_t kAlign = ArenaLayout::kArenaAlignElems;
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads();
    const int64_t t = omp_get_thread_num();
    const int64_t chunks = (total + kAlign - 1) / kAlign;
    const int64_t begin = std::min(total, chunks * t / threads * kAlign);
    const int64_t end = std::min(total, chunks * (t + 1) / threads * kAlign);
    if (begin < end) {
      // First segment that ends after `begin`.
      auto it = std::upper_bound(segments.begin(), segments.end(), begin,
                                 [](int64_t x, const Segment& s) { return x < s.end; });
      for (; it != segments.end() && it->begin < end; ++it) {
        const int64_t b = std::max(begin, it->begin);
        const int64_t e = std::min(end, it->end);
        UpdateParams segment = up;
        segment.decay = it->weight_decay;
        if (it->tensor >= 0) {
          segment.lars = true;
          segment.local = static_cast<float>(local[static_cast<size_t>(it->tensor)]);
          if (segment.v_form) segment.lr = static_cast<float>(lr * local[static_cast<size_t>(it->tensor)]);
        }
        update_range(w + b, g + b, u + b, e - b, segment);
      }
    }
  }
  ++steps_;
  prev_lr_ = lr;
}

void Sgd::update_lars_local() {
  for (const Segment& s : segments_)
    if (s.tensor >= 0)
      local_[static_cast<size_t>(s.tensor)] =
          lars_local_lr(options_.lars_eta, norms_->w_norm(s.tensor), norms_->g_norm(s.tensor),
                        s.weight_decay > 0.0f ? options_.weight_decay : 0.0);
}

void Sgd::step_on_device(const Arena& params, const Arena& grads, double lr, double correction) {
  float* w = params.data();
  const float* g = grads.data();
  if (norms_) {
    norms_->compute_on_device(w, g);
    update_lars_local();
  }
  std::vector<backend::cuda::SgdSegment> segments;
  segments.reserve(segments_.size());
  for (const Segment& s : segments_)
    segments.push_back({s.begin, s.end, s.weight_decay,
                        s.tensor >= 0 ? static_cast<float>(local_[static_cast<size_t>(s.tensor)]) : 1.0f});
  const backend::cuda::SgdStep step{static_cast<float>(options_.momentum), static_cast<float>(lr),
                                    static_cast<float>(correction), options_.nesterov, options_.v_form};
  backend::cuda::sgd_update(w, g, momentum_.data(), layout_->total_elems(), segments, step);
}

}  // namespace bigbatch::optim
