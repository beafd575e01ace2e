#include "core/layers/layer_norm.h"

#include "core/ops.h"

namespace trainer {

LayerNorm::LayerNorm(const Shape& shape, const InitContext& ctx) : Layer(shape, shape, ctx) {
  weight_ = make_param("weight", {shape.back()});
  bias_ = make_param("bias", {shape.back()});
  if (!ctx.shapes_only) {
    weight_.value.fill(1.0f);
    bias_.value.zero();
  }
  weight_.grad_partial = bias_.grad_partial = ctx.tensor.sequence_split();
}

std::unique_ptr<Layer> LayerNorm::create(Args&, const Shape& input, const InitContext& ctx) {
  return std::make_unique<LayerNorm>(input, ctx);
}

Tensor LayerNorm::forward(const Tensor& x, Stash& saved, const ForwardContext&) {
  const int64_t rows = x.numel() / x.dim(-1);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({rows}, DType::F32, x.device());
  Tensor rstd = Tensor::empty({rows}, DType::F32, x.device());
  ops::layer_norm_forward(x, weight_.compute, bias_.compute, y, mean, rstd);
  saved.tensors = {x, mean, rstd};
  return y;
}

Tensor LayerNorm::backward(const Tensor& dy, Stash& saved) {
  const Tensor x = saved.tensors.at(0);  // a handle that outlives the stash
  Tensor dx = needs_input_grad() ? Tensor::empty(x.shape(), x.dtype(), x.device()) : Tensor();
  ops::layer_norm_backward(x, weight_.compute, saved.tensors.at(1), saved.tensors.at(2), dy, dx,
                           weight_.grad, bias_.grad);
  saved.tensors.clear();
  return dx;
}

}  // namespace trainer
