#include "launcher/device.h"

#include "core/error.h"
#ifdef TRAINER_HAS_CUDA
#include "core/cuda/runtime.cuh"
#endif

namespace trainer {

static int visible_gpus() {
#ifdef TRAINER_HAS_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

DeviceChoice choose_device(const std::string& requested, const std::string& where) {
  const int gpus = visible_gpus();
  const std::string found =
      std::to_string(gpus) + " CUDA device" + (gpus == 1 ? "" : "s") + " found";
  if (requested == "cuda")
    throw ConfigError(where + ": device: cuda: training on CUDA is not in this version yet (" +
                      found + "); use cpu or auto");
  DeviceChoice c{"cpu", ""};
  if (requested == "auto" && gpus > 0) c.note = found + "; this version trains on the CPU";
  return c;
}

}  // namespace trainer
