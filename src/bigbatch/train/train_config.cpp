#include "bigbatch/train/train_config.h"

#include <cmath>

#include "bigbatch/core/error.h"

namespace bigbatch::train {

const char* momentum_form_name(MomentumForm form) {
  switch (form) {
    case MomentumForm::u: return "u";
    case MomentumForm::v: return "v";
  }
  return "?";
}

MomentumForm parse_momentum_form(const std::string& name) {
  if (name == "u") return MomentumForm::u;
  if (name == "v") return MomentumForm::v;
  BIGBATCH_THROW(InvalidArgument, "[config] momentum-form: expected u or v, got '" << name << "'");
}

void validate(const TrainConfig& c) {
  BIGBATCH_CHECK(c.per_worker_batch > 0, "[config] per-worker-batch: expected > 0, got " << c.per_worker_batch);
  BIGBATCH_CHECK(c.global_batch > 0, "[config] global-batch: expected > 0, got " << c.global_batch);
  BIGBATCH_CHECK(c.global_batch % c.per_worker_batch == 0,
                 "[config] global-batch " << c.global_batch << " is not divisible by per-worker-batch "
                                          << c.per_worker_batch << " (kn must be k whole workers of n)");
  BIGBATCH_CHECK(c.micro_batch >= 0, "[config] micro-batch: expected >= 0, got " << c.micro_batch);
  if (c.micro_batch > 0) {
    BIGBATCH_CHECK(c.micro_batch % c.per_worker_batch == 0,
                   "[config] micro-batch " << c.micro_batch << " must be whole workers: a multiple of per-worker-batch "
                                           << c.per_worker_batch << " (RECIPE §8)");
    BIGBATCH_CHECK(c.global_batch % c.micro_batch == 0,
                   "[config] global-batch " << c.global_batch << " is not divisible by micro-batch " << c.micro_batch);
  }
  BIGBATCH_CHECK(std::isfinite(c.lr) && c.lr > 0, "[config] lr: expected > 0, got " << c.lr);
  BIGBATCH_CHECK(c.ref_batch > 0, "[config] ref-batch: expected > 0, got " << c.ref_batch);
  BIGBATCH_CHECK(c.epochs > 0, "[config] epochs: expected > 0, got " << c.epochs);
  BIGBATCH_CHECK(c.warmup_epochs >= 0, "[config] warmup-epochs: expected >= 0, got " << c.warmup_epochs);
  BIGBATCH_CHECK(std::isfinite(c.momentum) && c.momentum >= 0 && c.momentum < 1,
                 "[config] momentum: expected in [0, 1), got " << c.momentum);
  BIGBATCH_CHECK(std::isfinite(c.weight_decay) && c.weight_decay >= 0,
                 "[config] wd: expected >= 0, got " << c.weight_decay);
  BIGBATCH_CHECK(std::isfinite(c.lars_eta) && c.lars_eta > 0,
                 "[config] lars-eta: expected > 0, got " << c.lars_eta);
  BIGBATCH_CHECK(c.max_iters >= 0, "[config] max-iters: expected >= 0, got " << c.max_iters);
  BIGBATCH_CHECK(c.threads >= 0, "[config] threads: expected >= 0, got " << c.threads);
  BIGBATCH_CHECK(c.log_every > 0, "[config] log-every: expected > 0, got " << c.log_every);
  BIGBATCH_CHECK(c.checkpoint_every > 0, "[config] checkpoint-every: expected > 0, got " << c.checkpoint_every);
  BIGBATCH_CHECK(c.eval_batch > 0, "[config] eval-batch: expected > 0, got " << c.eval_batch);
  BIGBATCH_CHECK(c.bucket_mib > 0, "[config] bucket-mib: expected > 0, got " << c.bucket_mib);
  BIGBATCH_CHECK(c.synthetic_size > 0, "[config] synthetic-size: expected > 0, got " << c.synthetic_size);
  BIGBATCH_CHECK(c.image_size > 0, "[config] image-size: expected > 0, got " << c.image_size);
  BIGBATCH_CHECK(c.decode_threads >= 0 && c.decode_threads <= 256,
                 "[config] decode-threads: expected in [0, 256], got " << c.decode_threads);
  BIGBATCH_CHECK(c.max_image_pixels > 0, "[config] max-image-pixels: expected > 0, got " << c.max_image_pixels);
  BIGBATCH_CHECK(c.prefetch_batches >= 1 && c.prefetch_batches <= 64,
                 "[config] prefetch-batches: expected in [1, 64], got " << c.prefetch_batches);
  BIGBATCH_CHECK(!c.out.empty(), "[config] out: expected a run directory");
  BIGBATCH_CHECK(c.precision == DType::f32 || c.precision == DType::bf16 || c.device == Device::cuda,
                 "[config] precision: expected f32 or bf16 on the CPU (f16 needs device cuda), got "
                     << dtype_name(c.precision));
  BIGBATCH_CHECK(!c.channels_last || c.device == Device::cuda, "[config] channels-last needs device cuda");
}

}  // namespace bigbatch::train
