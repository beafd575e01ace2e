#include "core/cuda/gather.cuh"
#include "core/cuda/launch.cuh"

namespace trainer::cuda {

// One thread per word of the output: consecutive threads read consecutive words of a row.
__global__ void gather_rows_kernel(int64_t total, int64_t row_words, const int32_t* idx,
                                   const uint32_t* src, uint32_t* dst) {
  for (int64_t o = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; o < total;
       o += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = o / row_words, word = o % row_words;
    dst[o] = src[idx[row] * row_words + word];
  }
}

void gather_rows(int64_t n, int64_t row_words, const int32_t* idx, const uint32_t* src,
                 uint32_t* dst) {
  const int64_t total = n * row_words;
  if (total == 0) return;
  launch(gather_rows_kernel, blocks_for(total), kThreads, 0, total, row_words, idx, src, dst);
}

}  // namespace trainer::cuda
