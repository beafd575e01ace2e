// Token and position embedding on the GPU: the twin of core/cpu/embedding.h.
#pragma once

#include <cstdint>

#include "core/cpu/embedding.h"

namespace trainer::cuda {

void embedding_forward(int64_t N, int64_t T, int64_t C, const int32_t* tokens, const float* wte,
                       cpu::VocabRows vocab, const float* wpe, float* y);
void embedding_backward(int64_t N, int64_t T, int64_t C, const int32_t* tokens, const float* dy,
                        float* dwte, cpu::VocabRows vocab, float* dwpe);

}  // namespace trainer::cuda
