// GPT-2's transformer block as one config entry (pre-norm):
//   x + attn(ln(x)),  attn = qkv linear (C -> 3C) > causal self-attention > proj linear (C -> C)
//   x + mlp(ln(x)),   mlp  = fc linear (C -> 4C) > gelu_tanh > proj linear (4C -> C)
// Parameter paths: <entry>.attn.{ln,qkv,proj}.*, <entry>.mlp.{ln,fc,proj}.*.
// GPT-2's initialisation: linear weights N(0, 0.02²), the two projections into the residual
// stream N(0, (0.02 / sqrt(2 L))²) with L the blocks in the model (the entry's `repeat`, or
// `layers` when the blocks are spread over several entries), biases 0, layer norms 1 and 0.
#pragma once

#include "core/layers/registry.h"

namespace trainer {

// The config entry: `heads` (dividing the channels), optional `layers` (default: `repeat`).
std::unique_ptr<Layer> make_transformer_block(Args& args, const Shape& input,
                                              const InitContext& ctx);
// One block over (T, C) with `heads` heads, initialised for a model of `layers` blocks.
std::unique_ptr<Layer> transformer_block(int64_t T, int64_t C, int64_t heads, int64_t layers,
                                         const InitContext& ctx);

}  // namespace trainer
