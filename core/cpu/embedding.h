// Token and position embedding: y(N, T, C) = wte[token] + wpe[position].
#pragma once

#include <cstdint>

namespace trainer::cpu {

void embedding_forward(int64_t N, int64_t T, int64_t C, const int32_t* tokens, const float* wte,
                       const float* wpe, float* y);
// dwte[token] += dy, dwpe[position] += Σ_n dy: threads split the C channels, so every sum runs in
// the same order whatever the thread count.
void embedding_backward(int64_t N, int64_t T, int64_t C, const int32_t* tokens, const float* dy,
                        float* dwte, float* dwpe);

}  // namespace trainer::cpu
