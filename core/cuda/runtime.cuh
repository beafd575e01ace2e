// Host-callable queries of the CUDA runtime. Built only where nvcc is found (TRAINER_HAS_CUDA).
#pragma once

namespace trainer::cuda {

// Visible CUDA devices; 0 when there is no driver or no device.
int device_count();

}  // namespace trainer::cuda
