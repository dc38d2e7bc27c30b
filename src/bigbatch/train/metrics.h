// The run's record and its face: metrics as JSON lines (metrics.jsonl, one object per logged
// iteration or epoch) and progress on stderr (a bar on a terminal, plain lines otherwise).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace bigbatch::train {

class MetricsLog {
 public:
  // Appends to path (a resumed run continues its file); an empty path logs nothing.
  explicit MetricsLog(const std::string& path);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // One line; json_object must be a serialised JSON object. Flushed at once, so a crash
  // loses nothing already logged.
  void write(const std::string& json_object);

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
};

class Progress {
 public:
  Progress(bool enabled, int64_t total_steps);
  // Redraws the bar (terminal) or prints a line every `every` steps (pipe, log file).
  // input_wait_s: seconds per step spent waiting for the data loader (0 when it keeps up).
  void update(int64_t step, int64_t epoch, double loss, double lr, double img_per_s, double input_wait_s,
              int64_t every);
  void message(const std::string& line);  // a line of its own, keeping the bar intact
  void finish();

 private:
  bool enabled_, tty_;
  int64_t total_;
  int64_t first_step_ = -1;
  std::chrono::steady_clock::time_point start_;
  bool bar_drawn_ = false;
};

}  // namespace bigbatch::train
