// Causal self-attention on the GPU: the twin of core/cpu/attention.h (stats(N, H, T, 2) as
// there: the T x T probabilities are not kept, backward computes them again). The products of
// each sequence run as cuBLAS strided-batched GEMMs over its heads (a head is a column block of
// the (T, 3C) qkv matrix: stride D between heads) into a scratch block of one sequence's scores;
// the masked softmax and its backward are one kernel each, a warp per row.
#pragma once

#include <cstdint>

namespace trainer::cuda {

void attention_forward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv, float* y,
                       float* stats);
void attention_backward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv,
                        const float* y, const float* stats, const float* dy, float* dqkv);

// The same on fp16 or bf16 qkv, y, dy and dqkv (`bf16` chooses): every product on the tensor
// cores with float accumulation, the scores, their softmax and its backward in float;
// P and dS are rounded to 16 bits where they enter a product, as under PyTorch's autocast. The
// CPU twin computes through float copies (core/ops.cpp), so the two agree to 16-bit rounding.
// Head dimensions the fused kernels take (core/cuda/flash_attention.cuh) go there, so no scores
// reach memory; others run as above.
void attention_forward_16(bool bf16, int64_t N, int64_t T, int64_t H, int64_t D, const void* qkv,
                          void* y, float* stats);
void attention_backward_16(bool bf16, int64_t N, int64_t T, int64_t H, int64_t D, const void* qkv,
                           const void* y, const float* stats, const void* dy, void* dqkv);

}  // namespace trainer::cuda
