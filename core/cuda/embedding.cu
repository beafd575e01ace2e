#include <algorithm>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_run_length_encode.cuh>
#include <cub/device/device_scan.cuh>

#include "core/cuda/embedding.cuh"
#include "core/cuda/launch.cuh"
#include "core/cuda/scratch.cuh"

namespace trainer::cuda {

__global__ void embedding_forward_kernel(int64_t N, int64_t T, int64_t C, const int32_t* tokens,
                                         const float* wte, cpu::VocabRows vocab, const float* wpe,
                                         float* y) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < N * T * C;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = i / C, c = i % C, token = tokens[row];
    const bool held = token >= vocab.begin && token < vocab.begin + vocab.rows;
    y[i] =
        (held ? wte[(token - vocab.begin) * C + c] : 0.0f) + (wpe ? wpe[(row % T) * C + c] : 0.0f);
  }
}

// dwpe(t, c) += dy(n, t, c) for n = 0, 1, ...: one thread per (t, c), in the CPU twin's order.
__global__ void position_grad_kernel(int64_t N, int64_t T, int64_t C, const float* dy,
                                     float* dwpe) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < T * C;
       i += int64_t{gridDim.x} * blockDim.x) {
    float acc = dwpe[i];
    for (int64_t n = 0; n < N; ++n) acc += dy[n * T * C + i];
    dwpe[i] = acc;
  }
}

__global__ void iota_kernel(int64_t n, int32_t* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x)
    out[i] = static_cast<int32_t>(i);
}

// The positions of each distinct token, in position order: run r holds token unique[r] at
// positions[offsets[r] .. offsets[r] + counts[r]).
struct TokenRuns {
  const int32_t *unique, *counts, *offsets, *positions;
  const int32_t* runs;  // how many (on the device)
};

// One block per distinct token adds its positions' rows of dy into its row of dwte, in position
// order: the CPU twin's order, so the sums agree bit for bit, and no atomics are needed.
__global__ void token_grad_kernel(TokenRuns runs, int64_t C, const float* dy, float* dwte,
                                  cpu::VocabRows vocab) {
  for (int32_t r = blockIdx.x; r < *runs.runs; r += gridDim.x) {
    const int64_t token = runs.unique[r];
    if (token < vocab.begin || token >= vocab.begin + vocab.rows) continue;
    const int32_t* pos = runs.positions + runs.offsets[r];
    float* row = dwte + (token - vocab.begin) * C;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
      float acc = row[c];
      for (int32_t k = 0; k < runs.counts[r]; ++k) acc += dy[int64_t{pos[k]} * C + c];
      row[c] = acc;
    }
  }
}

void embedding_forward(int64_t N, int64_t T, int64_t C, const int32_t* tokens, const float* wte,
                       cpu::VocabRows vocab, const float* wpe, float* y) {
  if (N * T * C == 0) return;
  launch(embedding_forward_kernel, blocks_for(N * T * C), kThreads, 0, N, T, C, tokens, wte, vocab,
         wpe, y);
}

// Positions grouped by token with a stable radix sort (each token's positions stay in order),
// then run-length encoded: the token gradient becomes one independent sum per distinct token.
void embedding_backward(int64_t N, int64_t T, int64_t C, const int32_t* tokens, const float* dy,
                        float* dwte, cpu::VocabRows vocab, float* dwpe) {
  if (N * T * C == 0) return;
  launch(position_grad_kernel, blocks_for(T * C), kThreads, 0, N, T, C, dy, dwpe);
  const int n = static_cast<int>(N * T);
  Scratch ints(sizeof(int32_t) * (6 * static_cast<size_t>(n) + 1));
  int32_t* order = ints.get<int32_t>();  // 0, 1, ..., n - 1
  int32_t* sorted_tokens = order + n;
  int32_t* positions = sorted_tokens + n;
  int32_t* unique = positions + n;
  int32_t* counts = unique + n;
  int32_t* offsets = counts + n;
  int32_t* runs = offsets + n;
  launch(iota_kernel, blocks_for(n), kThreads, 0, n, order);
  memset_zero(counts, sizeof(int32_t) * static_cast<size_t>(n));  // the scan reads past the runs
  size_t sort_bytes = 0, encode_bytes = 0, scan_bytes = 0;
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, tokens, sorted_tokens, order,
                                             positions, n, 0, 32, stream()));
  CUDA_CHECK(cub::DeviceRunLengthEncode::Encode(nullptr, encode_bytes, sorted_tokens, unique,
                                                counts, runs, n, stream()));
  CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes, counts, offsets, n, stream()));
  size_t temp_bytes = std::max({sort_bytes, encode_bytes, scan_bytes});
  Scratch temp(temp_bytes);
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.get(), temp_bytes, tokens, sorted_tokens, order,
                                             positions, n, 0, 32, stream()));
  CUDA_CHECK(cub::DeviceRunLengthEncode::Encode(temp.get(), temp_bytes, sorted_tokens, unique,
                                                counts, runs, n, stream()));
  CUDA_CHECK(cub::DeviceScan::ExclusiveSum(temp.get(), temp_bytes, counts, offsets, n, stream()));
  const TokenRuns r{unique, counts, offsets, positions, runs};
  launch(token_grad_kernel, blocks_for(n * int64_t{kThreads}), kThreads, 0, r, C, dy, dwte, vocab);
}

}  // namespace trainer::cuda
