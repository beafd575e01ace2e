#include "launcher/device.h"

#include "core/allocator.h"
#include "core/error.h"
#ifdef TRAINER_HAS_CUDA
#include "core/cuda/runtime.cuh"
#endif

namespace trainer {

int visible_gpus() {
#ifdef TRAINER_HAS_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

static std::string gpus_text(int n) { return std::to_string(n) + " GPU" + (n == 1 ? "" : "s"); }

DeviceChoice choose_device(const std::string& device, const std::string& communicator, int gpus,
                           int local_ranks, int local_rank, const std::string& where_device,
                           const std::string& where_communicator) {
  DeviceChoice c;
  if (device == "cuda" && gpus == 0) {
#ifdef TRAINER_HAS_CUDA
    throw ConfigError(where_device +
                      ": device: cuda: no CUDA device is visible on this node; "
                      "use cpu or auto");
#else
    throw ConfigError(where_device +
                      ": device: cuda: this build has no CUDA backend (nvcc was not found when it "
                      "was built); use cpu or auto");
#endif
  }
  if (device == "cpu" || gpus == 0) {
    if (communicator == "nccl")
      throw ConfigError(where_communicator +
                        ": parallel.communicator: nccl needs device cuda; this run trains on the "
                        "CPU; use mpi or auto");
    return c;
  }
  c.device = "cuda";
  c.gpu = local_rank % gpus;
  const bool shared = local_ranks > gpus;
  if (communicator == "nccl" && shared)
    throw ConfigError(where_communicator +
                      ": parallel.communicator: nccl: " + std::to_string(local_ranks) +
                      " ranks on this node share its " + gpus_text(gpus) +
                      "; NCCL needs one GPU per rank; start at most that many ranks per node, "
                      "or use mpi or auto");
  c.communicator = communicator == "mpi" || (communicator == "auto" && shared) ? "mpi" : "nccl";
  if (communicator == "auto" && shared && local_rank == 0)
    c.note = std::to_string(local_ranks) + " ranks share " + gpus_text(gpus) +
             " on this node: gradients go over MPI through host memory (NCCL needs one GPU per "
             "rank)";
  return c;
}

std::string gpu_name([[maybe_unused]] int index) {
#ifdef TRAINER_HAS_CUDA
  return cuda::device_name(index);
#else
  return "";
#endif
}

size_t device_memory_bytes([[maybe_unused]] const std::string& device, [[maybe_unused]] int gpu) {
#ifdef TRAINER_HAS_CUDA
  if (device == "cuda") {
    cuda::set_device(gpu);
    return cuda::total_memory();
  }
#endif
  return physical_memory_bytes();
}

Device select_device(const std::string& device, int gpu) {
  if (device != "cuda") return Device::cpu();
#ifdef TRAINER_HAS_CUDA
  cuda::set_device(gpu);
#endif
  return Device::cuda(gpu);
}

}  // namespace trainer
