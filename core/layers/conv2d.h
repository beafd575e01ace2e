// 2-D convolution over NCHW: im2col + GEMM on the CPU.
#pragma once

#include "core/layers/init.h"
#include "core/ops.h"

namespace trainer {

class Conv2d : public Layer {
 public:
  // input (C, H, W); weight (out_channels, C, kernel, kernel)
  Conv2d(const Shape& input, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding,
         bool bias, InitScheme init, const InitContext& ctx);
  static std::unique_ptr<Layer> create(Args& args, const Shape& input, const InitContext& ctx);

  const char* type() const override { return "conv2d"; }
  std::string describe() const override;
  Tensor forward(const Tensor& x, Stash& saved, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& dy, Stash& saved) override;
  std::vector<Param*> params() override;
  int64_t flops_per_sample() const override { return 2 * oc_ * g_.col_rows() * g_.out_plane(); }
  int64_t stash_bytes_per_sample() const override { return shape_numel(input_shape()) * 4; }

 private:
  ops::ConvGeometry g_;
  int64_t oc_;
  Param weight_, bias_;
};

}  // namespace trainer
