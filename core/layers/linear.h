// Fully connected layer: y(N, out) = x(N, in) Wᵀ + b, W stored (out, in) as in PyTorch.
#pragma once

#include "core/layers/init.h"
#include "core/layers/registry.h"

namespace trainer {

class Linear : public Layer {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias, InitScheme init,
         const InitContext& ctx);
  static std::unique_ptr<Layer> create(Args& args, const Shape& input, const InitContext& ctx);

  const char* type() const override { return "linear"; }
  std::string describe() const override;
  Tensor forward(const Tensor& x, Stash& saved, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& dy, Stash& saved) override;
  std::vector<Param*> params() override;
  int64_t flops_per_sample() const override { return 2 * in_ * out_; }
  int64_t stash_bytes_per_sample() const override { return in_ * 4; }

 private:
  int64_t in_, out_;
  Param weight_, bias_;
};

}  // namespace trainer
