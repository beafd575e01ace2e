#include "core/cpu/embedding.h"

#include "core/cpu/parallel.h"

namespace trainer::cpu {

void embedding_forward(int64_t N, int64_t T, int64_t C, const int32_t* tokens, const float* wte,
                       VocabRows vocab, const float* wpe, float* y) {
  parallel_ranges(N * T, std::max<int64_t>(1, 8192 / C), [&](int, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const bool held = vocab.holds(tokens[i]);
      const float* e = wte + (static_cast<int64_t>(tokens[i]) - vocab.begin) * C;
      const float* p = wpe ? wpe + (i % T) * C : nullptr;
      float* out = y + i * C;
      for (int64_t c = 0; c < C; ++c) out[c] = (held ? e[c] : 0.0f) + (p ? p[c] : 0.0f);
    }
  });
}

void embedding_backward(int64_t N, int64_t T, int64_t C, const int32_t* tokens, const float* dy,
                        float* dwte, VocabRows vocab, float* dwpe) {
  parallel_ranges(C, 16, [&](int, int64_t c0, int64_t c1) {
    for (int64_t i = 0; i < N * T; ++i) {
      const float* g = dy + i * C;
      float* p = dwpe + (i % T) * C;
      for (int64_t c = c0; c < c1; ++c) p[c] += g[c];
      if (!vocab.holds(tokens[i])) continue;
      float* e = dwte + (static_cast<int64_t>(tokens[i]) - vocab.begin) * C;
      for (int64_t c = c0; c < c1; ++c) e[c] += g[c];
    }
  });
}

}  // namespace trainer::cpu
