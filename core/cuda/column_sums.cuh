// Column sums over rows (bias gradients: db += Σ_rows dy; a layer norm's weight gradients) and
// channel sums over planes (a convolution's bias gradient), as parallel reductions. Device code
// only, for the .cu files that need it.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/cuda/element.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/reduce.cuh"
#include "core/cuda/scratch.cuh"

namespace trainer::cuda {

constexpr int kColumnTile = 32, kRowGroups = 8;
// Rows each thread sums at least, before a split of the rows is worth another block.
constexpr int64_t kRowsPerThread = 4;

// How many pieces `rows` rows are cut into when `across` blocks already span the width and
// `threads` threads of a block share a piece: enough blocks in all to fill the GPU (blocks_for's
// 132 SMs x 8), each thread summing at least kRowsPerThread rows. A function of the shape alone,
// so a shape's sums are the same bits on every run and every GPU.
inline int64_t row_pieces(int64_t rows, int64_t across, int64_t threads) {
  const int64_t wanted = (132 * 8 + across - 1) / across;
  return std::max<int64_t>(1, std::min(wanted, rows / (threads * kRowsPerThread)));
}

// The column reduction's pieces: its blocks span 32 columns each, 8 row groups a block.
inline int64_t column_row_splits(int64_t rows, int64_t cols) {
  return row_pieces(rows, (cols + kColumnTile - 1) / kColumnTile, kRowGroups);
}

// Block (x, s) takes 32 adjacent columns (a warp reads them coalesced from each row) and piece s
// of the rows, which its 8 row groups share: thread (x, y) sums rows y, y + 8, ... of the piece
// in its column, and the 8 partial sums are added in a fixed order into out[s * cols + c], or
// added to out[c] when the rows are one piece. No atomics: the order of every addition depends
// on the shape only.
template <class Term>
__global__ void column_reduce_kernel(int64_t rows, int64_t cols, int64_t piece, Term term,
                                     float* out) {
  __shared__ float part[kRowGroups][kColumnTile + 1];  // +1: no bank conflicts on the sum
  const int64_t c = int64_t{blockIdx.x} * kColumnTile + threadIdx.x;
  const int64_t begin = int64_t{blockIdx.y} * piece;
  const int64_t end = begin + piece < rows ? begin + piece : rows;
  float s = 0.0f;
  if (c < cols)
    for (int64_t r = begin + threadIdx.y; r < end; r += kRowGroups) s += term(r, c);
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float total = 0.0f;
    for (int g = 0; g < kRowGroups; ++g) total += part[g][threadIdx.x];
    if (gridDim.y == 1)
      out[c] += total;
    else
      out[int64_t{blockIdx.y} * cols + c] = total;
  }
}

// out[c] += the pieces' sums of column c, in piece order.
static __global__ void add_row_pieces_kernel(int64_t pieces, int64_t cols, const float* part,
                                             float* out) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < cols;
       c += int64_t{gridDim.x} * blockDim.x) {
    float total = 0.0f;
    for (int64_t s = 0; s < pieces; ++s) total += part[s * cols + c];
    out[c] += total;
  }
}

// Runs `pieces_kernel(out)`, which writes each piece's sums of `cols` columns: into out itself
// (added) when there is one piece, else into a scratch block of pieces x cols whose sums the
// second pass then adds to out, in piece order.
template <class PiecesKernel>
void reduce_pieces(int64_t pieces, int64_t cols, float* out, const PiecesKernel& pieces_kernel) {
  if (pieces == 1) return pieces_kernel(out);
  const Scratch part(static_cast<size_t>(pieces * cols) * sizeof(float));
  pieces_kernel(part.get<float>());
  launch(add_row_pieces_kernel, blocks_for(cols), kThreads, 0, pieces, cols, part.get<float>(),
         out);
}

// out[c] += Σ_r term(r, c), as a parallel reduction over the rows and the columns.
template <class Term>
void column_reduce(int64_t rows, int64_t cols, const Term& term, float* out) {
  if (cols == 0) return;
  const int64_t pieces = column_row_splits(rows, cols);
  const int64_t piece = (rows + pieces - 1) / pieces;
  const dim3 grid(static_cast<unsigned>((cols + kColumnTile - 1) / kColumnTile),
                  static_cast<unsigned>(pieces));
  reduce_pieces(pieces, cols, out, [&](float* sums) {
    launch(column_reduce_kernel<Term>, grid, dim3(kColumnTile, kRowGroups), 0, rows, cols, piece,
           term, sums);
  });
}

// Channel sums of x(N, C, P) (a convolution's bias gradient, NCHW): block (c, s) sums piece s of
// channel c's N x P elements, its threads on adjacent positions (coalesced, where a column
// reduction over (N x P, C) would read each channel's plane P elements apart), then joins them
// in a fixed tree.
template <class E>
__global__ void plane_reduce_kernel(int64_t N, int64_t C, int64_t P, int64_t piece,
                                    const typename E::T* x, float* out) {
  __shared__ float shared[kThreads];
  const int64_t c = blockIdx.x, begin = int64_t{blockIdx.y} * piece;
  const int64_t end = begin + piece < N * P ? begin + piece : N * P;
  float s = 0.0f;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    s += E::get(x[((i / P) * C + c) * P + i % P]);
  s = block_reduce(s, shared, AddOp{});
  if (threadIdx.x == 0) {
    if (gridDim.y == 1)
      out[c] += s;
    else
      out[int64_t{blockIdx.y} * C + c] = s;
  }
}

// out[c] += Σ_n Σ_p x(n, c, p), x's elements of type E.
template <class E>
void plane_sums(int64_t N, int64_t C, int64_t P, const typename E::T* x, float* out) {
  if (C == 0) return;
  const int64_t per_channel = N * P;
  const int64_t pieces = row_pieces(per_channel, C, kThreads);  // a block per channel across
  const int64_t piece = (per_channel + pieces - 1) / pieces;
  const dim3 grid(static_cast<unsigned>(C), static_cast<unsigned>(pieces));
  reduce_pieces(pieces, C, out, [&](float* sums) {
    launch(plane_reduce_kernel<E>, grid, kThreads, 0, N, C, P, piece, x, sums);
  });
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
