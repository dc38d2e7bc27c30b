#include "bigbatch/train/run_directory.h"

#include <fstream>
#include <string_view>
#include <system_error>
#include <utility>

#include "bigbatch/core/atomic_file.h"
#include "bigbatch/core/error.h"
#include "bigbatch/core/read_file.h"
#include "bigbatch/nn/executor.h"

namespace bigbatch::train {

namespace fs = std::filesystem;

RunDirectory::RunDirectory(fs::path dir, bool resumed, bool writer)
    : dir_(std::move(dir)), resumed_(resumed), writer_(writer) {}

void RunDirectory::replay_cpu_tuning() const {
  const fs::path tuning = dir_ / "cpu_tuning.txt";
  if (resumed_ && fs::exists(tuning)) nn::replay_cpu_tuning(read_file(tuning.string(), "train"), tuning.string());
}

void RunDirectory::record_cpu_tuning() const {
  if (!writer_) return;
  const std::string record = nn::cpu_tuning_record();
  write_file_atomic((dir_ / "cpu_tuning.txt").string(), std::string_view(record), "train");
}

void RunDirectory::claim_for_new_run(bool overwrite) const {
  if (!writer_) return;
  // What a run leaves in its directory (RunDirectory, RunLog, the train command's curves).
  static const char* const kRunFiles[] = {"config.toml", "metrics.jsonl", "cpu_tuning.txt", "curves.png"};
  std::error_code ec;
  bool holds_run = fs::exists(dir_ / "checkpoints", ec);
  for (const char* name : kRunFiles) holds_run = holds_run || fs::exists(dir_ / name, ec);
  if (!holds_run) return;
  BIGBATCH_CHECK(overwrite, "[train] " << dir_.string() << " holds a run already: --resume " << dir_.string()
                                       << " continues it, --overwrite on replaces it, or choose another --out");
  for (const char* name : kRunFiles) fs::remove(dir_ / name);
  const fs::path checkpoints = dir_ / "checkpoints";
  if (fs::is_directory(checkpoints)) {
    for (const fs::directory_entry& entry : fs::directory_iterator(checkpoints)) {
      const std::string name = entry.path().filename().string();
      if (name.find(".safetensors") != std::string::npos) fs::remove(entry.path());
    }
  }
}

void RunDirectory::create(const std::string& config_toml) const {
  if (!writer_) return;
  fs::create_directories(dir_ / "checkpoints");
  std::ofstream out(dir_ / "config.toml");
  out << config_toml;
  BIGBATCH_CHECK(out.good(), "[train] cannot write " << (dir_ / "config.toml").string());
  if (!resumed_) fs::remove(dir_ / "metrics.jsonl");
}

void RunDirectory::save(const Arena& params, const Arena& buffers, const Arena& momentum, const CheckpointState& state,
                        int64_t completed_epoch) const {
  if (!writer_) return;
  const std::string last = last_checkpoint();
  save_checkpoint(last, params, buffers, &momentum, state);
  if (completed_epoch <= 0) return;
  const std::string named = checkpoint("epoch-" + std::to_string(completed_epoch) + ".safetensors");
  std::error_code ec;
  fs::remove(named, ec);
  fs::create_hard_link(last, named, ec);
  if (ec) fs::copy_file(last, named, fs::copy_options::overwrite_existing);
}

}  // namespace bigbatch::train
