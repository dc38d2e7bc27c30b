#include "bigbatch/train/checkpoint.h"

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
  writer.set_metadata("bigbatch.prev_lr", exact(state.prev_lr));
  writer.set_metadata("bigbatch.epoch_loss_sum", exact(state.epoch_loss_sum));
  writer.set_metadata("bigbatch.epoch_correct", std::to_string(state.epoch_correct));
  writer.set_metadata("bigbatch.epoch_seen", std::to_string(state.epoch_seen));
  writer.set_metadata("bigbatch.config", state.config_toml);
  writer.write_atomic(path);
}

CheckpointState load_checkpoint(const std::string& path, const Arena& params, const Arena& buffers,
                                const Arena& momentum) {
  io::SafetensorsFile file = io::SafetensorsFile::read(path);
  const auto& meta = file.metadata();
  BIGBATCH_CHECK(field(meta, path, kFormatKey) == kFormat,
                 "[checkpoint] " << path << ": format '" << field(meta, path, kFormatKey) << "', expected " << kFormat);
  CheckpointState state;
  state.model = field(meta, path, "bigbatch.model");
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

void load_weights(const std::string& path, const Arena& params, const Arena& buffers) {
  io::SafetensorsFile file = io::SafetensorsFile::read(path);
  const ArenaLayout& layout = buffers.layout();
  bool has_buffers = layout.size() > 0 && file.contains(layout.entry(0).name);
  Arena params_tmp(params.layout_ptr());
  io::load_arena(file, params_tmp, "", false);
  if (has_buffers) io::load_arena(file, buffers, "", false);
  params.copy_from(params_tmp);
}

}  // namespace bigbatch::train
