#include "core/layers/dropout.h"

#include "core/ops.h"
#include "core/rng.h"

namespace trainer {

std::unique_ptr<Layer> Dropout::create(Args& args, const Shape& input, const InitContext& ctx) {
  const double p = args.number("p", 0.5, 0.0, 1.0);
  return std::make_unique<Dropout>(input, static_cast<float>(p), ctx);
}

std::string Dropout::describe() const { return "p " + std::to_string(p_).substr(0, 4); }

Tensor Dropout::forward(const Tensor& x, Stash& saved, const ForwardContext& ctx) {
  if (!ctx.training || p_ == 0.0f) {
    saved.tensors.clear();
    return x;
  }
  const int64_t N = x.dim(0), per = x.numel() / N;
  // Drawn on the host, whatever the device: the mask of a sample is then the same on the CPU
  // and the GPU, and the two backends give the same model.
  Tensor mask = Tensor::empty(x.shape());
  const float keep_scale = 1.0f / (1.0f - p_);
  float* m = mask.f32();
  for (int64_t n = 0; n < N; ++n) {
    Rng rng(make_key({static_cast<uint64_t>(RngPurpose::Dropout), ctx.seed, random_key(), ctx.step,
                      static_cast<uint64_t>(ctx.sample_offset + n)}));
    for (int64_t i = 0; i < per; ++i) m[n * per + i] = rng.uniform() < p_ ? 0.0f : keep_scale;
  }
  mask = mask.to(x.device());
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  ops::multiply(x, mask, y);
  saved.tensors = {mask};
  return y;
}

Tensor Dropout::backward(const Tensor& dy, Stash& saved) {
  if (saved.tensors.empty()) return dy;  // evaluation mode or p = 0: identity
  Tensor dx = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
  ops::multiply(dy, saved.tensors.at(0), dx);
  saved.tensors.clear();
  return dx;
}

}  // namespace trainer
