// The files of a run, and who writes them: DIR/config.toml (the resolved configuration),
// DIR/metrics.jsonl, DIR/cpu_tuning.txt (the convolution choices) and DIR/checkpoints/
// (last.safetensors and epoch-N.safetensors). On several ranks only rank 0 writes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "bigbatch/core/arena.h"
#include "bigbatch/train/checkpoint.h"

namespace bigbatch::train {

class RunDirectory {
 public:
  // dir: --out of a new run, or --resume's directory; writer: this process writes the files.
  RunDirectory(std::filesystem::path dir, bool resumed, bool writer);

  const std::filesystem::path& path() const { return dir_; }
  std::string checkpoint(const std::string& name) const { return (dir_ / "checkpoints" / name).string(); }
  std::string last_checkpoint() const { return checkpoint("last.safetensors"); }
  // Where the metrics go: empty for a process that does not write.
  std::string metrics_path() const { return writer_ ? (dir_ / "metrics.jsonl").string() : std::string(); }

  // Convolution algorithms are tuned by timing, which differs from process to process: a
  // resumed run replays the choices its first process recorded, so that it continues bitwise.
  // Call before any executor is planned.
  void replay_cpu_tuning() const;
  void record_cpu_tuning() const;  // after planning: what this process chose

  // A new run may not mix its files with another run's: when DIR holds a run (config.toml,
  // metrics.jsonl or checkpoints/), that is an error naming --resume and --overwrite, unless
  // overwrite, which removes that run's files (bigbatch's own files only, never the folder).
  // Call before anything is written; a no-op for a process that does not write.
  void claim_for_new_run(bool overwrite) const;

  // Makes DIR/checkpoints and writes config.toml; a new run starts a new metrics record, a
  // resumed one continues its own.
  void create(const std::string& config_toml) const;

  // last.safetensors, atomically; after an epoch (completed_epoch > 0) also epoch-N, a hard
  // link where the file system allows it (no second write), else a copy.
  void save(const Arena& params, const Arena& buffers, const Arena& momentum, const CheckpointState& state,
            int64_t completed_epoch) const;

 private:
  std::filesystem::path dir_;
  bool resumed_, writer_;
};

}  // namespace bigbatch::train
