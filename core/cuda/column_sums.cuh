// Column sums over rows (bias gradients: db += Σ_rows dy; a layer norm's weight gradients), as a
// parallel reduction. Device code only, for the .cu files that need it.
#pragma once

#include <cstdint>

#include "core/cuda/element.cuh"
#include "core/cuda/launch.cuh"

namespace trainer::cuda {

constexpr int kColumnTile = 32, kRowGroups = 32;

// out[c] += Σ_r term(r, c). A block takes 32 adjacent columns (a warp reads them coalesced from
// each row) and 32 groups of rows: thread (x, y) sums rows y, y + 32, ... of its column, and the
// 32 partial sums are then added in a fixed order. The result does not depend on the grid, and
// no atomics are needed.
template <class Term>
__global__ void column_reduce_kernel(int64_t rows, int64_t cols, Term term, float* out) {
  __shared__ float part[kRowGroups][kColumnTile + 1];  // +1: no bank conflicts on the sum
  const int64_t c = int64_t{blockIdx.x} * kColumnTile + threadIdx.x;
  float s = 0.0f;
  if (c < cols)
    for (int64_t r = threadIdx.y; r < rows; r += kRowGroups) s += term(r, c);
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float total = 0.0f;
    for (int g = 0; g < kRowGroups; ++g) total += part[g][threadIdx.x];
    out[c] += total;
  }
}

template <class Term>
void column_reduce(int64_t rows, int64_t cols, const Term& term, float* out) {
  if (cols == 0) return;
  const dim3 block(kColumnTile, kRowGroups);
  const auto blocks = static_cast<unsigned>((cols + kColumnTile - 1) / kColumnTile);
  launch(column_reduce_kernel<Term>, blocks, block, 0, rows, cols, term, out);
}

// An element of dy(rows, cols), widened to float (element.cuh).
template <class E>
struct ElementOf {
  const typename E::T* dy;
  int64_t cols;
  __device__ float operator()(int64_t r, int64_t c) const { return E::get(dy[r * cols + c]); }
};

// db(cols) += Σ_r dy(r, cols), dy's elements of type E.
template <class E>
void column_sums(int64_t rows, int64_t cols, const typename E::T* dy, float* db) {
  column_reduce(rows, cols, ElementOf<E>{dy, cols}, db);
}

}  // namespace trainer::cuda
