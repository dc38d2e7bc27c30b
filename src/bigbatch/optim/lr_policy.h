// The learning-rate policy of large-minibatch SGD: scaling rule, warmup, then a step, cosine
// or polynomial schedule, as a pure function of the global iteration (RECIPE §1–2).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bigbatch::optim {

// How the target lr η follows the global batch kn (RECIPE §1).
enum class LrScaling { linear, sqrt, none };
// How the lr gets from η₀ to η over the first W epochs (RECIPE §2).
enum class LrWarmup { gradual, constant, none };
// The main schedule after warmup (RECIPE §2).
enum class LrSchedule { step, cosine, poly };

const char* lr_scaling_name(LrScaling scaling);     // "linear", "sqrt", "none"
const char* lr_warmup_name(LrWarmup warmup);        // "gradual", "constant", "none"
const char* lr_schedule_name(LrSchedule schedule);  // "step", "cosine", "poly"
// Throw InvalidArgument "[lr] expected linear, sqrt or none, got 'x'" (and likewise).
LrScaling parse_lr_scaling(const std::string& name);
LrWarmup parse_lr_warmup(const std::string& name);
LrSchedule parse_lr_schedule(const std::string& name);
// "30,60,80" -> {30, 60, 80}; "" -> {}. Throws InvalidArgument on anything but integers and
// commas. Order is checked by LrPolicy, not here.
std::vector<int64_t> parse_epoch_list(const std::string& text);

// Defaults are the paper's ImageNet recipe; global_batch and iters_per_epoch must be set.
struct LrPolicyConfig {
  double base_lr = 0.1;        // η₀, the lr of the reference batch
  int64_t base_batch = 256;    // B₀
  int64_t global_batch = 256;  // kn, summed over all workers
  LrScaling scaling = LrScaling::linear;

  LrWarmup warmup = LrWarmup::gradual;
  int64_t warmup_epochs = 5;  // W; 0 disables warmup whatever `warmup` says

  int64_t iters_per_epoch = 0;  // optimizer steps per epoch, > 0 (the sampler decides rounding)
  int64_t epochs = 90;          // total epochs, warmup included

  LrSchedule schedule = LrSchedule::step;
  std::vector<int64_t> decay_epochs = {30, 60, 80};  // step: strictly increasing, W < e <= epochs
  double decay_factor = 0.1;                         // step: multiplier per decay, in (0, 1]
  double final_lr = 0.0;                             // cosine and poly: lr at the end, in [0, η]
  double poly_power = 2.0;                           // poly: p > 0
};

// The paper's schedule (the defaults above: warmup 5 and step decays at 30, 60, 80 of 90 epochs)
// fitted to a run of `epochs`: each epoch scaled by epochs/90 and rounded to the nearest; warmup
// at least one epoch where the run has two, decays after the warmup, increasing, at most
// `epochs` (a decay that rounds onto the one before it or onto the warmup is dropped).
// 10 epochs: warmup 1, decays 3, 7, 9.
struct PaperSchedule {
  int64_t warmup_epochs = 0;
  std::vector<int64_t> decay_epochs;
};
PaperSchedule paper_schedule_for(int64_t epochs);

// The lr of every iteration, validated once at construction. Immutable; cheap to copy.
//
// Formulas (t = 0-based global iteration, I = iters_per_epoch):
//   η  = η₀ · kn/B₀ (linear), η₀ · sqrt(kn/B₀) (sqrt), η₀ (none)                  — RECIPE §1
//   T_w = W · I when warmup is gradual or constant and W > 0, else 0                — RECIPE §2
//   T   = epochs · I
//   warmup, t < T_w:
//     gradual:  lr(t) = η₀ + (η − η₀) · t / T_w   (lr(0) = η₀; η is reached at t = T_w, the first
//                                                   post-warmup iteration)
//     constant: lr(t) = η₀                          (jumps to η at t = T_w)
//   Warmup starts at min(η₀, η): when η <= η₀ (kn <= B₀ under linear or sqrt scaling, or no
//   scaling) there is no warmup at all (T_w = 0), whatever `warmup` says — a warmup "from η₀"
//   would run the first epochs above the scaled rate (RECIPE §2).
//   main schedule, t >= T_w, with s = min(t, T) − T_w and P = T − T_w > 0:
//     step:   lr(t) = η · f^d, d = #{ e in decay_epochs : t >= e · I }  (f = decay_factor)
//     cosine: lr(t) = η_end + (η − η_end) · (1 + cos(π · s / P)) / 2
//     poly:   lr(t) = η_end + (η − η_end) · (1 − s / P)^p                (η_end = final_lr)
// Cosine and poly reach η_end at t = T, one past the last iteration, and stay there; step keeps
// its last value. lr_at(T) is therefore defined, as the v-form's momentum correction needs
// η_{t+1} at the last iteration (RECIPE §3).
class LrPolicy {
 public:
  // Throws InvalidArgument "[lr] ..." on a config that is not valid (see LrPolicyConfig).
  explicit LrPolicy(const LrPolicyConfig& config);

  double lr_at(int64_t iteration) const;  // iteration >= 0, else InvalidArgument

  double scaled_lr() const { return scaled_lr_; }            // η
  int64_t warmup_iters() const { return warmup_iters_; }     // T_w
  // True when a warmup was configured but dropped because η <= η₀.
  bool warmup_skipped() const { return warmup_skipped_; }
  int64_t total_iters() const { return total_iters_; }       // T
  const LrPolicyConfig& config() const { return config_; }
  // One line for logs, e.g. "lr: 0.1 x 8192/256 (linear) = 3.2; gradual warmup 5 epochs
  // (785 iters); step x0.1 at epochs 30,60,80; 90 epochs x 157 iters = 14130 iters".
  std::string describe() const;

 private:
  LrPolicyConfig config_;
  double scaled_lr_ = 0.0;
  int64_t warmup_iters_ = 0;
  int64_t total_iters_ = 0;
  bool warmup_skipped_ = false;
};

}  // namespace bigbatch::optim
