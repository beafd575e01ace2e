// Token and position embedding: y(N, T, C) = wte[token] + wpe[position].
//
// Under tensor parallelism wte holds vocabulary rows [begin, begin + rows) only: a token outside
// them contributes zeros (the tensor group's sum adds the rank that holds it), and wpe (null) may
// be left out of forward, for one rank only to add it.
#pragma once

#include <cstdint>

namespace trainer::cpu {

struct VocabRows {
  int64_t begin, rows;
  bool holds(int64_t token) const { return token >= begin && token < begin + rows; }
};

void embedding_forward(int64_t N, int64_t T, int64_t C, const int32_t* tokens, const float* wte,
                       VocabRows vocab, const float* wpe, float* y);
// dwte[token] += dy, dwpe[position] += Σ_n dy: threads split the C channels, so every sum runs in
// the same order whatever the thread count.
void embedding_backward(int64_t N, int64_t T, int64_t C, const int32_t* tokens, const float* dy,
                        float* dwte, VocabRows vocab, float* dwpe);

}  // namespace trainer::cpu
