// The job's ranks as a grid: world = data x pipeline x tensor.
//
// Tensor ranks are adjacent (the GPUs of one node, which split every layer and talk after each
// one), then pipeline stages, then data replicas: rank r is tensor rank r % T of stage
// (r / T) % P of replica r / (T P). Each axis has its own communicator: `tensor` joins the
// ranks that split the same layers, `pipeline` the stages of one replica that hold the same
// tensor slice (they pass activations), `data` the ranks holding the same slice of the same
// stage (they average gradients).
#pragma once

#include <memory>

#include "parallel/communicator.h"

namespace trainer {

class MpiCommunicator;

// Where world rank `rank` sits in a grid of `pipeline` stages of `tensor` ranks each: the one
// place that says it.
struct GridPlace {
  int stage, data_rank, tensor_rank;
};
inline GridPlace place_of(int rank, int pipeline, int tensor = 1) {
  return {(rank / tensor) % pipeline, rank / (tensor * pipeline), rank % tensor};
}

struct ProcessGrid {
  int data_size = 1, pipeline_size = 1, tensor_size = 1;
  int data_rank = 0, stage = 0, tensor_rank = 0;
  std::unique_ptr<Communicator> world, data, pipeline, tensor;

  // One process: every communicator is the identity.
  static ProcessGrid single();
  // Splits the MPI world; world->size() must equal data x pipeline x tensor (checked by the
  // config). nccl: the data and tensor axes communicate GPU buffers over NCCL (a CUDA build),
  // with `timeout_s`.
  static ProcessGrid split(std::unique_ptr<MpiCommunicator> world, int pipeline, bool nccl = false,
                           double timeout_s = 300, int tensor = 1);
};

}  // namespace trainer
