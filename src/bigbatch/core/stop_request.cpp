#include "bigbatch/core/stop_request.h"

#include <unistd.h>

#include <atomic>
#include <csignal>

namespace bigbatch {

namespace {

std::atomic<int> g_requested{0};  // lock-free, so the handler may touch it
static_assert(std::atomic<int>::is_always_lock_free);

void write_stderr(const char* text, size_t size) {
  // write(2) is async-signal-safe; a short write to a terminal or pipe is not worth a retry.
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, text, size);
}

void on_stop_signal(int signal) {
  if (g_requested.exchange(signal) != 0) {
    static constexpr char kNow[] = "bigbatch: a second signal: stopping at once, without a checkpoint\n";
    write_stderr(kNow, sizeof kNow - 1);
    ::_exit(128 + signal);
  }
  static constexpr char kSoon[] =
      "bigbatch: stop requested: finishing this step and writing a checkpoint (signal again to stop at once)\n";
  write_stderr(kSoon, sizeof kSoon - 1);
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // reads and writes in flight carry on; the step loop polls
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

void remove_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

int stop_requested() { return g_requested.load(); }

void set_stop_request(int signal) { g_requested.store(signal); }

const char* stop_signal_name(int signal) {
  switch (signal) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    default:
      return "a signal";
  }
}

}  // namespace bigbatch
