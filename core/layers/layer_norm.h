// Layer normalisation over the last dimension: (..., C) -> (..., C), weight 1 and bias 0 at start.
#pragma once

#include "core/layers/registry.h"

namespace trainer {

class LayerNorm : public Layer {
 public:
  LayerNorm(const Shape& shape, const InitContext& ctx);
  static std::unique_ptr<Layer> create(Args& args, const Shape& input, const InitContext& ctx);

  const char* type() const override { return "layer_norm"; }
  Tensor forward(const Tensor& x, Stash& saved, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& dy, Stash& saved) override;
  std::vector<Param*> params() override { return {&weight_, &bias_}; }
  int64_t flops_per_sample() const override { return 8 * shape_numel(input_shape()); }
  int64_t stash_bytes_per_sample() const override {
    return shape_numel(input_shape()) * 4 + 8 * (shape_numel(input_shape()) / input_shape().back());
  }

 private:
  Param weight_, bias_;
};

}  // namespace trainer
