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
  return g;
}

ProcessGrid ProcessGrid::split(std::unique_ptr<MpiCommunicator> world, int pipeline, bool nccl,
                               [[maybe_unused]] double timeout_s) {
  ProcessGrid g;
  g.pipeline_size = pipeline;
  g.data_size = world->size() / pipeline;
  const GridPlace place = place_of(world->rank(), pipeline);
  g.stage = place.stage;
  g.data_rank = place.data_rank;
  std::unique_ptr<MpiCommunicator> data = world->split(g.stage);
#ifdef TRAINER_HAS_CUDA
  if (nccl && g.data_size > 1)
    g.data = std::make_unique<NcclCommunicator>(std::move(data), timeout_s);
  else
    g.data = std::move(data);
#else
  if (nccl) throw std::logic_error("NCCL asked of a build without CUDA");
  g.data = std::move(data);
#endif
  g.pipeline = world->split(g.data_rank);
  g.world = std::move(world);
  return g;
}

}  // namespace trainer
