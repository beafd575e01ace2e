// Reductions inside a kernel, shared by the kernels that combine a row's or a block's values:
// across the 32 lanes of a warp (a warp per row: layer norm, attention's softmax) and across the
// threads of a block (a block per row: the vocabulary-wide loss; a block's partial sum). Each
// combines in a fixed tree whose order depends on the warp or block size alone, so results are
// the same run after run. Device code only (.cu files).
#pragma once

#include <cstdint>

#include "core/cuda/launch.cuh"

namespace trainer::cuda {

constexpr int kWarp = 32;
// Kernels of one warp per row: rows per block of kThreads, and the blocks for `rows` rows.
constexpr int kRowsPerBlock = kThreads / kWarp;
inline unsigned warp_row_blocks(int64_t rows) {
  return static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
}

// The warp's lanes' values combined; every lane gets the result.
__device__ inline float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ inline float warp_max(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Σ a[i] b[i] over n elements of E's type (widened to float), split over the warp's lanes; every
// lane gets the result. Attention's backward takes a row's dy · y so, fused or not.
template <class E>
__device__ float warp_dot(const typename E::T* a, const typename E::T* b, int64_t n) {
  float dot = 0.0f;
  for (int64_t i = threadIdx.x % kWarp; i < n; i += kWarp) dot += E::get(a[i]) * E::get(b[i]);
  return warp_sum(dot);
}

struct AddOp {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
// The larger, as the CPU's `x > m ? x : m` keeps it (a NaN never replaces m).
struct MaxOp {
  __device__ float operator()(float a, float b) const { return b > a ? b : a; }
};

// The block's threads' values `v` combined by `op`; every thread gets the result. `shared` holds
// blockDim.x (a power of 2) values, free again on return.
template <class T, class Op>
__device__ T block_reduce(T v, T* shared, Op op) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (unsigned k = blockDim.x / 2; k > 0; k /= 2) {
    if (threadIdx.x < k) shared[threadIdx.x] = op(shared[threadIdx.x], shared[threadIdx.x + k]);
    __syncthreads();
  }
  const T out = shared[0];
  __syncthreads();
  return out;
}

}  // namespace trainer::cuda
