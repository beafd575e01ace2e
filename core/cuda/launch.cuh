// What every kernel file of the backend shares: the compute stream and a grid for n elements.
// Device code only (.cu files).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/check.h"
#include "core/cuda/runtime.cuh"

namespace trainer::cuda {

inline cudaStream_t stream() { return static_cast<cudaStream_t>(compute_stream()); }

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements: enough to fill an H100 (132 SMs x 8 blocks),
// never more than the work needs.
inline unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(
      std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, 132 * 8)));
}

// A launch's configuration errors surface at the launch, not at a later synchronisation.
#define TRAINER_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

}  // namespace trainer::cuda
