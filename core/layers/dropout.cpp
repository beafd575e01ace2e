#include "core/layers/dropout.h"

#include "core/ops.h"
#include "core/rng.h"

namespace trainer {

std::unique_ptr<Layer> Dropout::create(Args& args, const Shape& input, const InitContext& ctx) {
  const double p = args.number("p", 0.5, 0.0, 1.0);
  return std::make_unique<Dropout>(input, static_cast<float>(p), ctx);
}

std::string Dropout::describe() const { return "p " + std::to_string(p_).substr(0, 4); }

cpu::DropoutMask Dropout::mask(const ForwardContext& ctx) const {
  return {make_key({static_cast<uint64_t>(RngPurpose::Dropout), ctx.seed, random_key(), ctx.step}),
          ctx.sample_offset, p_};
}

// The mask is drawn where it is applied (on the tensors' device) and drawn again in backward from
// the same context: a sample's mask is a pure function of it, so nothing is kept in between.
Tensor Dropout::forward(const Tensor& x, Stash& saved, const ForwardContext& ctx) {
  saved.drawn.reset();
  if (!ctx.training || p_ == 0.0f) return x;
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  ops::dropout(x, mask(ctx), y);
  saved.drawn = ctx;
  return y;
}

Tensor Dropout::backward(const Tensor& dy, Stash& saved) {
  if (!saved.drawn) return dy;  // evaluation mode or p = 0: identity
  Tensor dx = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  ops::dropout(dy, mask(*saved.drawn), dx);
  saved.drawn.reset();
  return dx;
}

}  // namespace trainer
