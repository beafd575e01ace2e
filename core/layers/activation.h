// Elementwise activations: relu, gelu, tanh, sigmoid.
#pragma once

#include "core/layers/registry.h"
#include "core/ops.h"

namespace trainer {

class ActivationLayer : public Layer {
 public:
  ActivationLayer(ops::Activation f, const Shape& shape, const InitContext& id)
      : Layer(shape, shape, id), f_(f) {}
  template <ops::Activation F>
  static std::unique_ptr<Layer> create(Args&, const Shape& input, const InitContext& ctx) {
    return std::make_unique<ActivationLayer>(F, input, ctx);
  }

  const char* type() const override;
  Tensor forward(const Tensor& x, Stash& saved, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& dy, Stash& saved) override;
  int64_t flops_per_sample() const override { return shape_numel(input_shape()); }
  int64_t stash_bytes_per_sample() const override { return shape_numel(input_shape()) * 4; }

 private:
  ops::Activation f_;
};

}  // namespace trainer
