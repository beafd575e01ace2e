// Who this process is in the job, from the launcher's environment variables.
//
// Open MPI (mpirun): OMPI_COMM_WORLD_RANK / _LOCAL_RANK / _SIZE / _LOCAL_SIZE; Slurm (srun):
// SLURM_PROCID / SLURM_LOCALID / SLURM_NTASKS; PMI: PMI_RANK / PMI_SIZE. With none of them,
// one process. Known before MPI starts, so every rank can validate its config first.
#pragma once

#include <string>

namespace trainer {

struct Environment {
  int rank = 0, local_rank = 0, world = 1, local_world = 1;
  std::string launcher = "none";  // "mpirun", "srun", "pmi" or "none"
  bool distributed() const { return world > 1; }
};

Environment discover_environment();

}  // namespace trainer
