#include "parallel/process_grid.h"

#include "parallel/mpi_communicator.h"

namespace trainer {

ProcessGrid ProcessGrid::single() {
  ProcessGrid g;
  g.world = std::make_unique<SelfCommunicator>();
  g.data = std::make_unique<SelfCommunicator>();
  g.pipeline = std::make_unique<SelfCommunicator>();
  return g;
}

ProcessGrid ProcessGrid::split(std::unique_ptr<MpiCommunicator> world, int pipeline) {
  ProcessGrid g;
  g.pipeline_size = pipeline;
  g.data_size = world->size() / pipeline;
  g.stage = world->rank() % pipeline;
  g.data_rank = world->rank() / pipeline;
  g.data = world->split(g.stage);
  g.pipeline = world->split(g.data_rank);
  g.world = std::move(world);
  return g;
}

}  // namespace trainer
