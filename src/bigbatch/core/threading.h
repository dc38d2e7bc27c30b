// The number of compute threads used by oneDNN and the reference loops (OpenMP), and the default
// that fits the cores this process may use.
#pragma once

#include <iosfwd>
#include <string>

namespace bigbatch {

void set_num_threads(int threads);  // threads >= 1; throws InvalidArgument otherwise
int num_threads();

// The cores this process may run on: its CPU affinity mask (taskset, cgroups' cpusets, a
// launcher's binding), or every online core where the mask cannot be read.
int usable_cores();

// The rule behind the default: ranks of one machine that all see the whole machine share it;
// a rank whose mask is narrower was bound to its cores by the launcher and keeps them.
int share_cores(int mask_cores, int machine_cores, int local_ranks);

struct ThreadChoice {
  int threads = 1;
  int cores = 1;         // the cores this rank may use (share_cores of its mask)
  std::string warning;   // non-empty when an explicit count is above `cores`
};

// `requested` > 0 is taken as given (with a warning above the cores); 0 means OMP_NUM_THREADS
// where it is set, else this rank's share of the usable cores.
ThreadChoice choose_threads(int requested, int local_ranks);

// choose_threads, given to OpenMP; its warning goes to `warn` (when not null) once per process.
// Returns the thread count.
int use_threads(int requested, int local_ranks, std::ostream* warn);

}  // namespace bigbatch
