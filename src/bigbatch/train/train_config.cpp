#include "bigbatch/train/train_config.h"

#include <cmath>

#include "bigbatch/core/error.h"

namespace bigbatch::train {

void validate(const TrainConfig& c) {
  const BatchConfig& b = c.batch;
  BIGBATCH_CHECK(b.per_worker > 0, "[config] per-worker-batch: expected > 0, got " << b.per_worker);
  BIGBATCH_CHECK(b.global > 0, "[config] global-batch: expected > 0, got " << b.global);
  BIGBATCH_CHECK(b.global % b.per_worker == 0, "[config] global-batch "
                                                   << b.global << " is not divisible by per-worker-batch "
                                                   << b.per_worker << " (kn must be k whole workers of n)");
  BIGBATCH_CHECK(b.micro >= 0, "[config] micro-batch: expected >= 0, got " << b.micro);
  if (b.micro > 0) {
    BIGBATCH_CHECK(b.micro % b.per_worker == 0, "[config] micro-batch " << b.micro
                                                                        << " must be whole workers: a multiple of "
                                                                           "per-worker-batch "
                                                                        << b.per_worker << " (RECIPE §8)");
    BIGBATCH_CHECK(b.global % b.micro == 0,
                   "[config] global-batch " << b.global << " is not divisible by micro-batch " << b.micro);
  }
  const optim::LrPolicyConfig& lr = c.lr;
  BIGBATCH_CHECK(std::isfinite(lr.base_lr) && lr.base_lr > 0, "[config] lr: expected > 0, got " << lr.base_lr);
  BIGBATCH_CHECK(lr.base_batch > 0, "[config] ref-batch: expected > 0, got " << lr.base_batch);
  BIGBATCH_CHECK(lr.epochs > 0, "[config] epochs: expected > 0, got " << lr.epochs);
  BIGBATCH_CHECK(lr.warmup_epochs >= 0, "[config] warmup-epochs: expected >= 0, got " << lr.warmup_epochs);
  // The schedule's epochs against --epochs, naming the flags to change (LrPolicy checks the rest).
  BIGBATCH_CHECK(lr.warmup == optim::LrWarmup::none || lr.warmup_epochs < lr.epochs,
                 "[config] warmup-epochs " << lr.warmup_epochs << " is not less than epochs " << lr.epochs
                                           << " (lower --warmup-epochs, or --warmup none)");
  if (lr.schedule == optim::LrSchedule::step) {
    int64_t previous = 0;
    for (int64_t e : lr.decay_epochs) {
      BIGBATCH_CHECK(e > previous && e <= lr.epochs,
                     "[config] decay-epochs: " << e << " is not in (" << previous << ", " << lr.epochs
                                               << "]: decay epochs increase and end by --epochs " << lr.epochs
                                               << " (set --decay-epochs, e.g. '', or --decay cosine)");
      previous = e;
    }
  }
  const optim::SgdOptions& o = c.optimizer;
  BIGBATCH_CHECK(std::isfinite(o.momentum) && o.momentum >= 0 && o.momentum < 1,
                 "[config] momentum: expected in [0, 1), got " << o.momentum);
  BIGBATCH_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0,
                 "[config] wd: expected >= 0, got " << o.weight_decay);
  BIGBATCH_CHECK(std::isfinite(o.lars_eta) && o.lars_eta > 0, "[config] lars-eta: expected > 0, got " << o.lars_eta);
  BIGBATCH_CHECK(c.reducer.bucket_cap_bytes > 0,
                 "[config] bucket-mib: expected > 0, got " << (c.reducer.bucket_cap_bytes >> 20));
  const InputConfig& in = c.input;
  BIGBATCH_CHECK(in.data.synthetic_size > 0, "[config] synthetic-size: expected > 0, got " << in.data.synthetic_size);
  BIGBATCH_CHECK(in.data.image_size > 0, "[config] image-size: expected > 0, got " << in.data.image_size);
  BIGBATCH_CHECK(in.data.max_image_pixels > 0,
                 "[config] max-image-pixels: expected > 0, got " << in.data.max_image_pixels);
  BIGBATCH_CHECK(in.decode_threads >= 0 && in.decode_threads <= 256,
                 "[config] decode-threads: expected in [0, 256], got " << in.decode_threads);
  BIGBATCH_CHECK(in.prefetch_batches >= 1 && in.prefetch_batches <= 64,
                 "[config] prefetch-batches: expected in [1, 64], got " << in.prefetch_batches);
  const RunConfig& r = c.run;
  BIGBATCH_CHECK(r.max_iters >= 0, "[config] max-iters: expected >= 0, got " << r.max_iters);
  BIGBATCH_CHECK(r.threads >= 0, "[config] threads: expected >= 0, got " << r.threads);
  BIGBATCH_CHECK(r.log_every > 0, "[config] log-every: expected > 0, got " << r.log_every);
  BIGBATCH_CHECK(r.checkpoint_every > 0, "[config] checkpoint-every: expected > 0, got " << r.checkpoint_every);
  BIGBATCH_CHECK(r.eval_batch > 0, "[config] eval-batch: expected > 0, got " << r.eval_batch);
  BIGBATCH_CHECK(r.precise_bn_batches >= 0,
                 "[config] precise-bn-batches: expected >= 0 (0 = off), got " << r.precise_bn_batches);
  BIGBATCH_CHECK(!r.out.empty(), "[config] out: expected a run directory");
  BIGBATCH_CHECK(std::isfinite(r.stall_timeout_s) && r.stall_timeout_s >= 0,
                 "[config] stall-timeout: expected seconds >= 0 (0 = wait forever), got " << r.stall_timeout_s);
  BIGBATCH_CHECK(
      r.precision == DType::f32 || r.precision == DType::bf16 || r.device == Device::cuda,
      "[config] precision: expected f32 or bf16 on the CPU (f16 needs device cuda), got " << dtype_name(r.precision));
  BIGBATCH_CHECK(!r.channels_last || r.device == Device::cuda, "[config] channels-last needs device cuda");
  const comm::PsOptions& ps = c.ps;
  BIGBATCH_CHECK(ps.servers >= 1, "[config] ps-servers: expected >= 1, got " << ps.servers);
  BIGBATCH_CHECK(ps.bigarray_bound >= 1, "[config] ps-bigarray-bound: expected >= 1, got " << ps.bigarray_bound);
  BIGBATCH_CHECK(ps.partition_bytes >= 0,
                 "[config] ps-partition-bytes: expected >= 0 (0 = MXNet's sharding), got " << ps.partition_bytes);
  BIGBATCH_CHECK(!ps.enabled || !ps.update_on_servers || c.optimizer.kind == optim::OptimizerKind::sgd,
                 "[config] ps-update server runs SGD on the servers; LARS needs whole tensors: use --ps-update worker");
  BIGBATCH_CHECK(!ps.async || ps.update_on_servers,
                 "[config] ps-mode async: the servers apply each push, so it needs --ps-update server");
  BIGBATCH_CHECK(!ps.enabled || !ps.update_on_servers || r.precision != DType::f16,
                 "[config] ps-update server: the servers would apply f16 gradients still loss-scaled; use "
                 "--ps-update worker or precision bf16");
}

}  // namespace bigbatch::train
