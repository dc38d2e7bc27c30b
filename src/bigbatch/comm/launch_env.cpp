// Whether a launcher started this process, and how many of its ranks share this machine, from
// the variables each launcher sets for its ranks.
#include <algorithm>
#include <cstdlib>

#include "bigbatch/comm/mpi_comm.h"

namespace bigbatch::comm {

bool launched_by_mpi() {
  // Open MPI's mpirun, PMI/PMIx launchers (MPICH's hydra, Intel MPI, srun --mpi=pmi2/pmix)
  // and Slurm. SLURM_NTASKS is also set in a batch script outside srun; a false positive
  // costs only a singleton MPI_Init (size 1), a false negative would run k copies of rank 0.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_NTASKS"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

int local_ranks() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE", "MPI_LOCALNRANKS"})
    if (const char* value = std::getenv(name)) return std::max(1, std::atoi(value));
  return 1;
}

}  // namespace bigbatch::comm
