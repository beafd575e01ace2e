// The host emulation's stand-in for CUB's header (see device_radix_sort.cuh here): run-length
// encoding of int32 values, on the host.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace cub {

struct DeviceRunLengthEncode {
  static cudaError_t Encode(void* temp, size_t& temp_bytes, const int32_t* in, int32_t* unique,
                            int32_t* counts, int32_t* runs, int n, cudaStream_t) {
    if (!temp) {
      temp_bytes = 1;
      return cudaSuccess;
    }
    int32_t r = 0;
    for (int i = 0; i < n; ++i) {
      if (i == 0 || in[i] != in[i - 1]) {
        unique[r] = in[i];
        counts[r++] = 0;
      }
      ++counts[r - 1];
    }
    *runs = r;
    return cudaSuccess;
  }
};

}  // namespace cub
