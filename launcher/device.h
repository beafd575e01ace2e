// Which device this rank trains on, and which communicator carries its gradients, from the
// config's `device` and `parallel.communicator` keys and what this node has.
#pragma once

#include <string>

#include "core/tensor.h"

namespace trainer {

struct DeviceChoice {
  std::string device = "cpu";        // "cpu" or "cuda"
  int gpu = -1;                      // cuda: this rank's GPU, its local rank mod the node's GPUs
  std::string communicator = "mpi";  // data-parallel gradients: "mpi" or "nccl"
  std::string note;                  // said once at start when non-empty
};

// CUDA devices this process sees (0 in a build without CUDA).
int visible_gpus();

// device: auto -> cuda when this node has a GPU, else cpu; cuda without one is a ConfigError.
// communicator: auto -> nccl on cuda with at most one rank per GPU on this node, else mpi (GPU
// buffers staged through host memory); nccl without cuda, or with more ranks on the node than
// GPUs, is a ConfigError. `gpus`: the node's visible GPUs; `local_ranks` and `local_rank`: this
// node's ranks and this rank among them; `where_*`: the keys' locations for the errors.
DeviceChoice choose_device(const std::string& device, const std::string& communicator, int gpus,
                           int local_ranks, int local_rank, const std::string& where_device,
                           const std::string& where_communicator);

// The name of GPU `index` ("NVIDIA H100 80GB HBM3"), for the run's summary.
std::string gpu_name(int index);

// The memory of the device a run trains on: GPU `gpu`'s for "cuda", the machine's for "cpu".
size_t device_memory_bytes(const std::string& device, int gpu);

// Makes this process use `gpu` (for "cuda") and returns the Device that tensors go to.
Device select_device(const std::string& device, int gpu);

}  // namespace trainer
