// Text generation with a trained language model: autoregressive sampling, one position at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "core/model.h"

namespace trainer {

struct SampleOptions {
  int64_t tokens = 200;      // how many to generate
  float temperature = 1.0f;  // 0: always the most likely token
  uint64_t seed = 0;         // the draws are a pure function of (seed, position)
};

// The model maps (N, T) i32 tokens to (N, T, V) logits (one process, a causal model). The
// context is the last T tokens; a shorter one is padded at its end, which a causal model never
// looks at. Returns the generated tokens (without the prompt). The prompt must not be empty.
std::vector<int32_t> generate(Model& model, const std::vector<int32_t>& prompt,
                              const SampleOptions& options);

// The logits (n, V) at each of the prompt's n positions, from one forward pass: what a check
// against another implementation compares. The prompt must fit the context.
Tensor prompt_logits(Model& model, const std::vector<int32_t>& prompt);

}  // namespace trainer
