// What every kernel file of the backend shares: the compute stream, a grid for n elements, and
// the one way to launch a kernel.
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

#ifdef __CUDACC__
// kernel<<<grid, block, shared_bytes, stream()>>>(args...), its configuration errors surfacing
// here, not at a later synchronisation. Every kernel file launches through it, so that the
// tests' host emulation (tests/emulation/) can run those files as they are, with its own launch.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, Args... args) {
  kernel<<<grid, block, shared_bytes, stream()>>>(args...);
  CUDA_CHECK(cudaGetLastError());
}

// A kernel that asks for more than the default 48 KiB of dynamic shared memory says so first.
template <class... Params>
void allow_shared_memory(void (*kernel)(Params...), size_t bytes) {
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(bytes)));
}
#endif

}  // namespace trainer::cuda
