// Causal self-attention on the GPU: the twin of core/cpu/attention.h. The four products of each
// sequence run as cuBLAS strided-batched GEMMs over its heads (a head is a column block of the
// (T, 3C) qkv matrix: stride D between heads); the masked softmax and its backward are one
// kernel each, a warp per row.
#pragma once

#include <cstdint>

namespace trainer::cuda {

void attention_forward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv, float* y,
                       float* att);
void attention_backward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv,
                        const float* att, const float* dy, float* dqkv);

}  // namespace trainer::cuda
