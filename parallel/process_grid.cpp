#include "parallel/process_grid.h"

#include <stdexcept>

#include "parallel/mpi_communicator.h"
#ifdef TRAINER_HAS_CUDA
#include "parallel/nccl_communicator.h"
#endif

namespace trainer {

ProcessGrid ProcessGrid::single() {
  ProcessGrid g;
  g.world = std::make_unique<SelfCommunicator>();
  g.data = std::make_unique<SelfCommunicator>();
  g.pipeline = std::make_unique<SelfCommunicator>();
  g.tensor = std::make_unique<SelfCommunicator>();
  return g;
}

// An axis's group: over NCCL when asked and the group has peers, over MPI otherwise.
static std::unique_ptr<Communicator> axis(std::unique_ptr<MpiCommunicator> group, bool nccl,
                                          [[maybe_unused]] double timeout_s) {
#ifdef TRAINER_HAS_CUDA
  if (nccl && group->size() > 1)
    return std::make_unique<NcclCommunicator>(std::move(group), timeout_s);
#else
  if (nccl) throw std::logic_error("NCCL asked of a build without CUDA");
#endif
  return group;
}

ProcessGrid ProcessGrid::split(std::unique_ptr<MpiCommunicator> world, int pipeline, bool nccl,
                               double timeout_s, int tensor) {
  ProcessGrid g;
  g.pipeline_size = pipeline;
  g.tensor_size = tensor;
  g.data_size = world->size() / (pipeline * tensor);
  const GridPlace place = place_of(world->rank(), pipeline, tensor);
  g.stage = place.stage;
  g.data_rank = place.data_rank;
  g.tensor_rank = place.tensor_rank;
  // Each split's colour is the rank's coordinates on the two other axes.
  g.data = axis(world->split(g.stage * tensor + g.tensor_rank), nccl, timeout_s);
  g.tensor = axis(world->split(g.data_rank * pipeline + g.stage), nccl, timeout_s);
  g.pipeline = world->split(g.data_rank * tensor + g.tensor_rank);
  g.world = std::move(world);
  return g;
}

}  // namespace trainer
