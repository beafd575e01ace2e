#include "parallel/environment.h"

#include <cstdlib>
#include <string>

namespace trainer {

static int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

static bool has(const char* name) { return std::getenv(name) != nullptr; }

Environment discover_environment() {
  Environment e;
  if (has("OMPI_COMM_WORLD_RANK")) {
    e.launcher = "mpirun";
    e.rank = env_int("OMPI_COMM_WORLD_RANK", 0);
    e.world = env_int("OMPI_COMM_WORLD_SIZE", 1);
    e.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0);
    e.local_world = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
  } else if (has("SLURM_PROCID") && has("SLURM_NTASKS")) {
    e.launcher = "srun";
    e.rank = env_int("SLURM_PROCID", 0);
    e.world = env_int("SLURM_NTASKS", 1);
    e.local_rank = env_int("SLURM_LOCALID", 0);
    e.local_world = env_int("SLURM_NTASKS_PER_NODE", env_int("SLURM_TASKS_PER_NODE", 1));
  } else if (has("PMI_RANK")) {
    e.launcher = "pmi";
    e.rank = env_int("PMI_RANK", 0);
    e.world = env_int("PMI_SIZE", 1);
    e.local_rank = env_int("MPI_LOCALRANKID", 0);
    e.local_world = env_int("MPI_LOCALNRANKS", 1);
  }
  return e;
}

}  // namespace trainer
