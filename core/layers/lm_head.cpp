#include "core/layers/lm_head.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/ops.h"

namespace trainer {

std::unique_ptr<Layer> LmHead::create(Args& args, const Shape& input, const InitContext& ctx) {
  if (input.size() != 2)
    args.fail("type", "lm_head expects (positions, channels) as input, got " + shape_str(input));
  const int64_t vocab = args.integer("vocab_size", std::nullopt, 1);
  return std::make_unique<LmHead>(ctx.tensor.positions(input), input[1], vocab, ctx);
}

void LmHead::tie(Param* wte) {
  const Shape whole = full_shape(wte->value.shape(), wte->split);
  if (whole[1] != channels() || whole[0] < vocab_)
    throw ConfigError("lm_head: the token embedding " + wte->name + " is " + shape_str(whole) +
                      "; the head needs at least " + std::to_string(vocab_) + " rows of " +
                      std::to_string(channels()));
  wte_ = wte;
  // A logit for each of this rank's rows of wte, the first classes_ of them vocabulary.
  const int64_t rows = wte->value.dim(0);
  begin_ = rows * wte->split.part;
  classes_ = std::clamp<int64_t>(vocab_ - begin_, 0, rows);
  set_output_shape({output_shape()[0], rows});
}

void LmHead::tie_to_copy(Param copy) {
  copy_ = std::move(copy);
  tie(&copy_);
}

Tensor LmHead::padding_mask(const Tensor& x) {
  if (classes_ == columns()) return Tensor();
  if (!mask_.defined() || mask_.dtype() != x.dtype() || mask_.device() != x.device()) {
    Tensor mask = Tensor::zeros({columns()});
    std::fill(mask.f32() + classes_, mask.f32() + columns(), -INFINITY);
    mask_ = ops::cast(mask, x.dtype()).to(x.device());
  }
  return mask_;
}

// Under sequence parallelism the input's rows are gathered from the group (again in backward:
// only this rank's are kept), and the input gradient is reduce-scattered back to them.
Tensor LmHead::forward(const Tensor& x, Stash& saved, const ForwardContext&) {
  const Tensor input = tensor_.all_rows(x);
  const int64_t rows = x.dim(0) * output_shape()[0];
  Tensor logits = Tensor::empty({rows, columns()}, x.dtype(), x.device());
  ops::linear_forward(input.reshape({rows, channels()}), wte_->compute, padding_mask(x), logits);
  saved.tensors = {x};
  return logits.reshape(batched(output_shape(), x.dim(0)));
}

Tensor LmHead::backward(const Tensor& dy, Stash& saved) {
  const Tensor x = tensor_.all_rows(saved.tensors.at(0));  // outlives the stash
  saved.tensors.clear();
  const int64_t N = x.dim(0), rows = N * output_shape()[0];
  Tensor dx = Tensor::empty({N, output_shape()[0], channels()}, x.dtype(), x.device());
  Tensor dx_rows = dx.reshape({rows, channels()});
  Tensor no_bias;
  ops::linear_backward(x.reshape({rows, channels()}), wte_->compute, dy.reshape({rows, columns()}),
                       dx_rows, wte_->grad, no_bias);
  return tensor_.sum_partials(dx);  // the ranks' partial input gradients
}

// B: the input gradient alone; the stash keeps the input and dy for W.
Tensor LmHead::backward_input(const Tensor& dy, Stash& saved) {
  saved.tensors.push_back(dy);
  const int64_t N = dy.dim(0), rows = N * output_shape()[0];
  Tensor dx = Tensor::empty({N, output_shape()[0], channels()}, dy.dtype(), dy.device());
  Tensor dx_rows = dx.reshape({rows, channels()});
  ops::linear_input_grad(wte_->compute, dy.reshape({rows, columns()}), dx_rows);
  return tensor_.sum_partials(dx);
}

// W: the tied weight's gradient from what B kept.
void LmHead::backward_weights(Stash& saved) {
  const Tensor x = tensor_.all_rows(saved.tensors.at(0)), dy = saved.tensors.at(1);
  saved.tensors.clear();
  const int64_t rows = x.dim(0) * output_shape()[0];
  Tensor no_dx, no_bias;
  ops::linear_backward(x.reshape({rows, channels()}), wte_->compute, dy.reshape({rows, columns()}),
                       no_dx, wte_->grad, no_bias);
}

}  // namespace trainer
