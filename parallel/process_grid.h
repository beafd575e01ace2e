// The job's ranks as a grid: world = data x pipeline.
//
// Rank r is pipeline stage r % pipeline of data replica r / pipeline. Each axis has its own
// communicator: `data` joins the ranks that hold the same stage (they average gradients),
// `pipeline` the stages of one replica (they pass activations).
#pragma once

#include <memory>

#include "parallel/communicator.h"

namespace trainer {

class MpiCommunicator;

// Where world rank `rank` sits in a grid of `pipeline` stages: the one place that says it.
struct GridPlace {
  int stage, data_rank;
};
inline GridPlace place_of(int rank, int pipeline) { return {rank % pipeline, rank / pipeline}; }

struct ProcessGrid {
  int data_size = 1, pipeline_size = 1;
  int data_rank = 0, stage = 0;
  std::unique_ptr<Communicator> world, data, pipeline;

  // One process: every communicator is the identity.
  static ProcessGrid single();
  // Splits the MPI world; world->size() must equal data x pipeline (checked by the config).
  // nccl: the data axis all-reduces GPU gradients over NCCL (a CUDA build), with `timeout_s`.
  static ProcessGrid split(std::unique_ptr<MpiCommunicator> world, int pipeline, bool nccl = false,
                           double timeout_s = 300);
};

}  // namespace trainer
