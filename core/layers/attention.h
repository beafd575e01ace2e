// Causal multi-head self-attention without its projections: (T, 3C) [q | k | v] -> (T, C).
// The transformer block puts it between its qkv and output linear layers, as GPT-2 does.
#pragma once

#include "core/cuda/flash_attention.cuh"
#include "core/layers/layer.h"

namespace trainer {

class CausalSelfAttention : public Layer {
 public:
  CausalSelfAttention(int64_t positions, int64_t channels, int64_t heads, const InitContext& ctx)
      : Layer({positions, 3 * channels}, {positions, channels}, ctx), heads_(heads) {}

  const char* type() const override { return "attention"; }
  int64_t heads() const { return heads_; }
  int64_t tensor_units() const override { return heads_; }
  std::string describe() const override { return std::to_string(heads_) + " heads, causal"; }
  Tensor forward(const Tensor& qkv, Stash& saved, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& dy, Stash& saved) override;
  // q kᵀ and P v over the full T x T square: 4 T² C multiply-adds x2 per sequence.
  int64_t flops_per_sample() const override {
    const int64_t T = input_shape()[0], C = output_shape()[1];
    return 4 * T * T * C;
  }
  // The qkv input and two floats per row of each head's probabilities. Forward's y is kept too,
  // but the output projection keeps it as its input, the same tensor: it is counted there.
  int64_t stash_bytes_per_sample() const override {
    const int64_t T = input_shape()[0];
    return 4 * (shape_numel(input_shape()) + heads_ * T * 2);
  }
  // Besides: the T x T scores of every head, written and read again in each pass...
  int64_t streamed_bytes_per_sample() const override {
    return stash_bytes_per_sample() + scores_bytes_per_sample();
  }
  // ... except in the GPU's flash kernels (16 bits), where the head dimension is theirs.
  int64_t fused_bytes_per_sample() const override {
    return cuda::flash_attention_head_dim(output_shape()[1] / heads_) ? scores_bytes_per_sample()
                                                                      : 0;
  }

 private:
  int64_t scores_bytes_per_sample() const {
    const int64_t T = input_shape()[0];
    return 4 * heads_ * T * T;
  }

  int64_t heads_;
};

}  // namespace trainer
