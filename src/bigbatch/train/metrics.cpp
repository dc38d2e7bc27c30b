#include "bigbatch/train/metrics.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bigbatch/core/error.h"

namespace bigbatch::train {

MetricsLog::MetricsLog(const std::string& path) : path_(path) {
  if (path.empty()) return;
  file_ = std::fopen(path.c_str(), "a");
  if (file_ == nullptr) BIGBATCH_THROW(Error, "[metrics] " << path << ": cannot open: " << std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void MetricsLog::write(const std::string& json_object) {
  if (file_ == nullptr) return;
  if (std::fputs(json_object.c_str(), file_) < 0 || std::fputc('\n', file_) == EOF || std::fflush(file_) != 0)
    BIGBATCH_THROW(Error, "[metrics] " << path_ << ": write failed: " << std::strerror(errno));
}

Progress::Progress(bool enabled, int64_t total_steps)
    : enabled_(enabled), tty_(isatty(STDERR_FILENO) == 1), total_(total_steps), start_(std::chrono::steady_clock::now()) {}

namespace {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "--:--";
  auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}

}  // namespace

void Progress::update(int64_t step, int64_t epoch, double loss, double lr, double img_per_s, double input_wait_s,
                      int64_t every) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (first_step_ < 0) {
    first_step_ = step - 1;
    start_ = now;
  }
  double elapsed = std::chrono::duration<double>(now - start_).count();
  int64_t done = step - first_step_;
  double eta = done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(total_ - step) : -1.0;
  char line[256];
  if (tty_) {
    constexpr int kWidth = 24;
    int filled = total_ > 0 ? static_cast<int>(kWidth * step / total_) : 0;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::snprintf(line, sizeof line, "\r[%s] %lld/%lld ep %lld loss %.4f lr %.4g %.0f img/s wait %.0f ms ETA %s ",
                  bar.c_str(), static_cast<long long>(step), static_cast<long long>(total_),
                  static_cast<long long>(epoch), loss, lr, img_per_s, 1e3 * input_wait_s, format_duration(eta).c_str());
    std::fputs(line, stderr);
    bar_drawn_ = true;
  } else if (step % every == 0 || step == total_) {
    std::snprintf(line, sizeof line, "step %lld/%lld epoch %lld loss %.4f lr %.4g %.0f img/s input wait %.0f ms ETA %s\n",
                  static_cast<long long>(step), static_cast<long long>(total_), static_cast<long long>(epoch), loss, lr,
                  img_per_s, 1e3 * input_wait_s, format_duration(eta).c_str());
    std::fputs(line, stderr);
  }
}

void Progress::message(const std::string& line) {
  if (!enabled_) return;
  if (bar_drawn_) std::fputs("\r\033[K", stderr);
  std::fputs(line.c_str(), stderr);
  std::fputc('\n', stderr);
}

void Progress::finish() {
  if (bar_drawn_) std::fputc('\n', stderr);
  bar_drawn_ = false;
}

}  // namespace bigbatch::train
