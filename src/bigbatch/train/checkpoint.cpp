#include "bigbatch/train/checkpoint.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "bigbatch/core/error.h"
#include "bigbatch/io/safetensors.h"
#include "bigbatch/io/state_dict.h"

namespace bigbatch::train {

namespace {

constexpr const char* kMomentumPrefix = "optimizer.momentum.";
constexpr const char* kFormatKey = "bigbatch.format";
constexpr const char* kFormat = "bigbatch-checkpoint-1";

// Doubles as hexadecimal floats, so that a resumed run gets the very same bits.
std::string exact(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", x);
  return buf;
}

const std::string& field(const std::map<std::string, std::string>& meta, const std::string& path,
                         const std::string& key) {
  auto it = meta.find(key);
  BIGBATCH_CHECK(it != meta.end(), "[checkpoint] " << path << ": metadata lacks '" << key
                                                   << "' (not a bigbatch training checkpoint?)");
  return it->second;
}

double parse_double(const std::map<std::string, std::string>& meta, const std::string& path, const std::string& key) {
  const std::string& text = field(meta, path, key);
  char* end = nullptr;
  double x = std::strtod(text.c_str(), &end);
  BIGBATCH_CHECK(end != text.c_str() && *end == '\0', "[checkpoint] " << path << ": metadata '" << key << "' = '"
                                                                       << text << "' is not a number");
  return x;
}

template <class Int>
Int parse_int(const std::map<std::string, std::string>& meta, const std::string& path, const std::string& key) {
  const std::string& text = field(meta, path, key);
  Int x{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
  BIGBATCH_CHECK(ec == std::errc() && ptr == text.data() + text.size(),
                 "[checkpoint] " << path << ": metadata '" << key << "' = '" << text << "' is not an integer");
  return x;
}

// "a, b, c and 4 more": a list in an error line stays one line.
std::string some_of(const std::vector<std::string>& names) {
  std::string out;
  const size_t shown = std::min<size_t>(names.size(), 5);
  for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > shown) out += " and " + std::to_string(names.size() - shown) + " more";
  return out;
}

bool has_prefix(const std::string& name, const std::string& prefix) { return name.compare(0, prefix.size(), prefix) == 0; }

// The file's tensors that are neither a parameter, a buffer nor optimizer state of the model.
std::vector<std::string> extra_tensors(const io::SafetensorsFile& file, const Arena& params, const Arena& buffers) {
  std::vector<std::string> extra;
  for (const std::string& name : file.names())
    if (!has_prefix(name, kMomentumPrefix) && params.layout().find(name) < 0 && buffers.layout().find(name) < 0)
      extra.push_back(name);
  return extra;
}

// "name reason" for each entry of arena that the file cannot fill.
std::vector<std::string> unfit_entries(const io::SafetensorsFile& file, const Arena& arena) {
  std::vector<std::string> unfit;
  for (const ArenaEntry& entry : arena.layout().entries())
    if (std::string why = io::unfit_reason(file, entry.name, entry); !why.empty())
      unfit.push_back(entry.name + " " + why);
  return unfit;
}

}  // namespace

void save_checkpoint(const std::string& path, const Arena& params, const Arena& buffers, const Arena* momentum,
                     const CheckpointState& state) {
  io::SafetensorsWriter writer;
  io::add_arena(writer, params);
  io::add_arena(writer, buffers);
  if (momentum != nullptr) io::add_arena(writer, *momentum, kMomentumPrefix);
  writer.set_metadata(kFormatKey, kFormat);
  writer.set_metadata("bigbatch.model", state.model);
  writer.set_metadata("bigbatch.epoch", std::to_string(state.position.epoch));
  writer.set_metadata("bigbatch.iter", std::to_string(state.position.iter));
  writer.set_metadata("bigbatch.step", std::to_string(state.position.step));
  writer.set_metadata("bigbatch.seed", std::to_string(state.seed));
  writer.set_metadata("bigbatch.global_batch", std::to_string(state.global_batch));
  writer.set_metadata("bigbatch.per_worker_batch", std::to_string(state.per_worker_batch));
  writer.set_metadata("bigbatch.prev_lr", exact(state.prev_lr));
  writer.set_metadata("bigbatch.epoch_loss_sum", exact(state.epoch_loss_sum));
  writer.set_metadata("bigbatch.epoch_correct", std::to_string(state.epoch_correct));
  writer.set_metadata("bigbatch.epoch_seen", std::to_string(state.epoch_seen));
  writer.set_metadata("bigbatch.config", state.config_toml);
  writer.write_atomic(path);
}

CheckpointState load_checkpoint(const std::string& path, const Arena& params, const Arena& buffers,
                                const Arena& momentum, const std::string& model) {
  io::SafetensorsFile file = io::SafetensorsFile::read(path);
  const auto& meta = file.metadata();
  BIGBATCH_CHECK(field(meta, path, kFormatKey) == kFormat,
                 "[checkpoint] " << path << ": format '" << field(meta, path, kFormatKey) << "', expected " << kFormat);
  CheckpointState state;
  state.model = field(meta, path, "bigbatch.model");
  BIGBATCH_CHECK(model.empty() || state.model == model,
                 "[checkpoint] " << path << " holds a " << state.model << ", the configuration asks for " << model);
  if (meta.count("bigbatch.global_batch") != 0) {
    state.global_batch = parse_int<int64_t>(meta, path, "bigbatch.global_batch");
    state.per_worker_batch = parse_int<int64_t>(meta, path, "bigbatch.per_worker_batch");
  }
  state.position.epoch = parse_int<int64_t>(meta, path, "bigbatch.epoch");
  state.position.iter = parse_int<int64_t>(meta, path, "bigbatch.iter");
  state.position.step = parse_int<int64_t>(meta, path, "bigbatch.step");
  state.seed = parse_int<uint64_t>(meta, path, "bigbatch.seed");
  state.prev_lr = parse_double(meta, path, "bigbatch.prev_lr");
  state.epoch_loss_sum = parse_double(meta, path, "bigbatch.epoch_loss_sum");
  state.epoch_correct = parse_int<int64_t>(meta, path, "bigbatch.epoch_correct");
  state.epoch_seen = parse_int<int64_t>(meta, path, "bigbatch.epoch_seen");
  state.config_toml = field(meta, path, "bigbatch.config");
  BIGBATCH_CHECK(state.position.epoch >= 0 && state.position.iter >= 0 && state.position.step >= 0,
                 "[checkpoint] " << path << ": negative position");
  const std::vector<std::string> extra = extra_tensors(file, params, buffers);
  BIGBATCH_CHECK(extra.empty(), "[checkpoint] " << path << ": " << extra.size() << " tensor(s) that a "
                                                << state.model << " does not have: " << some_of(extra));
  // load_arena checks all tensors of one arena before writing any; check the other arenas
  // first by loading into scratch copies, so a bad file changes nothing.
  Arena params_tmp(params.layout_ptr()), buffers_tmp(buffers.layout_ptr()), momentum_tmp(momentum.layout_ptr());
  io::load_arena(file, params_tmp, "", false);
  io::load_arena(file, buffers_tmp, "", false);
  io::load_arena(file, momentum_tmp, kMomentumPrefix, true);
  params.copy_from(params_tmp);
  buffers.copy_from(buffers_tmp);
  momentum.copy_from(momentum_tmp);
  return state;
}

PartialLoad load_weights(const std::string& path, const std::string& model, const Arena& params,
                         const Arena& buffers, bool partial) {
  io::SafetensorsFile file = io::SafetensorsFile::read(path);
  PartialLoad result;
  // Scratch copies first: a failed read changes nothing.
  Arena params_tmp(params.layout_ptr()), buffers_tmp(buffers.layout_ptr());
  params_tmp.copy_from(params);
  buffers_tmp.copy_from(buffers);
  if (partial) {
    std::vector<std::string> used;
    for (const Arena* arena : {&params_tmp, &buffers_tmp}) {
      const ArenaLayout& layout = arena->layout();
      for (int i = 0; i < layout.size(); ++i) {
        const ArenaEntry& entry = layout.entry(i);
        if (!io::unfit_reason(file, entry.name, entry).empty()) {
          result.missing.push_back(entry.name);
          continue;
        }
        file.read_f32(entry.name, arena->tensor(i).data<float>(), file.info(entry.name).shape);
        used.push_back(entry.name);
      }
    }
    for (const std::string& name : file.names())
      if (!has_prefix(name, kMomentumPrefix) && std::find(used.begin(), used.end(), name) == used.end())
        result.skipped.push_back(name);
  } else {
    const auto& meta = file.metadata();
    if (auto it = meta.find("bigbatch.model"); it != meta.end())
      BIGBATCH_CHECK(it->second == model, "[checkpoint] " << path << " holds a " << it->second << ", not a " << model
                                                          << " (--init-partial on loads the tensors that match)");
    const std::vector<std::string> extra = extra_tensors(file, params, buffers);
    BIGBATCH_CHECK(extra.empty(), "[checkpoint] " << path << ": " << extra.size() << " tensor(s) that a " << model
                                                  << " does not have: " << some_of(extra)
                                                  << " (--init-partial on loads the tensors that match)");
    // The buffers are optional as a whole (a file of parameters alone keeps them as they are).
    bool has_buffers = false;
    for (const ArenaEntry& entry : buffers.layout().entries()) has_buffers = has_buffers || file.contains(entry.name);
    std::vector<std::string> unfit = unfit_entries(file, params);
    if (has_buffers)
      for (std::string& entry : unfit_entries(file, buffers)) unfit.push_back(std::move(entry));
    BIGBATCH_CHECK(unfit.empty(), "[checkpoint] " << path << ": " << unfit.size() << " tensor(s) of a " << model
                                                  << " missing or unlike the model's: " << some_of(unfit)
                                                  << " (--init-partial on loads the tensors that match)");
    io::load_arena(file, params_tmp, "", false);
    if (has_buffers) io::load_arena(file, buffers_tmp, "", false);
  }
  params.copy_from(params_tmp);
  buffers.copy_from(buffers_tmp);
  return result;
}

}  // namespace bigbatch::train
