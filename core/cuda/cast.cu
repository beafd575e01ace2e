#include "core/cuda/cast.cuh"
#include "core/cuda/launch.cuh"
#include "core/half.h"

namespace trainer::cuda {

// The CPU twin's conversion functions (core/half.h), one element per thread.
template <class From, class To, To (*Convert)(From)>
__global__ void convert_kernel(int64_t n, const From* src, To* dst) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x)
    dst[i] = Convert(src[i]);
}

template <class From, class To, To (*Convert)(From)>
static void convert(int64_t n, const From* src, To* dst) {
  if (n == 0) return;
  launch(convert_kernel<From, To, Convert>, blocks_for(n), kThreads, 0, n, src, dst);
}

void f32_to_f16(int64_t n, const float* src, uint16_t* dst) {
  convert<float, uint16_t, float_to_f16>(n, src, dst);
}
void f16_to_f32(int64_t n, const uint16_t* src, float* dst) {
  convert<uint16_t, float, f16_to_float>(n, src, dst);
}
void f32_to_bf16(int64_t n, const float* src, uint16_t* dst) {
  convert<float, uint16_t, float_to_bf16>(n, src, dst);
}
void bf16_to_f32(int64_t n, const uint16_t* src, float* dst) {
  convert<uint16_t, float, bf16_to_float>(n, src, dst);
}

}  // namespace trainer::cuda
