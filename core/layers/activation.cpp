#include "core/layers/activation.h"

namespace trainer {

const char* ActivationLayer::type() const {
  switch (f_) {
    case ops::Activation::ReLU:
      return "relu";
    case ops::Activation::GELU:
      return "gelu";
    case ops::Activation::GELUTanh:
      return "gelu_tanh";
    case ops::Activation::Tanh:
      return "tanh";
    case ops::Activation::Sigmoid:
      return "sigmoid";
  }
  return "?";
}

Tensor ActivationLayer::forward(const Tensor& x, Stash& saved, const ForwardContext&) {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  ops::activation_forward(f_, x, y);
  // GELU's derivative needs the input; the others are cheapest from the output.
  const bool needs_input = f_ == ops::Activation::GELU || f_ == ops::Activation::GELUTanh;
  saved.tensors = {needs_input ? x : y};
  return y;
}

Tensor ActivationLayer::backward(const Tensor& dy, Stash& saved) {
  Tensor dx = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  ops::activation_backward(f_, saved.tensors.at(0), dy, dx);
  saved.tensors.clear();
  return dx;
}

}  // namespace trainer
