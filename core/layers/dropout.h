// Inverted dropout: scales kept activations by 1/(1-p) in training, identity in evaluation.
//
// The mask of a sample depends only on (seed, layer, step, global sample index), so a run
// drops the same units whatever its layout, and a resumed run the same as an uninterrupted one.
#pragma once

#include "core/cpu/dropout_mask.h"
#include "core/layers/registry.h"

namespace trainer {

class Dropout : public Layer {
 public:
  Dropout(const Shape& shape, float p, const InitContext& id) : Layer(shape, shape, id), p_(p) {}
  static std::unique_ptr<Layer> create(Args& args, const Shape& input, const InitContext& ctx);

  const char* type() const override { return "dropout"; }
  std::string describe() const override;
  Tensor forward(const Tensor& x, Stash& saved, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& dy, Stash& saved) override;
  int64_t flops_per_sample() const override { return shape_numel(input_shape()); }
  int64_t stash_bytes_per_sample() const override { return 0; }  // the mask is drawn again

 private:
  cpu::DropoutMask mask(const ForwardContext& ctx) const;
  float p_;
};

}  // namespace trainer
