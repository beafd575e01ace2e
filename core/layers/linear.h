// Fully connected layer: y(N, out) = x(N, in) Wᵀ + b, W stored (out, in) as in PyTorch. Over a
// sequence (`positions` > 0) it applies to each position: y(N, T, out) from x(N, T, in).
#pragma once

#include "core/layers/init.h"
#include "core/layers/registry.h"

namespace trainer {

class Linear : public Layer {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias, InitScheme init,
         const InitContext& ctx, int64_t positions = 0);
  static std::unique_ptr<Layer> create(Args& args, const Shape& input, const InitContext& ctx);

  const char* type() const override { return "linear"; }
  std::string describe() const override;
  Tensor forward(const Tensor& x, Stash& saved, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& dy, Stash& saved) override;
  std::vector<Param*> params() override;
  int64_t flops_per_sample() const override { return 2 * in_ * out_ * rows_; }
  int64_t stash_bytes_per_sample() const override { return in_ * rows_ * 4; }
  // The weight, for initialisations that replace the default one (GPT-2's).
  Param& weight() { return weight_; }
  Param& bias() { return bias_; }

 private:
  int64_t in_, out_;
  int64_t rows_;  // rows per sample: the positions of a sequence, or 1
  Param weight_, bias_;
};

}  // namespace trainer
