// 2-D max pooling over NCHW (no padding); the window's argmax is stashed for backward.
#pragma once

#include "core/layers/registry.h"
#include "core/ops.h"

namespace trainer {

class MaxPool2d : public Layer {
 public:
  MaxPool2d(const Shape& input, int64_t kernel, int64_t stride, int64_t index);
  static std::unique_ptr<Layer> create(Args& args, const Shape& input, const InitContext& ctx);

  const char* type() const override { return "maxpool2d"; }
  std::string describe() const override;
  Tensor forward(const Tensor& x, Stash& saved, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& dy, Stash& saved) override;
  int64_t flops_per_sample() const override { return shape_numel(output_shape()) * g_.K * g_.K; }
  int64_t stash_bytes_per_sample() const override { return shape_numel(output_shape()) * 4; }

 private:
  ops::PoolGeometry g_;
};

}  // namespace trainer
