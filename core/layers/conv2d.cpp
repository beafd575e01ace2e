#include "core/layers/conv2d.h"

namespace trainer {

static ops::ConvGeometry geometry(const Shape& in, int64_t k, int64_t stride, int64_t pad) {
  ops::ConvGeometry g{in[0], in[1], in[2], k, k, stride, pad, 0, 0};
  g.OH = (g.H + 2 * pad - k) / stride + 1;
  g.OW = (g.W + 2 * pad - k) / stride + 1;
  return g;
}

static Shape output_of(const ops::ConvGeometry& g, int64_t out_channels) {
  return {out_channels, g.OH, g.OW};
}

Conv2d::Conv2d(const Shape& input, int64_t out_channels, int64_t kernel, int64_t stride,
               int64_t padding, bool bias, InitScheme init, const InitContext& ctx)
    : Layer(input, output_of(geometry(input, kernel, stride, padding), out_channels),
            ctx.layer_index),
      g_(geometry(input, kernel, stride, padding)),
      oc_(out_channels) {
  const Shape w_shape{oc_, g_.C, kernel, kernel};
  weight_ = make_param("weight", w_shape);
  if (bias) bias_ = make_param("bias", {oc_});
  init_parameters(init, ctx, g_.col_rows(), oc_ * kernel * kernel, weight_.value,
                  bias ? &bias_.value : nullptr);
}

std::unique_ptr<Layer> Conv2d::create(Args& args, const Shape& input, const InitContext& ctx) {
  if (input.size() != 3)
    args.fail("type", "conv2d expects a (channels, height, width) input, got " + shape_str(input));
  const int64_t oc = args.integer("out_channels", std::nullopt, 1);
  const int64_t k = args.integer("kernel", std::nullopt, 1);
  const int64_t stride = args.integer("stride", 1, 1);
  const int64_t pad = args.integer("padding", 0, 0);
  if (input[1] + 2 * pad < k || input[2] + 2 * pad < k)
    args.fail("kernel", "kernel " + std::to_string(k) + " does not fit the input " +
                            shape_str(input) + " with padding " + std::to_string(pad));
  const bool bias = args.boolean("bias", true);
  return std::make_unique<Conv2d>(input, oc, k, stride, pad, bias, init_scheme_arg(args), ctx);
}

std::string Conv2d::describe() const {
  return std::to_string(oc_) + "x" + std::to_string(g_.KH) + "x" + std::to_string(g_.KW) +
         " stride " + std::to_string(g_.stride) + " pad " + std::to_string(g_.pad);
}

Tensor Conv2d::forward(const Tensor& x, Stash& saved, const ForwardContext&) {
  Tensor y =
      Tensor::empty({x.dim(0), oc_, g_.OH, g_.OW}, x.dtype(), x.device());  // (N, OC, OH, OW)
  ops::conv2d_forward(g_, x, weight_.compute, bias_.compute, y);
  saved.tensors = {x};
  return y;
}

Tensor Conv2d::backward(const Tensor& dy, Stash& saved) {
  const Tensor& x = saved.tensors.at(0);  // (N, C, H, W)
  Tensor dx = needs_input_grad() ? Tensor::empty(x.shape(), x.dtype(), x.device()) : Tensor();
  ops::conv2d_backward(g_, x, weight_.compute, dy, dx, weight_.grad, bias_.grad);
  saved.tensors.clear();
  return dx;
}

std::vector<Param*> Conv2d::params() { return weight_and_bias(weight_, bias_); }

}  // namespace trainer
