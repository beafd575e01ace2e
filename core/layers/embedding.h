// Token and position embedding: tokens (T) i32 -> (T, C) = wte[token] + wpe[position].
//
// wte has `padded_vocab_size` rows (GPT-2 pads 50257 to 50304 so its GEMMs tile well); the
// padding rows start at zero and no token reads them. The output head ties itself to wte.
//
// Under tensor parallelism (Megatron's vocabulary-parallel embedding) each of the T ranks holds
// padded_vocab_size / T rows of wte: a rank looks up the tokens it holds, rank 0 adds the
// positions (wpe is whole on every rank), and the group sums the result.
#pragma once

#include "core/layers/registry.h"

namespace trainer {

class Embedding : public Layer {
 public:
  Embedding(int64_t positions, int64_t vocab, int64_t padded_vocab, int64_t channels,
            int64_t max_positions, const InitContext& ctx);
  static std::unique_ptr<Layer> create(Args& args, const Shape& input, const InitContext& ctx);

  const char* type() const override { return "embedding"; }
  std::string describe() const override;
  Tensor forward(const Tensor& tokens, Stash& saved, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& dy, Stash& saved) override;
  Tensor backward_input(const Tensor& dy, Stash& saved) override;
  void backward_weights(Stash& saved) override;
  std::vector<Param*> params() override { return {&wte_, &wpe_}; }
  int64_t flops_per_sample() const override { return shape_numel(output_shape()); }
  int64_t stash_bytes_per_sample() const override { return input_shape()[0] * 4; }
  int64_t vocab() const { return vocab_; }
  int64_t tensor_units() const override { return padded_; }
  // The first vocabulary row this rank holds.
  int64_t vocab_begin() const { return tensor_.begin(padded_); }

 private:
  int64_t vocab_, padded_;
  TensorSplit tensor_;
  Param wte_, wpe_;
};

}  // namespace trainer
