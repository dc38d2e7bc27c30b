#include "bigbatch/cli/train_options.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <sstream>
#include <type_traits>
#include <toml++/toml.h>
#include <utility>
#include <vector>

#include "bigbatch/core/error.h"
#include "bigbatch/core/read_file.h"
#include "bigbatch/models/registry.h"

namespace bigbatch::cli {

namespace {

using train::TrainConfig;

// A key of the configuration: how to set it from text and how to write it as TOML.
struct OptionSpec {
  const char* key;
  const char* help;
  std::function<void(TrainConfig&, const std::string&)> set;
  std::function<std::string(const TrainConfig&)> toml;
};

[[noreturn]] void bad_value(const std::string& key, const std::string& text, const char* expected) {
  BIGBATCH_THROW(InvalidArgument, key << ": expected " << expected << ", got '" << text << "'");
}

int64_t to_int(const std::string& key, const std::string& text) {
  int64_t x = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
  if (ec != std::errc() || ptr != text.data() + text.size()) bad_value(key, text, "an integer");
  return x;
}

double to_double(const std::string& key, const std::string& text) {
  std::istringstream in(text);
  in.imbue(std::locale::classic());
  double x = 0;
  if (!(in >> x) || !in.eof() || !std::isfinite(x)) bad_value(key, text, "a number");
  return x;
}

bool to_bool(const std::string& key, const std::string& text) {
  if (text == "on" || text == "true" || text == "1" || text == "yes") return true;
  if (text == "off" || text == "false" || text == "0" || text == "no") return false;
  bad_value(key, text, "on or off");
}

// A TOML basic string. Control characters are escaped: TOML forbids them raw, and a config.toml
// holding one would not read back on --resume.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto byte = static_cast<unsigned char>(ch);
    if (byte < 0x20 || byte == 0x7f) {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
      continue;
    }
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

// The shortest text that reads back as x (0.4, not 0.40000000000000002), as a TOML float.
std::string number(double x) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
  std::string s = ec == std::errc() ? std::string(buf, end) : std::string("nan");
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string on_off(bool b) { return b ? "\"on\"" : "\"off\""; }

// The builders below name a key's field by its path of members, e.g. &TrainConfig::batch,
// &BatchConfig::global for c.batch.global.
template <class... Members>
OptionSpec int_option(const char* key, const char* help, Members... path) {
  // In the field's range (seed is unsigned, threads an int): a wrapped value would be another
  // setting, and to_toml would write what TOML's 64-bit integers cannot read back.
  return {key, help,
          [=](TrainConfig& c, const std::string& t) {
            auto& field = (c .* ... .* path);
            using Field = std::remove_reference_t<decltype(field)>;
            const int64_t x = to_int(key, t);
            if (!std::in_range<Field>(x))
              bad_value(key, t,
                        ("an integer from " + std::to_string(+std::numeric_limits<Field>::min()) + " to " +
                         std::to_string(+std::numeric_limits<Field>::max()))
                            .c_str());
            field = static_cast<Field>(x);
          },
          [=](const TrainConfig& c) { return std::to_string((c .* ... .* path)); }};
}

template <class... Members>
OptionSpec double_option(const char* key, const char* help, Members... path) {
  return {key, help, [=](TrainConfig& c, const std::string& t) { (c .* ... .* path) = to_double(key, t); },
          [=](const TrainConfig& c) { return number((c .* ... .* path)); }};
}

template <class... Members>
OptionSpec string_option(const char* key, const char* help, Members... path) {
  return {key, help, [=](TrainConfig& c, const std::string& t) { (c .* ... .* path) = t; },
          [=](const TrainConfig& c) { return quoted((c .* ... .* path)); }};
}

template <class... Members>
OptionSpec bool_option(const char* key, const char* help, Members... path) {
  return {key, help, [=](TrainConfig& c, const std::string& t) { (c .* ... .* path) = to_bool(key, t); },
          [=](const TrainConfig& c) { return on_off((c .* ... .* path)); }};
}

// One of two names, held as a bool: `yes` sets it, `no` clears it.
template <class... Members>
OptionSpec either_option(const char* key, const char* help, const char* no, const char* yes, Members... path) {
  return {key, help,
          [=](TrainConfig& c, const std::string& t) {
            BIGBATCH_CHECK(t == no || t == yes, key << ": expected " << no << " or " << yes << ", got '" << t << "'");
            (c .* ... .* path) = t == yes;
          },
          [=](const TrainConfig& c) { return quoted((c .* ... .* path) ? yes : no); }};
}

// A size in MiB, held in bytes (the reducer's unit); bounded so that the bytes cannot overflow.
OptionSpec mib_option(const char* key, const char* help, int64_t comm::ReducerOptions::*bytes) {
  return {key, help,
          [=](TrainConfig& c, const std::string& t) {
            const int64_t mib = to_int(key, t);
            if (mib < 1 || mib > (int64_t{1} << 20)) bad_value(key, t, "a size in MiB in [1, 1048576]");
            c.reducer.*bytes = mib << 20;
          },
          [=](const TrainConfig& c) { return std::to_string(c.reducer.*bytes >> 20); }};
}

using train::BatchConfig;
using train::InputConfig;
using train::ModelConfig;
using train::RunConfig;
using optim::LrPolicyConfig;
using optim::SgdOptions;
using train::DatasetSpec;

const std::vector<OptionSpec>& option_specs() {
  constexpr auto model = &TrainConfig::model;
  constexpr auto input = &TrainConfig::input;
  constexpr auto data = &InputConfig::data;
  constexpr auto batch = &TrainConfig::batch;
  constexpr auto lr = &TrainConfig::lr;
  constexpr auto opt = &TrainConfig::optimizer;
  constexpr auto reducer = &TrainConfig::reducer;
  constexpr auto run = &TrainConfig::run;
  constexpr auto ps = &TrainConfig::ps;
  static const std::vector<OptionSpec> specs = {
      string_option("model", "network (see `bigbatch models`)", model, &ModelConfig::name),
      string_option("dataset", "fashion-mnist | mnist | cifar10 | cifar100 | synthetic | imagefolder | imageshards",
                    input, data, &DatasetSpec::name),
      string_option("data_dir", "dataset directory (default: the dataset's own; imagefolder: D with train/ and val/)",
                    input, data, &DatasetSpec::dir),
      int_option("synthetic_size", "synthetic data set: training examples", input, data, &DatasetSpec::synthetic_size),
      int_option("global_batch", "kn: examples per optimizer step, over all workers", batch, &BatchConfig::global),
      int_option("per_worker_batch", "n: examples per worker (its batch-norm group)", batch, &BatchConfig::per_worker),
      int_option("micro_batch", "examples per forward/backward pass, whole workers (0 = kn)", batch,
                 &BatchConfig::micro),
      double_option("lr", "reference learning rate eta0 at ref_batch", lr, &LrPolicyConfig::base_lr),
      int_option("ref_batch", "reference batch B0 of the scaling rule", lr, &LrPolicyConfig::base_batch),
      {"scaling", "linear | sqrt | none (RECIPE 1)",
       [](TrainConfig& c, const std::string& t) { c.lr.scaling = optim::parse_lr_scaling(t); },
       [](const TrainConfig& c) { return quoted(optim::lr_scaling_name(c.lr.scaling)); }},
      {"warmup", "gradual | constant | none (RECIPE 2)",
       [](TrainConfig& c, const std::string& t) { c.lr.warmup = optim::parse_lr_warmup(t); },
       [](const TrainConfig& c) { return quoted(optim::lr_warmup_name(c.lr.warmup)); }},
      int_option("warmup_epochs", "warmup length W in epochs (0 = none)", lr, &LrPolicyConfig::warmup_epochs),
      int_option("epochs", "epochs in all, warmup included", lr, &LrPolicyConfig::epochs),
      {"decay", "step | cosine | poly",
       [](TrainConfig& c, const std::string& t) { c.lr.schedule = optim::parse_lr_schedule(t); },
       [](const TrainConfig& c) { return quoted(optim::lr_schedule_name(c.lr.schedule)); }},
      {"decay_epochs", "step decay epochs, e.g. 30,60,80",
       [](TrainConfig& c, const std::string& t) { c.lr.decay_epochs = optim::parse_epoch_list(t); },
       [](const TrainConfig& c) {
         std::string s = "[";
         for (size_t i = 0; i < c.lr.decay_epochs.size(); ++i)
           s += (i ? ", " : "") + std::to_string(c.lr.decay_epochs[i]);
         return s + "]";
       }},
      double_option("decay_factor", "step decay multiplier", lr, &LrPolicyConfig::decay_factor),
      double_option("final_lr", "cosine/poly: lr at the end", lr, &LrPolicyConfig::final_lr),
      double_option("poly_power", "poly: power p", lr, &LrPolicyConfig::poly_power),
      double_option("momentum", "momentum m", opt, &SgdOptions::momentum),
      either_option("momentum_form", "u | v (v: with momentum correction, RECIPE 3)", "u", "v", opt,
                    &SgdOptions::v_form),
      bool_option("nesterov", "Nesterov momentum: on | off", opt, &SgdOptions::nesterov),
      double_option("wd", "weight decay lambda", opt, &SgdOptions::weight_decay),
      bool_option("wd_on_bn", "also decay BN gamma/beta and biases: on | off", opt, &SgdOptions::decay_bn_and_bias),
      {"optimizer", "sgd | lars (LARS: per-tensor trust ratio, RECIPE 9)",
       [](TrainConfig& c, const std::string& t) { c.optimizer.kind = optim::parse_optimizer_kind(t); },
       [](const TrainConfig& c) { return quoted(optim::optimizer_kind_name(c.optimizer.kind)); }},
      double_option("lars_eta", "LARS trust coefficient eta_lars", opt, &SgdOptions::lars_eta),
      bool_option("lars_on_bn", "LARS also scales BN gamma/beta and biases: on | off", opt,
                  &SgdOptions::lars_on_bn_and_bias),
      bool_option("zero_gamma", "last BN of each residual block starts at gamma 0: on | off", model,
                  &ModelConfig::init, &nn::InitOptions::zero_gamma),
      double_option("aux_loss_weight",
                    "inception_v3: weight of the auxiliary classifier's loss (torchvision's recipe: 0.4)", model,
                    &ModelConfig::aux_loss_weight),
      bool_option("shuffle", "one seeded permutation per epoch: on | off", input, &InputConfig::shuffle),
      {"augment", "standard (crop + flip) | none",
       [](TrainConfig& c, const std::string& t) { c.input.augment = data::parse_augment_kind(t); },
       [](const TrainConfig& c) { return quoted(data::augment_kind_name(c.input.augment)); }},
      int_option("augment_until_epoch", "stop augmenting from this epoch on (-1 = never)", input,
                 &InputConfig::augment_until_epoch),
      int_option("image_size",
                 "JPEG datasets: training crop and evaluation centre crop in pixels (inception_v3: 299 unless set)",
                 input, data,
                 &DatasetSpec::image_size),
      int_option("decode_threads", "threads reading and decoding batches (0 = half the cores for JPEG, 1 in memory)",
                 input, &InputConfig::decode_threads),
      int_option("prefetch_batches", "batches prepared ahead of the training step", input,
                 &InputConfig::prefetch_batches),
      bool_option("skip_bad_images", "JPEG datasets: replace unreadable images (one log line each): on | off", input,
                  data, &DatasetSpec::skip_bad_images),
      int_option("max_image_pixels", "JPEG datasets: an image whose header claims more pixels is bad", input, data,
                 &DatasetSpec::max_image_pixels),
      mib_option("bucket_mib", "distributed: gradient bucket cap in MiB", &comm::ReducerOptions::bucket_cap_bytes),
      bool_option("overlap", "distributed: allreduce buckets during backward: on | off", reducer,
                  &comm::ReducerOptions::overlap),
      either_option("comm",
                    "distributed: allreduce | ps (parameter servers, MXNet's dist_sync: under mpirun -np W+S the "
                    "last --ps-servers ranks serve, the first W train)",
                    "allreduce", "ps", ps, &comm::PsOptions::enabled),
      int_option("ps_servers", "comm ps: the servers S, the last S ranks of the job", ps, &comm::PsOptions::servers),
      either_option("ps_update",
                    "comm ps: server (MXNet's update_on_kvstore: the servers run SGD on their keys, the workers "
                    "pull weights) | worker (BytePS: the workers pull the summed gradients and update; needed for "
                    "LARS)",
                    "worker", "server", ps, &comm::PsOptions::update_on_servers),
      either_option("ps_mode",
                    "comm ps: sync (MXNet's dist_sync, the paper's recipe) | async (dist_async: a server applies "
                    "each push at once and a pull returns the latest weights; not the paper's recipe and NOT "
                    "deterministic; needs --ps-update server)",
                    "sync", "async", ps, &comm::PsOptions::async),
      int_option("ps_bigarray_bound",
                 "comm ps: a tensor of this many elements or more is split over every server, a smaller one lives "
                 "whole on one (MXNet's MXNET_KVSTORE_BIGARRAY_BOUND)",
                 ps, &comm::PsOptions::bigarray_bound),
      int_option("ps_partition_bytes",
                 "comm ps: > 0 cuts every tensor into pieces of at most this many bytes dealt to the servers in "
                 "turn (BytePS) instead of MXNet's rule",
                 ps, &comm::PsOptions::partition_bytes),
      int_option("max_iters", "stop after this many optimizer steps in all (0 = all epochs)", run,
                 &RunConfig::max_iters),
      int_option("seed", "seed of initialisation, data order and augmentation", run, &RunConfig::seed),
      double_option("stall_timeout",
                    "distributed: seconds a rank may wait for the others at a collective before the job ends, "
                    "naming the ranks that did not arrive (0 = forever)",
                    run, &RunConfig::stall_timeout_s),
      int_option("threads", "compute threads (0 = the cores this process may use, shared by the ranks of a machine)", run, &RunConfig::threads),
      {"device", "cpu | cuda (one GPU per rank)",
       [](TrainConfig& c, const std::string& t) {
         BIGBATCH_CHECK(t == "cpu" || t == "cuda", "[config] device: expected cpu or cuda, got '" << t << "'");
         c.run.device = t == "cuda" ? Device::cuda : Device::cpu;
       },
       [](const TrainConfig& c) { return quoted(device_name(c.run.device)); }},
      bool_option("channels_last", "cuda: NHWC activations: on | off", run, &RunConfig::channels_last),
      {"precision", "f32 | bf16 (cuda: also f16)",
       [](TrainConfig& c, const std::string& t) { c.run.precision = parse_dtype(t); },
       [](const TrainConfig& c) { return quoted(dtype_name(c.run.precision)); }},
      string_option("init", "safetensors weights to start from (e.g. from PyTorch)", run, &RunConfig::init),
      bool_option("init_partial", "init: load the tensors that match the model by name and shape, list the rest: on | off",
                  run, &RunConfig::init_partial),
      string_option("resume", "run directory to continue, or auto: --out's run when it holds a checkpoint, else a new run",
                    run, &RunConfig::resume),
      bool_option("allow_batch_change", "resume: at another global or per-worker batch (at an epoch boundary): on | off",
                  run, &RunConfig::allow_batch_change),
      string_option("out", "run directory (one that holds a run needs --resume or --overwrite)", run,
                    &RunConfig::out),
      bool_option("overwrite", "out: replace the run it holds (its checkpoints, metrics, config): on | off", run,
                  &RunConfig::overwrite),
      int_option("log_every", "iterations between metrics lines", run, &RunConfig::log_every),
      int_option("checkpoint_every", "epochs between checkpoints", run, &RunConfig::checkpoint_every),
      int_option("eval_batch", "examples per evaluation pass", run, &RunConfig::eval_batch),
      int_option("precise_bn_batches",
                 "before each evaluation, BN statistics recomputed as averages over this many training batches of "
                 "kn (forward only, groups of n; the checkpoint keeps them; 0 = the running averages)",
                 run, &RunConfig::precise_bn_batches),
      bool_option("progress", "progress on stderr: on | off", run, &RunConfig::progress),
  };
  return specs;
}

const OptionSpec* find_spec(const std::string& key) {
  for (const OptionSpec& spec : option_specs())
    if (key == spec.key) return &spec;
  return nullptr;
}

std::string flag_name(const char* key) {
  std::string flag = std::string("--") + key;
  for (char& ch : flag)
    if (ch == '_') ch = '-';
  return flag;
}

// A TOML value as the text a flag would have carried.
std::string value_text(const std::string& key, const toml::node& node, const std::string& origin) {
  if (auto s = node.value_exact<std::string>()) return *s;
  if (auto i = node.value_exact<int64_t>()) return std::to_string(*i);
  if (auto d = node.value_exact<double>()) return number(*d);
  if (auto b = node.value_exact<bool>()) return *b ? "on" : "off";
  if (const toml::array* array = node.as_array()) {
    std::string s;
    for (const toml::node& item : *array) {
      auto i = item.value_exact<int64_t>();
      BIGBATCH_CHECK(i.has_value(), "[config] " << origin << ": " << key << ": expected a list of integers");
      s += (s.empty() ? "" : ",") + std::to_string(*i);
    }
    return s;
  }
  BIGBATCH_THROW(InvalidArgument, "[config] " << origin << ": " << key << ": unsupported value type");
}

}  // namespace

void add_train_flags(CLI::App& command, TrainFlags& flags) {
  command.add_option("--config", flags.config_path, "TOML file of configuration keys (flags override it)");
  const train::TrainConfig defaults;
  for (const OptionSpec& spec : option_specs()) {
    std::string key = spec.key;
    const std::string help = std::string(spec.help) + " [default: " + spec.toml(defaults) + "]";
    command.add_option_function<std::string>(
        flag_name(spec.key), [&flags, key](const std::string& value) { flags.values[key] = value; }, help);
  }
}

train::TrainConfig apply_toml(const train::TrainConfig& base, const std::string& toml_text, const std::string& origin,
                              std::set<std::string>* keys) {
  toml::table table;
  try {
    table = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    BIGBATCH_THROW(InvalidArgument, "[config] " << origin << ":" << e.source().begin.line << ": " << e.description());
  }
  train::TrainConfig config = base;
  for (const auto& [key, node] : table) {
    const std::string name(key.str());
    const OptionSpec* spec = find_spec(name);
    BIGBATCH_CHECK(spec != nullptr, "[config] " << origin << ": unknown key '" << name
                                                << "' (every key is a flag of `bigbatch train --help`, with _ for -)");
    if (keys != nullptr) keys->insert(name);
    try {
      spec->set(config, value_text(name, node, origin));
    } catch (const InvalidArgument& e) {
      const std::string what = e.what();
      if (what.rfind("[config]", 0) == 0) throw;
      BIGBATCH_THROW(InvalidArgument, "[config] " << origin << ": " << what);
    }
  }
  return config;
}

namespace {

// --epochs set without --warmup-epochs or --decay-epochs: those follow the paper's schedule,
// scaled to the run (a resumed run's config sets every key, so it keeps its own).
void fit_schedule_to_epochs(train::TrainConfig& config, const std::set<std::string>& keys, std::string* note) {
  const bool warmup = !keys.contains("warmup_epochs") && config.lr.warmup != optim::LrWarmup::none;
  const bool decay = !keys.contains("decay_epochs") && config.lr.schedule == optim::LrSchedule::step;
  if (!keys.contains("epochs") || (!warmup && !decay) || config.lr.epochs < 1) return;
  const optim::PaperSchedule paper = optim::paper_schedule_for(config.lr.epochs);
  if (warmup) config.lr.warmup_epochs = paper.warmup_epochs;
  if (decay) config.lr.decay_epochs = paper.decay_epochs;
  if (note == nullptr) return;
  const optim::LrPolicyConfig paper_defaults;  // what paper_schedule_for scales
  const auto list = [](const std::vector<int64_t>& epochs) {
    std::string text;
    for (size_t i = 0; i < epochs.size(); ++i) text += (i ? "," : "") + std::to_string(epochs[i]);
    return epochs.empty() ? std::string("none") : text;
  };
  std::ostringstream line;
  line << "bigbatch: --epochs " << config.lr.epochs << ": the paper's";
  if (warmup)
    line << " warmup epochs " << paper_defaults.warmup_epochs << " -> " << config.lr.warmup_epochs
         << (decay ? " and" : "");
  if (decay) line << " decay epochs " << list(paper_defaults.decay_epochs) << " -> " << list(config.lr.decay_epochs);
  line << " (scaled by " << config.lr.epochs << "/" << paper_defaults.epochs << "; set "
       << (warmup ? "--warmup-epochs" : "")
       << (warmup && decay ? " or " : "") << (decay ? "--decay-epochs" : "") << " to choose)";
  *note = line.str();
}

// --image-size not set: the model's (models::usual_image_size: 299 for Inception-v3).
void fit_image_size_to_model(train::TrainConfig& config, const std::set<std::string>& keys) {
  if (!keys.contains("image_size")) config.input.data.image_size = models::usual_image_size(config.model.name);
}

// Defaults (or DIR/config.toml of the run resumed), then the file, then the flags.
train::TrainConfig layered_config(const TrainFlags& flags, const std::string& resume_dir, std::string* note) {
  train::TrainConfig config;
  std::set<std::string> keys;  // set by a file or a flag, not left at the default
  if (!resume_dir.empty()) {
    const std::string path = resume_dir + "/config.toml";
    config = apply_toml(config, read_file(path, "config"), path, &keys);
  }
  if (!flags.config_path.empty())
    config = apply_toml(config, read_file(flags.config_path, "config"), flags.config_path, &keys);
  for (const auto& [key, text] : flags.values) {
    keys.insert(key);
    try {
      find_spec(key)->set(config, text);
    } catch (const InvalidArgument& e) {
      const std::string what = e.what();
      if (what.rfind("[", 0) == 0) BIGBATCH_THROW(InvalidArgument, "[config] " << flag_name(key.c_str()) << ": " << what);
      BIGBATCH_THROW(InvalidArgument, "[config] " << flag_name(key.c_str()) << what.substr(what.find(':')));
    }
  }
  fit_schedule_to_epochs(config, keys, note);
  fit_image_size_to_model(config, keys);
  return config;
}

}  // namespace

train::TrainConfig resolve_train_config(const TrainFlags& flags, std::string* schedule_note) {
  auto resume = flags.values.find("resume");
  std::string resume_dir = resume != flags.values.end() ? resume->second : std::string();
  bool fresh_after_auto = false;
  if (resume_dir == kResumeAuto) {
    // A requeued job runs the same command again: continue --out when it holds a checkpoint.
    const train::TrainConfig fresh = layered_config(flags, "", nullptr);
    const bool has_checkpoint = std::filesystem::exists(fresh.run.out + "/checkpoints/last.safetensors");
    resume_dir = has_checkpoint ? fresh.run.out : std::string();
    fresh_after_auto = !has_checkpoint;
  }
  train::TrainConfig config = layered_config(flags, resume_dir, schedule_note);
  config.run.resume = resume_dir;
  // With no checkpoint there is nothing to continue: what a run left before its first
  // checkpoint (config, metrics) is replaced.
  if (fresh_after_auto) config.run.overwrite = true;
  if (!config.run.resume.empty()) config.run.out = config.run.resume;
  train::validate(config);
  return config;
}

std::string to_toml(const train::TrainConfig& config) {
  std::string out = "# bigbatch training configuration (resolved: defaults, file, then flags)\n";
  for (const OptionSpec& spec : option_specs()) out += std::string(spec.key) + " = " + spec.toml(config) + "\n";
  return out;
}

}  // namespace bigbatch::cli
