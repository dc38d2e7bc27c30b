#include "bigbatch/core/threading.h"

#include <omp.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <ostream>
#include <sstream>

#include "bigbatch/core/error.h"

namespace bigbatch {

void set_num_threads(int threads) {
  BIGBATCH_CHECK(threads >= 1, "[threads] expected a thread count >= 1, got " << threads);
  omp_set_num_threads(threads);
}

int num_threads() { return omp_get_max_threads(); }

namespace {

int online_cores() { return std::max(1, static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN))); }

}  // namespace

int usable_cores() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof(mask), &mask) != 0) return online_cores();
  return std::max(1, CPU_COUNT(&mask));
}

int share_cores(int mask_cores, int machine_cores, int local_ranks) {
  const int ranks = std::max(1, local_ranks);
  if (mask_cores < machine_cores) return std::max(1, mask_cores);  // bound by the launcher
  return std::max(1, mask_cores / ranks);
}

ThreadChoice choose_threads(int requested, int local_ranks) {
  BIGBATCH_CHECK(requested >= 0, "[threads] expected a thread count >= 0 (0 = the usable cores), got " << requested);
  ThreadChoice choice;
  choice.cores = share_cores(usable_cores(), online_cores(), local_ranks);
  const char* omp = std::getenv("OMP_NUM_THREADS");
  if (requested > 0) {
    choice.threads = requested;
  } else if (omp != nullptr && *omp != '\0') {
    choice.threads = omp_get_max_threads();  // the user's choice, as OpenMP parsed it
  } else {
    choice.threads = choice.cores;
  }
  if (requested > choice.cores) {
    std::ostringstream warning;
    warning << "--threads " << requested << " is more than the " << choice.cores << " core"
            << (choice.cores == 1 ? "" : "s") << " this process may use";
    if (local_ranks > 1) warning << " (its share among " << local_ranks << " ranks on this machine)";
    warning << ": each step will be slower; leave --threads unset to use " << choice.cores;
    choice.warning = warning.str();
  }
  return choice;
}

int use_threads(int requested, int local_ranks, std::ostream* warn) {
  const ThreadChoice choice = choose_threads(requested, local_ranks);
  set_num_threads(choice.threads);
  static std::once_flag warned;
  if (warn != nullptr && !choice.warning.empty())
    std::call_once(warned, [&] { *warn << "bigbatch: warning: " << choice.warning << std::endl; });
  return choice.threads;
}

}  // namespace bigbatch
