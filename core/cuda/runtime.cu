#include <cuda_runtime.h>

#include "core/cuda/runtime.cuh"

namespace trainer::cuda {

int device_count() {
  int n = 0;
  // No driver, or a machine without a GPU, is a normal answer here: zero devices.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return 0;
  }
  return n;
}

}  // namespace trainer::cuda
