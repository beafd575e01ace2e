#include "core/layers/maxpool2d.h"

namespace trainer {

static ops::PoolGeometry geometry(const Shape& in, int64_t k, int64_t stride) {
  return {in[1], in[2], k, stride, (in[1] - k) / stride + 1, (in[2] - k) / stride + 1};
}

MaxPool2d::MaxPool2d(const Shape& input, int64_t kernel, int64_t stride, int64_t index)
    : Layer(input,
            {input[0], geometry(input, kernel, stride).OH, geometry(input, kernel, stride).OW},
            index),
      g_(geometry(input, kernel, stride)) {}

std::unique_ptr<Layer> MaxPool2d::create(Args& args, const Shape& input, const InitContext& ctx) {
  if (input.size() != 3)
    args.fail("type",
              "maxpool2d expects a (channels, height, width) input, got " + shape_str(input));
  const int64_t k = args.integer("kernel", std::nullopt, 1);
  const int64_t stride = args.integer("stride", k, 1);  // PyTorch: stride defaults to the kernel
  if (input[1] < k || input[2] < k)
    args.fail("kernel",
              "kernel " + std::to_string(k) + " is larger than the input " + shape_str(input));
  return std::make_unique<MaxPool2d>(input, k, stride, ctx.layer_index);
}

std::string MaxPool2d::describe() const {
  return std::to_string(g_.K) + "x" + std::to_string(g_.K) + " stride " + std::to_string(g_.stride);
}

Tensor MaxPool2d::forward(const Tensor& x, Stash& saved, const ForwardContext&) {
  Tensor y =
      Tensor::empty(batched(output_shape(), x.dim(0)), x.dtype(), x.device());  // (N, C, OH, OW)
  Tensor argmax = Tensor::empty(y.shape(), DType::I32, x.device());
  ops::maxpool_forward(g_, x, y, argmax);
  saved.tensors = {argmax};
  return y;
}

Tensor MaxPool2d::backward(const Tensor& dy, Stash& saved) {
  Tensor dx = Tensor::empty(batched(input_shape(), dy.dim(0)), dy.dtype(), dy.device());
  ops::maxpool_backward(g_, dy, saved.tensors.at(0), dx);
  saved.tensors.clear();
  return dx;
}

}  // namespace trainer
