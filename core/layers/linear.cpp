#include "core/layers/linear.h"

#include "core/ops.h"

namespace trainer {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, InitScheme init,
               const InitContext& ctx)
    : Layer({in_features}, {out_features}, ctx.layer_index), in_(in_features), out_(out_features) {
  weight_ = make_param("weight", {out_, in_});
  if (bias) bias_ = make_param("bias", {out_});
  init_parameters(init, ctx, in_, out_, weight_.value, bias ? &bias_.value : nullptr);
}

std::unique_ptr<Layer> Linear::create(Args& args, const Shape& input, const InitContext& ctx) {
  if (input.size() != 1)
    args.fail("type", "linear expects a flat input, got " + shape_str(input) +
                          " from the layer before; add {type: flatten} in front of it");
  const int64_t in = args.integer("in_features", input[0], 1);
  if (in != input[0])
    args.fail("in_features", "expected " + std::to_string(input[0]) +
                                 " (the size the layer before produces), got " +
                                 std::to_string(in));
  const int64_t out = args.integer("out_features", std::nullopt, 1);
  const bool bias = args.boolean("bias", true);
  return std::make_unique<Linear>(in, out, bias, init_scheme_arg(args), ctx);
}

std::string Linear::describe() const {
  return std::to_string(in_) + " -> " + std::to_string(out_) +
         (bias_.value.defined() ? "" : " no bias");
}

Tensor Linear::forward(const Tensor& x, Stash& saved, const ForwardContext&) {
  Tensor y = Tensor::empty({x.dim(0), out_}, x.dtype(), x.device());  // (N, out)
  ops::linear_forward(x, weight_.compute, bias_.compute, y);
  saved.tensors = {x};
  return y;
}

Tensor Linear::backward(const Tensor& dy, Stash& saved) {
  const Tensor& x = saved.tensors.at(0);  // (N, in)
  Tensor dx = needs_input_grad() ? Tensor::empty(x.shape(), x.dtype(), x.device()) : Tensor();
  ops::linear_backward(x, weight_.compute, dy, dx, weight_.grad, bias_.grad);
  saved.tensors.clear();
  return dx;
}

std::vector<Param*> Linear::params() { return weight_and_bias(weight_, bias_); }

}  // namespace trainer
