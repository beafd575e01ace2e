#include "core/cuda/embedding.cuh"
#include "core/cuda/launch.cuh"

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

// One thread per channel walks every position in order, adding into wte's and wpe's rows: the
// sums run in the CPU twin's order, with no atomics, so the result is deterministic.
__global__ void embedding_backward_kernel(int64_t N, int64_t T, int64_t C, const int32_t* tokens,
                                          const float* dy, float* dwte, cpu::VocabRows vocab,
                                          float* dwpe) {
  for (int64_t c = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; c < C;
       c += int64_t{gridDim.x} * blockDim.x)
    for (int64_t i = 0; i < N * T; ++i) {
      const float g = dy[i * C + c];
      const int64_t token = tokens[i];
      if (token >= vocab.begin && token < vocab.begin + vocab.rows)
        dwte[(token - vocab.begin) * C + c] += g;
      dwpe[(i % T) * C + c] += g;
    }
}

void embedding_forward(int64_t N, int64_t T, int64_t C, const int32_t* tokens, const float* wte,
                       cpu::VocabRows vocab, const float* wpe, float* y) {
  if (N * T * C == 0) return;
  embedding_forward_kernel<<<blocks_for(N * T * C), kThreads, 0, stream()>>>(N, T, C, tokens, wte,
                                                                             vocab, wpe, y);
  TRAINER_CHECK_LAUNCH();
}

void embedding_backward(int64_t N, int64_t T, int64_t C, const int32_t* tokens, const float* dy,
                        float* dwte, cpu::VocabRows vocab, float* dwpe) {
  if (N * T * C == 0) return;
  embedding_backward_kernel<<<blocks_for(C), kThreads, 0, stream()>>>(N, T, C, tokens, dy, dwte,
                                                                      vocab, dwpe);
  TRAINER_CHECK_LAUNCH();
}

}  // namespace trainer::cuda
