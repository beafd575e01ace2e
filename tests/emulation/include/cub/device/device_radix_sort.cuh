// The host emulation's stand-in for CUB's header (tests/emulation/emulated_backend.h puts this
// folder first on the include path of the emulated kernels' test): core/cuda/embedding.cu's one
// use, a stable sort of int32 key-value pairs by key, on the host.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

namespace cub {

struct DeviceRadixSort {
  // With no temp storage, says how much it needs (a byte); then sorts, stably, as CUB's radix
  // sort does.
  static cudaError_t SortPairs(void* temp, size_t& temp_bytes, const int32_t* keys_in,
                               int32_t* keys_out, const int32_t* values_in, int32_t* values_out,
                               int n, int, int, cudaStream_t) {
    if (!temp) {
      temp_bytes = 1;
      return cudaSuccess;
    }
    std::vector<int> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return keys_in[a] < keys_in[b]; });
    for (int i = 0; i < n; ++i) {
      keys_out[i] = keys_in[order[i]];
      values_out[i] = values_in[order[i]];
    }
    return cudaSuccess;
  }
};

}  // namespace cub
