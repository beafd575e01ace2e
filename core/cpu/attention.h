// Causal multi-head self-attention, the core between GPT-2's qkv and output projections.
//
// Shapes: N sequences of T positions, H heads of D features, C = H x D. qkv(N, T, 3C) holds per
// position [q | k | v], head h in columns h*D .. h*D+D-1 of each (GPT-2's and llm.c's layout).
//
// The T x T probabilities of a head are never kept: forward keeps two floats per row of them,
// stats(N, H, T, 2) = (the row's largest score, 1 / the sum of its exponentials), and backward
// computes the scores again and P from them with the same operations as forward. What a layer
// holds for backward then grows with T, not T² (at GPT-2's T = 1024 and 12 heads, 48 MiB a
// sequence and layer less), for one more product q kᵀ in backward. Backward's Σ_s P dP of a row
// is dy · y (P dP = P (dy vᵀ), summed: dy · Σ_s P v), as flash attention has it, so a kernel
// that sees the row one tile at a time needs it before its first tile.
#pragma once

#include <cstdint>

namespace trainer::cpu {

// y(N, T, C) = softmax(q kᵀ / sqrt(D), causal) v per head, and the rows' stats.
void attention_forward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv, float* y,
                       float* stats);
// dqkv(N, T, 3C) from dy(N, T, C), the saved qkv, forward's y and stats.
void attention_backward(int64_t N, int64_t T, int64_t H, int64_t D, const float* qkv,
                        const float* y, const float* stats, const float* dy, float* dqkv);

}  // namespace trainer::cpu
