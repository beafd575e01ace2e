// Column sums over rows (bias gradients: db += Σ_rows dy), as a parallel reduction. Device code
// only, for the .cu files that need it.
#pragma once

#include <cstdint>

#include "core/cuda/launch.cuh"

namespace trainer::cuda {

constexpr int kColumnTile = 32, kRowGroups = 32;

// A block takes 32 adjacent columns (a warp reads them coalesced from each row) and 32 groups of
// rows: thread (x, y) sums rows y, y + 32, ... of its column, and the 32 partial sums are then
// added in a fixed order. The result does not depend on the grid, and no atomics are needed.
template <class T, float (*Widen)(T)>
__global__ void column_sums_kernel(int64_t rows, int64_t cols, const T* dy, float* db) {
  __shared__ float part[kRowGroups][kColumnTile + 1];  // +1: no bank conflicts on the sum
  const int64_t c = int64_t{blockIdx.x} * kColumnTile + threadIdx.x;
  float s = 0.0f;
  if (c < cols)
    for (int64_t r = threadIdx.y; r < rows; r += kRowGroups) s += Widen(dy[r * cols + c]);
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float total = 0.0f;
    for (int g = 0; g < kRowGroups; ++g) total += part[g][threadIdx.x];
    db[c] += total;
  }
}

__device__ inline float widen_float(float v) { return v; }

// db(cols) += Σ_r dy(r, cols), dy in T (widened to float by Widen).
template <class T, float (*Widen)(T)>
void column_sums(int64_t rows, int64_t cols, const T* dy, float* db) {
  if (cols == 0) return;
  const dim3 block(kColumnTile, kRowGroups);
  const auto blocks = static_cast<unsigned>((cols + kColumnTile - 1) / kColumnTile);
  column_sums_kernel<T, Widen><<<blocks, block, 0, stream()>>>(rows, cols, dy, db);
  TRAINER_CHECK_LAUNCH();
}

}  // namespace trainer::cuda
