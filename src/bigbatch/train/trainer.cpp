#include "bigbatch/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "bigbatch/backend/cuda/arena_ops.h"
#include "bigbatch/comm/nccl_comm.h"
#include "bigbatch/core/atomic_file.h"
#include "bigbatch/core/read_file.h"
#include "bigbatch/core/rng.h"
#include "bigbatch/core/threading.h"
#include "bigbatch/data/loader.h"
#include "bigbatch/data/task_pool.h"
#include "bigbatch/models/registry.h"
#include "bigbatch/nn/cuda_executor.h"
#include "bigbatch/nn/device_arena.h"
#include "bigbatch/nn/init.h"
#include "bigbatch/optim/lr_policy.h"
#include "bigbatch/optim/sgd.h"
#include "bigbatch/train/checkpoint.h"
#include "bigbatch/train/datasets.h"
#include "bigbatch/train/metrics.h"
#include "bigbatch/train/train_step.h"

namespace bigbatch::train {

namespace fs = std::filesystem;

namespace {

optim::SgdOptions sgd_options(const TrainConfig& c) {
  optim::SgdOptions o;
  o.momentum = c.momentum;
  o.weight_decay = c.weight_decay;
  o.decay_bn_and_bias = c.wd_on_bn;
  o.nesterov = c.nesterov;
  o.v_form = c.momentum_form == MomentumForm::v;
  o.kind = c.optimizer;
  o.lars_eta = c.lars_eta;
  o.lars_on_bn_and_bias = c.lars_on_bn;
  return o;
}

}  // namespace

struct Trainer::State {
  TrainConfig config;
  comm::Communicator* comm = nullptr;
  int rank = 0, ranks = 1;
  int64_t local_batch = 0;  // v·n: this rank's workers
  std::string config_toml;
  fs::path run_dir;
  std::unique_ptr<data::ExampleSource> train_set, test_set;
  std::unique_ptr<data::TaskPool> pool;  // decodes batches for the loader and the evaluator
  nn::Graph graph;
  std::unique_ptr<comm::NcclCommunicator> nccl;  // GPU gradients over several ranks
  std::optional<TrainStep> step;                 // the arenas, where compute runs
  // The host's copies of the model and the momentum: what is initialised, restored,
  // broadcast, averaged and saved. On the CPU they are the step's own arenas.
  Arena params, buffers, momentum;
  std::optional<optim::LrPolicy> lr_policy;
  std::optional<data::EpochSampler> sampler;
  std::optional<Evaluator> evaluator;
  CheckpointState ckpt;  // position and epoch sums, kept current

  int64_t iters_per_epoch() const { return sampler->iterations_per_epoch(); }
  bool root() const { return rank == 0; }
  bool distributed() const { return ranks > 1; }
  // Rank 0's parameters and buffers on every rank, verified by checksums.
  void broadcast_model();
  // The mean over ranks of each rank's running statistics: by linearity, what one process
  // with all k workers would hold (RECIPE §6).
  void average_buffers();
  // Between the step's arenas and the host copies (nothing on the CPU: the same storage).
  void upload();
  void download();

