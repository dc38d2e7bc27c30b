// Whether a launcher started this process, from the variables each one sets for its ranks.
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

}  // namespace bigbatch::comm
