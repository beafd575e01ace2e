// The host emulation's stand-in for CUB's header (see device_radix_sort.cuh here): an exclusive
// prefix sum of int32 values, on the host.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace cub {

struct DeviceScan {
  static cudaError_t ExclusiveSum(void* temp, size_t& temp_bytes, const int32_t* in, int32_t* out,
                                  int n, cudaStream_t) {
    if (!temp) {
      temp_bytes = 1;
      return cudaSuccess;
    }
    int32_t sum = 0;
    for (int i = 0; i < n; ++i) {
      out[i] = sum;
      sum += in[i];
    }
    return cudaSuccess;
  }
};

}  // namespace cub
