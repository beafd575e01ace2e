// Fully connected layer: y(N, out) = x(N, in) Wᵀ + b, W stored (out, in) as in PyTorch. Over a
// sequence (`positions` > 0) it applies to each position: y(N, T, out) from x(N, T, in).
//
// Split over a tensor group of T ranks (Megatron-LM's pair, which needs one all-reduce each way):
// - column-parallel: each rank holds out/T rows of W and b (in `groups` blocks, each split: the
//   q | k | v of attention), takes the whole input and gives its out/T outputs; in backward the
//   ranks' partial input gradients are summed over the group.
// - row-parallel: each rank holds in/T columns of W and takes the matching in/T inputs (a
//   column-parallel layer's outputs); the partial outputs are summed over the group in forward.
//   The bias is whole on every rank: rank 0 alone adds it before the sum, and every rank
//   computes its gradient from the (same) output gradient, so the copies stay equal.
#pragma once

#include "core/layers/init.h"
#include "core/layers/registry.h"

namespace trainer {

enum class TensorMode { Replicated, Column, Row };

class Linear : public Layer {
 public:
  // in_features and out_features are the whole layer's; under `mode` (over ctx.tensor) this
  // rank holds its slice.
  Linear(int64_t in_features, int64_t out_features, bool bias, InitScheme init,
         const InitContext& ctx, int64_t positions = 0, TensorMode mode = TensorMode::Replicated,
         int64_t groups = 1);
  static std::unique_ptr<Layer> create(Args& args, const Shape& input, const InitContext& ctx);

  const char* type() const override { return "linear"; }
  std::string describe() const override;
  Tensor forward(const Tensor& x, Stash& saved, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& dy, Stash& saved) override;
  Tensor backward_input(const Tensor& dy, Stash& saved) override;
  void backward_weights(Stash& saved) override;
  std::vector<Param*> params() override;
  int64_t flops_per_sample() const override { return 2 * in_ * out_ * rows_; }
  int64_t stash_bytes_per_sample() const override { return in_ * rows_ * 4; }
  // The weight, for initialisations that replace the default one (GPT-2's).
  Param& weight() { return weight_; }
  Param& bias() { return bias_; }

 private:
  int64_t in_, out_;  // this rank's
  int64_t rows_;      // rows per sample: the positions of a sequence, or 1
  TensorMode mode_;
  TensorSplit tensor_;
  Param weight_, bias_;
};

}  // namespace trainer
