#include "bigbatch/train/trainer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <optional>

#include "bigbatch/backend/cuda/arena_ops.h"
#include "bigbatch/core/stop_request.h"
#include "bigbatch/comm/nccl_comm.h"
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
#include "bigbatch/train/run_directory.h"
#include "bigbatch/train/run_log.h"
#include "bigbatch/train/train_step.h"

namespace bigbatch::train {

namespace fs = std::filesystem;

namespace {

// --init-partial must say what it left out: every name, one group per line.
void report_partial_init(const std::string& path, const PartialLoad& left) {
  auto list = [](const std::vector<std::string>& names) {
    std::string out;
    for (const std::string& name : names) out += " " + name;
    return names.empty() ? std::string(" none") : out;
  };
  std::cerr << "bigbatch: --init-partial " << path << ": not loaded (not in the model, or another shape):"
            << list(left.skipped) << "\n"
            << "bigbatch: --init-partial " << path << ": kept their initial values:" << list(left.missing) << "\n";
}

// MXNet's ResNet-152 recipe stops augmenting late in training.
data::Transform training_transform(int64_t epoch, int64_t augment_until_epoch) {
  return augment_until_epoch >= 0 && epoch >= augment_until_epoch ? data::Transform::eval : data::Transform::train;
}

// A loss this far above a uniform guess's ln(C) is an explosion, even while it is finite.
constexpr double kExplodedLossFactor = 100.0;

}  // namespace

struct Trainer::State {
  TrainConfig config;
  comm::Communicator* comm = nullptr;
  int rank = 0, ranks = 1;
  int64_t local_batch = 0;  // v·n: this rank's workers
  std::optional<RunDirectory> run_dir;
  std::unique_ptr<data::ExampleSource> train_set, test_set;
  std::unique_ptr<data::TaskPool> pool;  // decodes batches for the loader and the evaluator
  nn::Graph graph;
  std::unique_ptr<comm::NcclCommunicator> nccl;  // GPU gradients over several ranks
  std::optional<TrainStep> step;                 // the arenas, where compute runs
  // comm ps with the update on the servers: they hold the momentum (gathered for checkpoints).
  comm::ParameterServerJob* servers_update = nullptr;
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
  // --precise-bn-batches N: the statistics of the next evaluation, from the first N batches of
  // `epoch` as training saw them (RunConfig::precise_bn_batches); each rank its own workers,
  // so the caller averages them over ranks next (as it does before every evaluation).
  void precise_bn(const data::LoaderOptions& lo, int64_t epoch);