  std::string checkpoint_path(const std::string& name) const { return (run_dir / "checkpoints" / name).string(); }
  void save(int64_t completed_epoch);
};

Trainer::Trainer(const TrainConfig& config, const std::string& config_toml, comm::Communicator* comm)
    : s_(std::make_unique<State>()) {
  State& s = *s_;
  s.config = config;
  s.config_toml = config_toml;
  s.comm = comm;
  s.rank = comm ? comm->rank() : 0;
  s.ranks = comm ? comm->size() : 1;
  validate(config);
  BIGBATCH_CHECK(config.global_batch % (config.per_worker_batch * s.ranks) == 0,
                 "[train] global batch " << config.global_batch << " does not split into " << s.ranks
                                         << " ranks of whole workers of " << config.per_worker_batch
                                         << " examples (kn must be a multiple of R·n = "
                                         << config.per_worker_batch * s.ranks << ")");
  s.local_batch = config.global_batch / s.ranks;
  const int64_t micro = config.micro_batch > 0 ? config.micro_batch : s.local_batch;
  BIGBATCH_CHECK(s.local_batch % micro == 0,
                 "[train] micro-batch " << micro << " does not divide the " << s.local_batch << " examples of a rank");
  if (config.threads > 0) set_num_threads(config.threads);

  DatasetSpec spec{config.dataset,    config.data_dir,        config.synthetic_size,  config.seed,
                   config.image_size, config.skip_bad_images, config.max_image_pixels};
  data::AugmentOptions augment;
  augment.kind = config.augment;
  augment.seed = config.seed;
  s.train_set = open_dataset(spec, true, augment);
  s.test_set = open_dataset(spec, false, augment);
  s.pool = std::make_unique<data::TaskPool>(decode_threads_for(config.dataset, config.decode_threads));
  const data::ExampleShape shape = s.train_set->example_shape();
  s.graph = models::build_model({config.model, shape.channels, shape.height, shape.width, s.train_set->num_classes()});
  s.run_dir = config.resume.empty() ? fs::path(config.out) : fs::path(config.resume);
  // Convolution algorithms are tuned by timing, which differs from process to process: a
  // resumed run replays the choices its first process recorded, so that it continues bitwise.
  // Before the step plans its executor.
  const fs::path tuning = s.run_dir / "cpu_tuning.txt";
  if (!config.resume.empty() && fs::exists(tuning))
    nn::replay_cpu_tuning(read_file(tuning.string(), "train"), tuning.string());
  const nn::DeviceChoice device{config.device, {.device = nn::local_cuda_device(), .nhwc = config.channels_last}};
  StepPlan plan;
  plan.graph = &s.graph;
  plan.global_batch = config.global_batch;
  plan.local_batch = s.local_batch;
  plan.micro_batch = micro;
  plan.bn_group = config.per_worker_batch;
  plan.precision = config.precision;
  plan.device = device;
  plan.sgd = sgd_options(config);
  plan.comm = comm;
  plan.reducer.bucket_cap_bytes = config.bucket_mib << 20;
  plan.reducer.overlap = config.overlap;
  if (config.device == Device::cuda && s.distributed()) {
    // One rank per GPU: NCCL's unique id travels over the job's communicator (MPI).
    s.nccl = comm::make_nccl_communicator(*comm, device.cuda.device);
    plan.grad_comm = s.nccl.get();
    plan.reducer.stream = backend::cuda::compute_stream(device.cuda.device);
  }
  s.step.emplace(plan);
  if (config.device == Device::cpu) {
    s.params = s.step->params();
    s.buffers = s.step->buffers();
    s.momentum = s.step->sgd().momentum_buffer();
  } else {
    s.params = Arena(s.graph.parameter_layout());
    s.buffers = Arena(s.graph.buffer_layout());
    s.momentum = Arena(s.graph.parameter_layout());
  }

  s.sampler.emplace(s.train_set->size(), config.global_batch, config.seed, config.shuffle);
  optim::LrPolicyConfig lr;
  lr.base_lr = config.lr;
  lr.base_batch = config.ref_batch;
  lr.global_batch = config.global_batch;
  lr.scaling = config.scaling;
  lr.warmup = config.warmup;
  lr.warmup_epochs = config.warmup_epochs;
  lr.iters_per_epoch = s.iters_per_epoch();
  lr.epochs = config.epochs;
  lr.schedule = config.decay;
  lr.decay_epochs = config.decay_epochs;
  lr.decay_factor = config.decay_factor;
  lr.final_lr = config.final_lr;
  lr.poly_power = config.poly_power;
  s.lr_policy.emplace(lr);

  s.ckpt.model = config.model;
  s.ckpt.seed = config.seed;
  s.ckpt.config_toml = config_toml;
  optim::Sgd& sgd = s.step->sgd();
  if (!config.resume.empty()) {
    const std::string path = s.checkpoint_path("last.safetensors");
    CheckpointState restored = load_checkpoint(path, s.params, s.buffers, s.momentum);
    BIGBATCH_CHECK(restored.model == config.model, "[train] " << path << " holds a " << restored.model
                                                              << ", the configuration asks for " << config.model);
    BIGBATCH_CHECK(restored.seed == config.seed, "[train] " << path << " was trained with seed " << restored.seed
                                                            << "; resuming with seed " << config.seed
                                                            << " would change the data order");
    sgd.set_prev_lr(restored.prev_lr);
    restored.config_toml = config_toml;
    s.ckpt = restored;
    s.ckpt.seed = config.seed;
    BIGBATCH_CHECK(s.ckpt.position.step == s.ckpt.position.epoch * s.iters_per_epoch() + s.ckpt.position.iter,
                   "[train] " << path << ": position (epoch " << s.ckpt.position.epoch << ", iter "
                              << s.ckpt.position.iter << ", step " << s.ckpt.position.step << ") does not fit "
                              << s.iters_per_epoch()
                              << " iterations per epoch: was the global batch or the dataset changed?");
  } else {
    Rng rng(config.seed);
    nn::initialize(s.graph, s.params, s.buffers, rng, {config.zero_gamma});
    if (!config.init.empty()) load_weights(config.init, s.params, s.buffers);
  }
  if (s.distributed()) s.broadcast_model();
  s.upload();
  if (s.root()) {
    fs::create_directories(s.run_dir / "checkpoints");
    std::ofstream out(s.run_dir / "config.toml");
    out << config_toml;
    BIGBATCH_CHECK(out.good(), "[train] cannot write " << (s.run_dir / "config.toml").string());
    // A new run starts a new record; a resumed one continues its own.
    if (config.resume.empty()) fs::remove(s.run_dir / "metrics.jsonl");
  }

  if (s.root() && config.device == Device::cpu) {
    const std::string record = nn::cpu_tuning_record();
    write_file_atomic(tuning.string(), std::string_view(record), "train");
  }
  s.evaluator.emplace(s.graph, s.step->params(), s.step->buffers(), *s.test_set, config.eval_batch, config.precision,
                      comm, s.pool.get(), device);
}

Trainer::~Trainer() = default;

namespace {

uint64_t checksum(const Arena& a) {
  // FNV-1a over the bytes: any difference in any bit shows.
  uint64_t h = 1469598103934665603ull;
  const auto* bytes = reinterpret_cast<const unsigned char*>(a.data());
  for (int64_t i = 0; i < a.total_elems() * static_cast<int64_t>(sizeof(float)); ++i)
    h = (h ^ bytes[i]) * 1099511628211ull;
  return h;
}

}  // namespace

void Trainer::State::broadcast_model() {
  comm->broadcast(params.data(), params.total_elems() * static_cast<int64_t>(sizeof(float)), 0);
  comm->broadcast(buffers.data(), buffers.total_elems() * static_cast<int64_t>(sizeof(float)), 0);
  comm->broadcast(momentum.data(), momentum.total_elems() * static_cast<int64_t>(sizeof(float)), 0);
  uint64_t mine[2] = {checksum(params), checksum(buffers)};
  std::vector<uint64_t> all(2 * static_cast<size_t>(ranks));
  comm->allgather(mine, all.data(), sizeof mine);
  for (int r = 0; r < ranks; ++r)
    if (all[2 * static_cast<size_t>(r)] != all[0] || all[2 * static_cast<size_t>(r) + 1] != all[1])
      BIGBATCH_THROW(CommError, "[rank " << rank << "] the initial weights of rank " << r
                                         << " differ from rank 0's after the broadcast");
}

void Trainer::State::average_buffers() {
  if (!distributed()) return;
  nn::copy_arena(buffers, step->buffers());
  comm->allreduce_sum(buffers.data(), buffers.total_elems());
  nn::scale_arena(buffers, 1.0f / static_cast<float>(ranks));
  nn::copy_arena(step->buffers(), buffers);
}

void Trainer::State::upload() {
  nn::copy_arena(step->params(), params);
  nn::copy_arena(step->buffers(), buffers);
  nn::copy_arena(step->sgd().momentum_buffer(), momentum);
}

void Trainer::State::download() {
  nn::copy_arena(params, step->params());
  nn::copy_arena(buffers, step->buffers());
  nn::copy_arena(momentum, step->sgd().momentum_buffer());
}

const Arena& Trainer::params() const { return s_->params; }
const Arena& Trainer::buffers() const { return s_->buffers; }

void Trainer::State::save(int64_t completed_epoch) {
  average_buffers();
  if (!root()) return;
  download();
  ckpt.prev_lr = step->sgd().prev_lr();
  const std::string last = checkpoint_path("last.safetensors");
  save_checkpoint(last, params, buffers, &momentum, ckpt);
  if (completed_epoch > 0) {
    // The per-epoch copy is a hard link when the file system allows it: no second write.
    const std::string named = checkpoint_path("epoch-" + std::to_string(completed_epoch) + ".safetensors");
    std::error_code ec;
    fs::remove(named, ec);
    fs::create_hard_link(last, named, ec);
    if (ec) fs::copy_file(last, named, fs::copy_options::overwrite_existing);
  }
}

TrainResult Trainer::run() {
  State& s = *s_;
  const TrainConfig& c = s.config;
  const int64_t ipe = s.iters_per_epoch();
  const int64_t total = c.epochs * ipe;
  const int64_t stop = c.max_iters > 0 ? std::min(total, c.max_iters) : total;
  TrainResult result;
  result.run_dir = s.run_dir.string();
  result.last_checkpoint = s.checkpoint_path("last.safetensors");

  MetricsLog metrics(s.root() ? (s.run_dir / "metrics.jsonl").string() : "");
  Progress progress(c.progress && s.root(), stop);
  if (s.ckpt.position.step == 0) {
    nlohmann::json run = {{"kind", "run"},
                          {"model", c.model},
                          {"dataset", c.dataset},
                          {"global_batch", c.global_batch},
                          {"per_worker_batch", c.per_worker_batch},
                          {"workers", c.workers()},
                          {"lr_policy", s.lr_policy->describe()},
                          {"label", s.run_dir.filename().string()}};
    run["optimizer"] = optim::optimizer_kind_name(c.optimizer);
    if (c.optimizer == optim::OptimizerKind::lars) run["lars_eta"] = c.lars_eta;
    metrics.write(run.dump());
  }
  progress.message("bigbatch: " + c.model + " on " + s.train_set->name() + ", " + std::to_string(c.workers()) +
                   " workers x " + std::to_string(c.per_worker_batch) + " = " + std::to_string(c.global_batch) +
                   (s.distributed() ? " over " + std::to_string(s.ranks) + " ranks" : std::string()) + "; " +
                   s.lr_policy->describe());

  data::LoaderOptions lo;
  lo.start_epoch = s.ckpt.position.epoch;
  lo.start_iter = s.ckpt.position.iter;
  lo.end_epoch = c.epochs;
  lo.workers = c.workers();
  lo.worker_count = c.workers() / s.ranks;
  lo.first_worker = s.rank * lo.worker_count;
  lo.prefetch = c.prefetch_batches;
  const int64_t until = c.augment_until_epoch;
  data::EpochSampler sampler = *s.sampler;
  const data::ExampleSource& train_set = *s.train_set;
  data::TaskPool* pool = s.pool.get();
  const data::ExampleShape shape = train_set.example_shape();
  data::Loader loader(
      lo, ipe, Shape({s.local_batch, shape.channels, shape.height, shape.width}),
      [&train_set, pool, sampler, lo, until](int64_t epoch, int64_t iter, data::BatchSlot& slot) mutable {
        // MXNet's ResNet-152 recipe stops augmenting late in training.
        const data::Transform t = until >= 0 && epoch >= until ? data::Transform::eval : data::Transform::train;
        data::fill_batch(train_set, pool, t, sampler, lo, epoch, iter, slot);
      });

  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto interval_start = start;
  int64_t interval_steps = 0;
  double interval_wait_s = 0.0;  // waiting for the loader: the step was input-bound
  bool evaluated_last = false;
  while (s.ckpt.position.step < stop) {
    TrainPosition& pos = s.ckpt.position;
    const data::Batch* batch = loader.next();
    interval_wait_s += loader.last_wait_s();
    BIGBATCH_CHECK(batch != nullptr && batch->epoch == pos.epoch && batch->iter == pos.iter,
                   "[train] the loader fell out of step at epoch " << pos.epoch << " iteration " << pos.iter);
    const double lr = s.lr_policy->lr_at(pos.step);
    int64_t correct = 0;
    const double loss = s.step->run(batch->images, batch->labels.data(), lr, correct);
    if (!std::isfinite(loss)) {
      progress.finish();
      BIGBATCH_THROW(Error, "[train] the loss is "
                                << loss << " at step " << pos.step << " (epoch " << pos.epoch << ", iteration "
                                << pos.iter << ", lr " << lr << "): training diverged; the last good checkpoint is "
                                << result.last_checkpoint << " (try a lower --lr or a longer --warmup-epochs)");
    }
    s.ckpt.epoch_loss_sum += loss;
    s.ckpt.epoch_correct += correct;
    s.ckpt.epoch_seen += c.global_batch;
    ++pos.step;
    ++interval_steps;
    const double since = std::chrono::duration<double>(clock::now() - interval_start).count();
    const double img_per_s = since > 0 ? static_cast<double>(interval_steps * c.global_batch) / since : 0.0;
    const double input_wait_s = interval_wait_s / static_cast<double>(interval_steps);  // per step
    if (pos.step % c.log_every == 0) {
      nlohmann::json line{{"kind", "iter"}, {"iter", pos.step},       {"epoch", pos.epoch},          {"lr", lr},
                          {"loss", loss},   {"img_per_s", img_per_s}, {"input_wait_s", input_wait_s}};
      if (const comm::ReducerStats* rs = s.step->reducer_stats()) {
        line["backward_s"] = rs->backward_s;
        line["allreduce_s"] = rs->allreduce_busy_s;
        line["exposed_comm_s"] = rs->exposed_s;
      }
      metrics.write(line.dump());
      interval_start = clock::now();
      interval_steps = 0;
      interval_wait_s = 0.0;
    }
    progress.update(pos.step, pos.epoch, loss, lr, img_per_s, input_wait_s, c.log_every);
    evaluated_last = false;
    if (++pos.iter == ipe) {
      const int64_t done_epoch = pos.epoch + 1;
      s.average_buffers();
      EvalResult eval = s.evaluator->run();
      const auto seen = static_cast<double>(s.ckpt.epoch_seen);
      const double wall = std::chrono::duration<double>(clock::now() - start).count();
      metrics.write(nlohmann::json{
          {"kind", "epoch"},
          {"epoch", done_epoch},
          {"train_loss", s.ckpt.epoch_loss_sum / static_cast<double>(ipe)},
          {"train_top1_err", 1.0 - static_cast<double>(s.ckpt.epoch_correct) / seen},
          {"test_loss", eval.loss},
          {"test_top1_err", eval.top1_err},
          {"test_top5_err", eval.top5_err},
          {"wall_s",
           wall}}.dump());
      char line[200];
      std::snprintf(
          line, sizeof line, "epoch %lld/%lld: train loss %.4f err %.2f%%, test loss %.4f err %.2f%% (%.0f s)",
          static_cast<long long>(done_epoch), static_cast<long long>(c.epochs),
          s.ckpt.epoch_loss_sum / static_cast<double>(ipe),
          100.0 * (1.0 - static_cast<double>(s.ckpt.epoch_correct) / seen), eval.loss, 100.0 * eval.top1_err, wall);
      progress.message(line);
      pos.epoch = done_epoch;
      pos.iter = 0;
      s.ckpt.epoch_loss_sum = 0.0;
      s.ckpt.epoch_correct = s.ckpt.epoch_seen = 0;
      result.final_eval = eval;
      evaluated_last = true;
      if (done_epoch % c.checkpoint_every == 0 || done_epoch == c.epochs || pos.step == stop) s.save(done_epoch);
    }
  }
  progress.finish();
  if (!evaluated_last) {
    // Stopped inside an epoch (max_iters): keep the position so --resume continues it.
    s.save(0);  // averages the running statistics over ranks first
    result.final_eval = s.evaluator->run();
  }
  s.download();  // params() and buffers() show the final model
  result.steps = s.ckpt.position.step;
  result.epochs = s.ckpt.position.epoch;
  result.wall_s = std::chrono::duration<double>(clock::now() - start).count();
  return result;
}

}  // namespace bigbatch::train
