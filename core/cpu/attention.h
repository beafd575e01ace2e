// Causal multi-head self-attention, the core between GPT-2's qkv and output projections.
//
// Shapes: N sequences of T positions, H heads of D features, C = H x D. qkv(N, T, 3C) holds per
// position [q | k | v], head h in columns h*D .. h*D+D-1 of each (GPT-2's and llm.c's layout).
#pragma once

#include <cstdint>

namespace trainer::cpu {

// y(N, T, C) = softmax(q kᵀ / sqrt(D), causal) v per head; att(N, H, T, T) keeps the
// probabilities for backward (zero above the diagonal).
void attention_forward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv, float* y,
                       float* att);
// dqkv(N, T, 3C) from dy(N, T, C), the saved qkv and att.
void attention_backward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv,
                        const float* att, const float* dy, float* dqkv);

}  // namespace trainer::cpu