  // Averages the running statistics over ranks, then rank 0 writes last.safetensors (and
  // epoch-N after an epoch).
  void save(int64_t completed_epoch);
  // The stop request of any rank (stop_request.h), the same on every rank: the signal, or 0.
  int agreed_stop_request() const;
};

int Trainer::State::agreed_stop_request() const {
  const int own = stop_requested();
  if (!distributed()) return own;
  // Summed: the signals of the ranks that were asked, and how many were.
  int64_t asked[2] = {own, own != 0 ? 1 : 0};
  comm->allreduce_sum(asked, 2);
  if (asked[1] == 0) return 0;
  return own != 0 ? own : static_cast<int>(asked[0] / asked[1]);
}

Trainer::Trainer(const TrainConfig& config, const std::string& config_toml, comm::Communicator* comm,
                 comm::ParameterServerJob* ps)
    : s_(std::make_unique<State>()) {
  State& s = *s_;
  s.config = config;
  s.comm = comm;
  s.rank = comm ? comm->rank() : 0;
  s.ranks = comm ? comm->size() : 1;
  validate(config);
  const BatchConfig& batch = config.batch;
  const RunConfig& run = config.run;
  BIGBATCH_CHECK(batch.global % (batch.per_worker * s.ranks) == 0,
                 "[train] global batch " << batch.global << " does not split into " << s.ranks
                                         << " ranks of whole workers of " << batch.per_worker
                                         << " examples (kn must be a multiple of R·n = " << batch.per_worker * s.ranks
                                         << ")");
  s.local_batch = batch.global / s.ranks;
  const int64_t micro = batch.micro > 0 ? batch.micro : s.local_batch;
  BIGBATCH_CHECK(s.local_batch % micro == 0,
                 "[train] micro-batch " << micro << " does not divide the " << s.local_batch << " examples of a rank");
  if (run.threads > 0) set_num_threads(run.threads);

  data::AugmentOptions augment;
  augment.kind = config.input.augment;
  augment.seed = run.seed;
  s.train_set = open_dataset(config.input.data, true, augment);
  s.test_set = open_dataset(config.input.data, false, augment);
  s.pool = std::make_unique<data::TaskPool>(decode_threads_for(config.input.data.name, config.input.decode_threads));
  const data::ExampleShape shape = s.train_set->example_shape();
  s.graph = models::build_model(
      {config.model.name, shape.channels, shape.height, shape.width, s.train_set->num_classes()});
  if (s.root() && s.graph.heads().size() == 1 && config.model.aux_loss_weight != ModelConfig{}.aux_loss_weight)
    std::cerr << "bigbatch: warning: --aux-loss-weight " << config.model.aux_loss_weight << " is ignored: "
              << config.model.name << " has no auxiliary classifier\n";
  const bool resumed = !run.resume.empty();
  s.run_dir.emplace(resumed ? fs::path(run.resume) : fs::path(run.out), resumed, s.root());
  if (!resumed) s.run_dir->claim_for_new_run(run.overwrite);
  s.run_dir->replay_cpu_tuning();  // before the step plans its executor
  const nn::DeviceChoice device{run.device, {.device = nn::local_cuda_device(), .nhwc = run.channels_last}};
  StepPlan plan;
  plan.graph = &s.graph;
  plan.global_batch = batch.global;
  plan.local_batch = s.local_batch;
  plan.micro_batch = micro;
  plan.bn_group = batch.per_worker;
  plan.precision = run.precision;
  plan.aux_loss_weight = config.model.aux_loss_weight;
  plan.seed = run.seed;
  plan.first_example = static_cast<int64_t>(s.rank) * s.local_batch;
  plan.device = device;
  plan.sgd = config.optimizer;
  plan.comm = comm;
  plan.reducer = config.reducer;
  if (run.device == Device::cuda && s.distributed() && ps == nullptr) {
    // One rank per GPU: NCCL's unique id travels over the job's communicator (MPI). (Under
    // comm ps the servers sum the gradients, through host copies: train_step.h.)
    s.nccl = comm::make_nccl_communicator(*comm, device.cuda.device);
    plan.grad_comm = s.nccl.get();
    plan.reducer.stream = backend::cuda::compute_stream(device.cuda.device);
  }
  BIGBATCH_CHECK(config.ps.enabled == (ps != nullptr),
                 "[train] comm ps needs the parameter-server job (mpirun -np W+S), and only it");
  if (ps != nullptr) {
    const nn::Graph& g = s.graph;
    plan.reducer.exchange = &ps->connect(
        *g.parameter_layout(),
        comm::plan_buckets(g.gradient_ranges(), g.parameter_layout()->total_elems(), plan.reducer.bucket_cap_bytes));
    if (ps->update_on_servers()) plan.servers_update = ps;
    s.servers_update = plan.servers_update;
    if (s.root())
      std::cerr << "bigbatch: parameter servers: " << ps->describe() << "; " << g.parameter_layout()->size()
                << " keys, "
                << (config.ps.partition_bytes > 0
                        ? "pieces of " + std::to_string(config.ps.partition_bytes) + " bytes"
                        : "split over every server from " + std::to_string(config.ps.bigarray_bound) + " elements")
                << "; load per server " << comm::describe_loads(ps->server_loads()) << "; the "
                << (ps->update_on_servers() ? "servers" : "workers") << " update"
                << (config.ps.async ? ", asynchronously (each push at once: not deterministic)" : "") << "\n";
  }
  s.step.emplace(plan);
  if (run.device == Device::cpu) {
    s.params = s.step->params();
    s.buffers = s.step->buffers();
    s.momentum = s.step->sgd().momentum_buffer();
  } else {
    s.params = Arena(s.graph.parameter_layout());
    s.buffers = Arena(s.graph.buffer_layout());
    s.momentum = Arena(s.graph.parameter_layout());
  }

  s.sampler.emplace(s.train_set->size(), batch.global, run.seed, config.input.shuffle);
  optim::LrPolicyConfig lr = config.lr;
  lr.global_batch = batch.global;
  lr.iters_per_epoch = s.iters_per_epoch();
  s.lr_policy.emplace(lr);

  s.ckpt.model = config.model.name;
  s.ckpt.seed = run.seed;
  s.ckpt.global_batch = batch.global;
  s.ckpt.per_worker_batch = batch.per_worker;
  s.ckpt.config_toml = config_toml;
  if (resumed) {
    const std::string path = s.run_dir->last_checkpoint();
    CheckpointState restored = load_checkpoint(path, s.params, s.buffers, s.momentum, config.model.name);
    BIGBATCH_CHECK(restored.seed == run.seed, "[train] " << path << " was trained with seed " << restored.seed
                                                         << "; resuming with seed " << run.seed
                                                         << " would change the data order");
    TrainPosition& pos = restored.position;
    const bool batch_changed = restored.global_batch != 0 && (restored.global_batch != batch.global ||
                                                              restored.per_worker_batch != batch.per_worker);
    if (batch_changed) {
      BIGBATCH_CHECK(run.allow_batch_change, "[train] " << path << " was trained at kn " << restored.global_batch
                                                        << ", n " << restored.per_worker_batch << "; resuming at kn "
                                                        << batch.global << ", n " << batch.per_worker
                                                        << " changes the run (--allow-batch-change on to mean it)");
      BIGBATCH_CHECK(pos.iter == 0, "[train] " << path << " stopped inside epoch " << pos.epoch
                                               << ": the batch can change only at an epoch boundary");
      pos.step = pos.epoch * s.iters_per_epoch();  // the new kn's steps, so the schedule is the new run's
    }
    s.step->sgd().set_prev_lr(restored.prev_lr);
    restored.config_toml = config_toml;
    restored.global_batch = batch.global;
    restored.per_worker_batch = batch.per_worker;
    s.ckpt = restored;
    BIGBATCH_CHECK(pos.step == pos.epoch * s.iters_per_epoch() + pos.iter,
                   "[train] " << path << ": position (epoch " << pos.epoch << ", iter " << pos.iter << ", step "
                              << pos.step << ") does not fit " << s.iters_per_epoch()
                              << " iterations per epoch: was the global batch or the dataset changed?");
    if (s.root())
      std::cerr << "bigbatch: resuming from " << path << " at step " << pos.step << " of "
                << config.lr.epochs * s.iters_per_epoch() << " (epoch " << pos.epoch << ", iteration " << pos.iter
                << ")\n";
  } else {
    Rng rng(run.seed);
    nn::initialize(s.graph, s.params, s.buffers, rng, config.model.init);
    if (!run.init.empty()) {
      const PartialLoad left = load_weights(run.init, config.model.name, s.params, s.buffers, run.init_partial);
      if (run.init_partial && s.root()) report_partial_init(run.init, left);
    }
  }
  if (s.distributed()) s.broadcast_model();
  s.upload();
  // The servers' copy of the model: the initial one or the checkpoint's, momentum included.
  if (s.servers_update != nullptr) s.servers_update->load_servers(s.params, s.momentum, s.step->sgd().prev_lr());
  s.run_dir->create(config_toml);
  if (run.device == Device::cpu) s.run_dir->record_cpu_tuning();
  s.evaluator.emplace(s.graph, s.step->params(), s.step->buffers(), *s.test_set, run.eval_batch, run.precision, comm,
                      s.pool.get(), device);
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

void Trainer::State::precise_bn(const data::LoaderOptions& lo, int64_t epoch) {
  const int64_t count = std::min(config.run.precise_bn_batches, iters_per_epoch());
  if (count == 0) return;
  const data::ExampleShape shape = train_set->example_shape();
  data::BatchSlot slot;
  slot.images = Tensor::zeros({local_batch, shape.channels, shape.height, shape.width});
  slot.labels.resize(static_cast<size_t>(local_batch));
  slot.indices.resize(static_cast<size_t>(local_batch));
  data::EpochSampler order = *sampler;
  const data::Transform transform = training_transform(epoch, config.input.augment_until_epoch);
  step->recompute_bn_statistics(count, [&](int64_t iter) -> const Tensor& {
    data::fill_batch(*train_set, pool.get(), transform, order, lo, epoch, iter, slot);
    return slot.images;
  });
}

const Arena& Trainer::params() const { return s_->params; }
const Arena& Trainer::buffers() const { return s_->buffers; }

void Trainer::State::save(int64_t completed_epoch) {
  average_buffers();
  if (!root()) return;
  download();
  if (servers_update != nullptr) servers_update->gather_momentum(momentum);
  ckpt.prev_lr = step->sgd().prev_lr();
  run_dir->save(params, buffers, momentum, ckpt, completed_epoch);
}

TrainResult Trainer::run() {
  State& s = *s_;
  const TrainConfig& c = s.config;
  const int64_t ipe = s.iters_per_epoch();
  const int64_t epochs = c.lr.epochs;
  const int64_t total = epochs * ipe;
  const int64_t stop = c.run.max_iters > 0 ? std::min(total, c.run.max_iters) : total;
  TrainResult result;
  result.run_dir = s.run_dir->path().string();
  result.last_checkpoint = s.run_dir->last_checkpoint();

  RunLog log(c, s.run_dir->metrics_path(), c.run.progress && s.root(), stop);
  log.begin(s.ckpt.position.step == 0, s.train_set->name(), s.lr_policy->describe(),
            s.run_dir->path().filename().string(),
            s.distributed() ? " over " + std::to_string(s.ranks) + " ranks" : std::string());

  data::LoaderOptions lo;
  lo.start_epoch = s.ckpt.position.epoch;
  lo.start_iter = s.ckpt.position.iter;
  lo.end_epoch = epochs;
  lo.workers = c.batch.workers();
  lo.worker_count = c.batch.workers() / s.ranks;
  lo.first_worker = s.rank * lo.worker_count;
  lo.prefetch = c.input.prefetch_batches;
  const int64_t until = c.input.augment_until_epoch;
  data::EpochSampler sampler = *s.sampler;
  const data::ExampleSource& train_set = *s.train_set;
  data::TaskPool* pool = s.pool.get();
  const data::ExampleShape shape = train_set.example_shape();
  data::Loader loader(
      lo, ipe, Shape({s.local_batch, shape.channels, shape.height, shape.width}),
      [&train_set, pool, sampler, lo, until](int64_t epoch, int64_t iter, data::BatchSlot& slot) mutable {
        data::fill_batch(train_set, pool, training_transform(epoch, until), sampler, lo, epoch, iter, slot);
      });

  const double exploded = kExplodedLossFactor * std::log(static_cast<double>(train_set.num_classes()));
  bool evaluated_last = false;
  int64_t saved_at = -1;  // the step of the last checkpoint this process wrote
  while (s.ckpt.position.step < stop) {
    TrainPosition& pos = s.ckpt.position;
    const data::Batch* batch = loader.next();
    BIGBATCH_CHECK(batch != nullptr && batch->epoch == pos.epoch && batch->iter == pos.iter,
                   "[train] the loader fell out of step at epoch " << pos.epoch << " iteration " << pos.iter);
    const double lr = s.lr_policy->lr_at(pos.step);
    int64_t correct = 0;
    const double loss = s.step->run(batch->images, batch->labels.data(), lr, pos.step, correct);
    if (!std::isfinite(loss) || loss > exploded) {
      log.finish();
      std::error_code ec;
      const bool saved = fs::exists(result.last_checkpoint, ec);
      BIGBATCH_THROW(Error, "[train] the loss is "
                                << loss << " at step " << pos.step << " (epoch " << pos.epoch << ", iteration "
                                << pos.iter << ", lr " << lr << ")"
                                << (std::isfinite(loss) ? ", above " + std::to_string(kExplodedLossFactor) +
                                                              " x ln(classes) = " + std::to_string(exploded)
                                                        : std::string())
                                << ": training diverged; "
                                << (saved ? "the last good checkpoint is " + result.last_checkpoint
                                          : std::string("no checkpoint was written before it"))
                                << " (try a lower --lr or a longer --warmup-epochs)");
    }
    s.ckpt.epoch_loss_sum += loss;
    s.ckpt.epoch_correct += correct;
    s.ckpt.epoch_seen += c.batch.global;
    ++pos.step;
    log.step(pos, lr, loss, loader.last_wait_s(), s.step->reducer_stats());
    evaluated_last = false;
    if (++pos.iter == ipe) {
      const int64_t done_epoch = pos.epoch + 1;
      s.precise_bn(lo, pos.epoch);
      s.average_buffers();
      EvalResult eval = s.evaluator->run();
      log.epoch(done_epoch, s.ckpt.epoch_loss_sum / static_cast<double>(ipe),
                1.0 - static_cast<double>(s.ckpt.epoch_correct) / static_cast<double>(s.ckpt.epoch_seen), eval);
      pos.epoch = done_epoch;
      pos.iter = 0;
      s.ckpt.epoch_loss_sum = 0.0;
      s.ckpt.epoch_correct = s.ckpt.epoch_seen = 0;
      result.final_eval = eval;
      evaluated_last = true;
      if (done_epoch % c.run.checkpoint_every == 0 || done_epoch == epochs || pos.step == stop) {
        s.save(done_epoch);
        saved_at = pos.step;
      }
    }
    // A stop request (SIGTERM, Ctrl-C) on any rank stops every rank after this same step; one
    // after the last step changes nothing.
    result.stopped_by = s.agreed_stop_request();
    if (result.stopped_by != 0) break;
  }
  log.finish();
  if (s.ckpt.position.step < stop) {
    if (saved_at != s.ckpt.position.step) s.save(0);  // no evaluation: a scheduler's grace time is short
  } else {
    result.stopped_by = 0;
    if (!evaluated_last) {
      // Stopped inside an epoch (max_iters): keep the position so --resume continues it.
      s.precise_bn(lo, s.ckpt.position.epoch);
      s.save(0);  // averages the running statistics over ranks first
      result.final_eval = s.evaluator->run();
    }
  }
  s.download();  // params() and buffers() show the final model
  result.steps = s.ckpt.position.step;
  result.epochs = s.ckpt.position.epoch;
  result.wall_s = log.elapsed_s();
  return result;
}

}  // namespace bigbatch::train
