// Flatten (C, H, W) to (C*H*W): a view, no copy.
#pragma once

#include "core/layers/registry.h"

namespace trainer {

class Flatten : public Layer {
 public:
  Flatten(const Shape& input, int64_t index) : Layer(input, {shape_numel(input)}, index) {}
  static std::unique_ptr<Layer> create(Args&, const Shape& input, const InitContext& ctx) {
    return std::make_unique<Flatten>(input, ctx.layer_index);
  }
  const char* type() const override { return "flatten"; }
  Tensor forward(const Tensor& x, Stash&, const ForwardContext&) override {
    return x.reshape(batched(output_shape(), x.dim(0)));
  }
  Tensor backward(const Tensor& dy, Stash&) override {
    return dy.reshape(batched(input_shape(), dy.dim(0)));
  }
};

}  // namespace trainer
