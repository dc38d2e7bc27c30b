// The training configuration as TOML keys and command-line flags: one table of options, so
// that every key of a config file is also a flag (`global_batch` <-> `--global-batch`) and
// the resolved configuration can be written back as TOML.
#pragma once

#include <map>
#include <set>
#include <string>

#include <CLI/CLI.hpp>

#include "bigbatch/train/train_config.h"

namespace bigbatch::cli {

// What the command line said: --config, and the raw text of every option given.
struct TrainFlags {
  std::string config_path;
  std::map<std::string, std::string> values;  // key (snake_case) -> text as typed
};

// Registers --config and one flag per configuration key on `command`.
void add_train_flags(CLI::App& command, TrainFlags& flags);

// --resume auto: continue --out when it holds a checkpoint, else start a new run there (what a
// requeued job wants: the same command line, again and again).
inline constexpr const char* kResumeAuto = "auto";

// Defaults, then the TOML file (if any), then flags. A resumed run (--resume DIR) starts from
// DIR/config.toml instead of the defaults; --resume auto is resolved to DIR or none. Unknown keys, values of the wrong type and values
// out of range throw InvalidArgument "[config] <file or flag>: ...". --epochs N set without
// --warmup-epochs or --decay-epochs scales those of the paper to N (optim::paper_schedule_for);
// `schedule_note`, when given, receives a line saying so (empty otherwise).
train::TrainConfig resolve_train_config(const TrainFlags& flags, std::string* schedule_note = nullptr);

// Parses TOML text into a configuration on top of `base`; `origin` names it in errors. `keys`,
// when given, collects the keys the text sets.
train::TrainConfig apply_toml(const train::TrainConfig& base, const std::string& toml_text, const std::string& origin,
                              std::set<std::string>* keys = nullptr);

// Every key with its value, as TOML that apply_toml reads back to the same configuration.
std::string to_toml(const train::TrainConfig& config);

}  // namespace bigbatch::cli
