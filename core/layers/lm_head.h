// The output head tied to the token embedding (GPT-2): logits (T, VP) = x (T, C) wteᵀ over all
// VP rows of wte, the vocabulary padded (GPT-2: 50257 to 50304). The padding columns are -inf
// (a bias of 0 then -inf, free in cuBLASLt's epilogue): a softmax gives them no probability and
// no gradient, so the loss is the one over the V real entries, while every GEMM and loss row
// has an aligned width (16-bit GEMMs on the tensor cores want widths that are multiples of 8,
// which 50257 is not). It owns no parameter: Model::add hands it the embedding's wte, and its
// backward adds into that parameter's gradient beside the embedding's own.
//
// Under tensor parallelism wte is split by vocabulary rows (Megatron's vocabulary-parallel
// head): each rank computes the logits of the rows it holds, columns [vocab_begin(),
// vocab_begin() + its output width) of the whole (T, VP), and the loss is computed over the
// split vocabulary without gathering them; the ranks' partial input gradients are summed.
#pragma once

#include "core/layers/registry.h"

namespace trainer {

class LmHead : public Layer {
 public:
  // Under sequence parallelism its input is this rank's rows of the positions.
  LmHead(int64_t positions, int64_t channels, int64_t vocab, const InitContext& ctx)
      : Layer(ctx.tensor.rows_shape({positions, channels}), {positions, vocab}, ctx),
        vocab_(vocab),
        classes_(vocab),
        tensor_(ctx.tensor) {}
  static std::unique_ptr<Layer> create(Args& args, const Shape& input, const InitContext& ctx);

  const char* type() const override { return "lm_head"; }
  std::string describe() const override { return "tied to the token embedding"; }
  Tensor forward(const Tensor& x, Stash& saved, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& dy, Stash& saved) override;
  Tensor backward_input(const Tensor& dy, Stash& saved) override;
  void backward_weights(Stash& saved) override;
  std::string tied_param() const override { return "embedding.wte"; }
  void tie(Param* wte) override;
  void tie_to_copy(Param copy) override;
  // Only a copy is this layer's own (a later pipeline stage's); the shared one is the embedding's.
  std::vector<Param*> params() override {
    return copy_.name.empty() ? std::vector<Param*>{} : std::vector<Param*>{&copy_};
  }
  int64_t flops_per_sample() const override { return 2 * shape_numel(output_shape()) * channels(); }
  int64_t stash_bytes_per_sample() const override { return shape_numel(input_shape()) * 4; }
  // The first vocabulary entry of this rank's logits (0 without tensor parallelism).
  int64_t vocab_begin() const { return begin_; }
  // This rank's columns that are vocabulary, not padding.
  int64_t classes() const override { return classes_; }

 private:
  int64_t channels() const { return input_shape()[1]; }
  int64_t columns() const { return output_shape()[1]; }  // this rank's logits per position
  // 0 for the vocabulary's columns, -inf for the padding's, in x's type and on its device
  // (undefined without padding); made on the first forward there and kept.
  Tensor padding_mask(const Tensor& x);
  int64_t vocab_;  // the whole vocabulary's
  int64_t begin_ = 0;
  int64_t classes_;
  Tensor mask_;
  TensorSplit tensor_;
  Param* wte_ = nullptr;
  Param copy_;
};

}  // namespace trainer
