// The learning-rate policy: config validation, the scaling rule, warmup and the main schedule
// (RECIPE §1–2). The formulas are spelled out in lr_policy.h.
#include "bigbatch/optim/lr_policy.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iomanip>
#include <limits>
#include <numbers>
#include <sstream>

#include "bigbatch/core/error.h"

namespace bigbatch::optim {

const char* lr_scaling_name(LrScaling scaling) {
  switch (scaling) {
    case LrScaling::linear: return "linear";
    case LrScaling::sqrt: return "sqrt";
    case LrScaling::none: return "none";
  }
  return "?";
}

const char* lr_warmup_name(LrWarmup warmup) {
  switch (warmup) {
    case LrWarmup::gradual: return "gradual";
    case LrWarmup::constant: return "constant";
    case LrWarmup::none: return "none";
  }
  return "?";
}

const char* lr_schedule_name(LrSchedule schedule) {
  switch (schedule) {
    case LrSchedule::step: return "step";
    case LrSchedule::cosine: return "cosine";
    case LrSchedule::poly: return "poly";
  }
  return "?";
}

LrScaling parse_lr_scaling(const std::string& name) {
  if (name == "linear") return LrScaling::linear;
  if (name == "sqrt") return LrScaling::sqrt;
  if (name == "none") return LrScaling::none;
  BIGBATCH_THROW(InvalidArgument, "[lr] expected linear, sqrt or none, got '" << name << "'");
}

LrWarmup parse_lr_warmup(const std::string& name) {
  if (name == "gradual") return LrWarmup::gradual;
  if (name == "constant") return LrWarmup::constant;
  if (name == "none") return LrWarmup::none;
  BIGBATCH_THROW(InvalidArgument, "[lr] expected gradual, constant or none, got '" << name << "'");
}

LrSchedule parse_lr_schedule(const std::string& name) {
  if (name == "step") return LrSchedule::step;
  if (name == "cosine") return LrSchedule::cosine;
  if (name == "poly") return LrSchedule::poly;
  BIGBATCH_THROW(InvalidArgument, "[lr] expected step, cosine or poly, got '" << name << "'");
}

std::vector<int64_t> parse_epoch_list(const std::string& text) {
  std::vector<int64_t> epochs;
  if (text.empty()) return epochs;
  size_t begin = 0;
  while (true) {
    size_t end = text.find(',', begin);
    if (end == std::string::npos) end = text.size();
    // Spaces around an item are allowed ("30, 60, 80"); anything else must be the number.
    size_t first = text.find_first_not_of(' ', begin);
    size_t last = text.find_last_not_of(' ', end == 0 ? 0 : end - 1);
    int64_t value = 0;
    bool ok = first < end && last != std::string::npos && last >= first;
    if (ok) {
      const char* from = text.data() + first;
      const char* to = text.data() + last + 1;
      auto [ptr, ec] = std::from_chars(from, to, value);
      ok = ec == std::errc() && ptr == to;
    }
    BIGBATCH_CHECK(ok, "[lr] expected a comma-separated list of epochs such as 30,60,80, got '" << text << "'");
    epochs.push_back(value);
    if (end == text.size()) break;
    begin = end + 1;
  }
  return epochs;
}

PaperSchedule paper_schedule_for(int64_t epochs) {
  const LrPolicyConfig paper;
  BIGBATCH_CHECK(epochs >= 1, "[lr] epochs: expected >= 1, got " << epochs);
  // Nearest epoch, halves up, in integers: round(e · epochs / 90).
  const auto scaled = [&](int64_t e) { return (2 * e * epochs + paper.epochs) / (2 * paper.epochs); };
  PaperSchedule s;
  s.warmup_epochs = epochs >= 2 ? std::max<int64_t>(1, scaled(paper.warmup_epochs)) : 0;
  for (int64_t e : paper.decay_epochs) {
    const int64_t d = std::min(scaled(e), epochs);
    const int64_t floor = s.decay_epochs.empty() ? s.warmup_epochs : s.decay_epochs.back();
    if (d > floor) s.decay_epochs.push_back(d);
  }
  return s;
}

namespace {

// η from η₀, kn and B₀ (RECIPE §1). The ratio kn/B₀ is formed first so that it is exact for
// the usual batch sizes.
double scale_lr(const LrPolicyConfig& c) {
  double ratio = static_cast<double>(c.global_batch) / static_cast<double>(c.base_batch);
  switch (c.scaling) {
    case LrScaling::linear: return c.base_lr * ratio;
    case LrScaling::sqrt: return c.base_lr * std::sqrt(ratio);
    case LrScaling::none: return c.base_lr;
  }
  return c.base_lr;
}

}  // namespace

LrPolicy::LrPolicy(const LrPolicyConfig& config) : config_(config) {
  const LrPolicyConfig& c = config_;
  // Comparisons are written as what must hold, so NaN fails them too.
  BIGBATCH_CHECK(std::isfinite(c.base_lr) && c.base_lr > 0, "[lr] expected base lr > 0, got " << c.base_lr);
  BIGBATCH_CHECK(c.base_batch > 0, "[lr] expected reference batch > 0, got " << c.base_batch);
  BIGBATCH_CHECK(c.global_batch > 0, "[lr] expected global batch kn > 0, got " << c.global_batch);
  BIGBATCH_CHECK(c.iters_per_epoch > 0, "[lr] expected iterations per epoch > 0, got " << c.iters_per_epoch);
  BIGBATCH_CHECK(c.epochs > 0, "[lr] expected epochs > 0, got " << c.epochs);
  BIGBATCH_CHECK(c.warmup_epochs >= 0, "[lr] expected warmup epochs >= 0, got " << c.warmup_epochs);
  BIGBATCH_CHECK(c.epochs <= std::numeric_limits<int64_t>::max() / c.iters_per_epoch,
                 "[lr] expected epochs x iterations per epoch to fit in int64, got " << c.epochs << " x "
                                                                                      << c.iters_per_epoch);

  scaled_lr_ = scale_lr(c);
  // Warmup is counted in iterations (RECIPE §2), so it ends exactly on an epoch boundary
  // whatever kn and however the sampler rounds iterations per epoch. It starts at min(η₀, η):
  // at or below the reference batch (η <= η₀) there is nothing to warm up to, so there is none.
  const bool asked = c.warmup != LrWarmup::none && c.warmup_epochs > 0;
  BIGBATCH_CHECK(!asked || c.warmup_epochs < c.epochs, "[lr] expected warmup epochs < epochs, got "
                                                           << c.warmup_epochs << " warmup of " << c.epochs
                                                           << " epochs");
  warmup_skipped_ = asked && !(scaled_lr_ > c.base_lr);
  const int64_t warmup_epochs = asked && !warmup_skipped_ ? c.warmup_epochs : 0;
  warmup_iters_ = warmup_epochs * c.iters_per_epoch;
  total_iters_ = c.epochs * c.iters_per_epoch;

  switch (c.schedule) {
    case LrSchedule::step: {
      BIGBATCH_CHECK(c.decay_factor > 0 && c.decay_factor <= 1,
                     "[lr] expected decay factor in (0, 1], got " << c.decay_factor);
      int64_t previous = warmup_epochs;
      for (int64_t e : c.decay_epochs) {
        // A decay inside warmup would stop warmup short of η, so decays start after it.
        BIGBATCH_CHECK(e > previous, "[lr] expected decay epochs strictly increasing and after the "
                                         << warmup_epochs << " warmup epochs, got " << e << " after " << previous);
        BIGBATCH_CHECK(e <= c.epochs, "[lr] expected decay epochs <= " << c.epochs << " epochs, got " << e);
        previous = e;
      }
      break;
    }
    case LrSchedule::poly:
      BIGBATCH_CHECK(std::isfinite(c.poly_power) && c.poly_power > 0,
                     "[lr] expected poly power > 0, got " << c.poly_power);
      [[fallthrough]];
    case LrSchedule::cosine:
      BIGBATCH_CHECK(std::isfinite(c.final_lr) && c.final_lr >= 0 && c.final_lr <= scaled_lr_,
                     "[lr] expected final lr in [0, " << scaled_lr_ << "], got " << c.final_lr);
      break;
  }
}

double LrPolicy::lr_at(int64_t iteration) const {
  BIGBATCH_CHECK(iteration >= 0, "[lr] expected iteration >= 0, got " << iteration);
  const LrPolicyConfig& c = config_;
  const double eta0 = c.base_lr, eta = scaled_lr_;

  // Warmup (RECIPE §2). warmup_iters_ is 0 for warmup none or W = 0, so this is skipped then.
  if (iteration < warmup_iters_) {
    switch (c.warmup) {
      case LrWarmup::gradual:
        // A constant increment (η − η₀)/T_w per iteration; written as a ratio so that t = 0
        // gives η₀ exactly and there is no accumulated rounding.
        return eta0 + (eta - eta0) * (static_cast<double>(iteration) / static_cast<double>(warmup_iters_));
      case LrWarmup::constant: return eta0;
      case LrWarmup::none: break;  // unreachable: warmup_iters_ == 0
    }
  }

  switch (c.schedule) {
    case LrSchedule::step: {
      // Decay epochs are in epochs; each applies from iteration e·I on.
      double lr = eta;
      for (int64_t e : c.decay_epochs) {
        if (iteration >= e * c.iters_per_epoch) lr *= c.decay_factor;
      }
      return lr;
    }
    case LrSchedule::cosine:
    case LrSchedule::poly: {
      // Progress through the post-warmup iterations, clamped at T so lr_at(T) and beyond is η_end.
      const int64_t post = total_iters_ - warmup_iters_;
      const int64_t done = std::min(iteration, total_iters_) - warmup_iters_;
      const double x = static_cast<double>(done) / static_cast<double>(post);
      const double shape = c.schedule == LrSchedule::cosine ? 0.5 * (1.0 + std::cos(std::numbers::pi * x))
                                                            : std::pow(1.0 - x, c.poly_power);
      return c.final_lr + (eta - c.final_lr) * shape;
    }
  }
  return eta;
}

std::string LrPolicy::describe() const {
  const LrPolicyConfig& c = config_;
  std::ostringstream out;
  out << std::setprecision(8) << "lr: " << c.base_lr;
  switch (c.scaling) {
    case LrScaling::linear: out << " x " << c.global_batch << "/" << c.base_batch; break;
    case LrScaling::sqrt: out << " x sqrt(" << c.global_batch << "/" << c.base_batch << ")"; break;
    case LrScaling::none: break;
  }
  out << " (" << lr_scaling_name(c.scaling) << ") = " << scaled_lr_ << "; ";
  if (warmup_iters_ > 0) {
    out << lr_warmup_name(c.warmup) << " warmup from " << c.base_lr << " over " << c.warmup_epochs << " epochs ("
        << warmup_iters_ << " iters); ";
  } else if (warmup_skipped_) {
    out << "no warmup (" << lr_warmup_name(c.warmup) << " asked, but eta <= eta0 at kn <= B0); ";
  } else {
    out << "no warmup; ";
  }
  switch (c.schedule) {
    case LrSchedule::step:
      out << "step x" << c.decay_factor << " at epochs ";
      if (c.decay_epochs.empty()) out << "(none)";
      for (size_t i = 0; i < c.decay_epochs.size(); ++i) out << (i ? "," : "") << c.decay_epochs[i];
      break;
    case LrSchedule::cosine: out << "cosine to " << c.final_lr; break;
    case LrSchedule::poly: out << "poly power " << c.poly_power << " to " << c.final_lr; break;
  }
  out << "; " << c.epochs << " epochs x " << c.iters_per_epoch << " iters = " << total_iters_ << " iters";
  return out.str();
}

}  // namespace bigbatch::optim
