#include "core/layers/linear.h"

#include "core/ops.h"

namespace trainer {

// This rank's share of `features` under `mode`, when `split` is the mode that splits them.
static int64_t share(int64_t features, TensorMode mode, TensorMode split, const TensorSplit& t) {
  return mode == split ? features / t.size : features;
}

// The per-sample shape of `features` over `positions` (none: flat); under sequence parallelism
// the side of a column-parallel linear's input and a row-parallel one's output (`rows_side`)
// holds this rank's rows only.
static Shape sample_shape(int64_t positions, int64_t features, bool rows_side,
                          const TensorSplit& t) {
  if (!positions) return {features};
  return rows_side ? t.rows_shape({positions, features}) : Shape{positions, features};
}

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, InitScheme init,
               const InitContext& ctx, int64_t positions, TensorMode mode, int64_t groups)
    : Layer(sample_shape(positions, share(in_features, mode, TensorMode::Row, ctx.tensor),
                         mode == TensorMode::Column, ctx.tensor),
            sample_shape(positions, share(out_features, mode, TensorMode::Column, ctx.tensor),
                         mode == TensorMode::Row, ctx.tensor),
            ctx),
      in_(share(in_features, mode, TensorMode::Row, ctx.tensor)),
      out_(share(out_features, mode, TensorMode::Column, ctx.tensor)),
      rows_(positions ? positions : 1),
      mode_(ctx.tensor.on() ? mode : TensorMode::Replicated),
      tensor_(ctx.tensor) {
  const int parts = tensor_.size, part = tensor_.rank;
  const ParamSplit rows = mode == TensorMode::Column ? ParamSplit{0, groups, parts, part}
                                                     : ParamSplit{};  // of W, and of b
  weight_ = make_param("weight", {out_, in_},
                       mode == TensorMode::Row ? ParamSplit{1, 1, parts, part} : rows);
  if (bias) bias_ = make_param("bias", {out_}, rows);
  // A split layer's initial weights are drawn by its maker, whole and then sliced
  // (init_normal with the split): the default schemes draw the slice's shape only.
  if (mode_ == TensorMode::Replicated)
    init_parameters(init, ctx, in_, out_, weight_.value, bias ? &bias_.value : nullptr);
}

std::unique_ptr<Layer> Linear::create(Args& args, const Shape& input, const InitContext& ctx) {
  // A flat input, or a sequence of (positions, features) to which it applies position-wise.
  if (input.size() != 1 && input.size() != 2)
    args.fail("type", "linear expects a flat input or (positions, features), got " +
                          shape_str(input) +
                          " from the layer before; add {type: flatten} in "
                          "front of it");
  const int64_t features = input.back();
  const int64_t in = args.integer("in_features", features, 1);
  if (in != features)
    args.fail("in_features", "expected " + std::to_string(features) +
                                 " (the size the layer before produces), got " +
                                 std::to_string(in));
  const int64_t out = args.integer("out_features", std::nullopt, 1);
  const bool bias = args.boolean("bias", true);
  return std::make_unique<Linear>(in, out, bias, init_scheme_arg(args), ctx,
                                  input.size() == 2 ? input[0] : 0);
}

std::string Linear::describe() const {
  return std::to_string(in_) + " -> " + std::to_string(out_) +
         (bias_.name.empty() ? " no bias" : "");
}

// Under sequence parallelism a column-parallel linear gathers its input's rows from the group
// (and keeps only its own for backward, where it gathers them again, as Megatron does), and a
// row-parallel one reduce-scatters its output instead of all-reducing it.
Tensor Linear::forward(const Tensor& x, Stash& saved, const ForwardContext&) {
  const bool column = mode_ == TensorMode::Column, row = mode_ == TensorMode::Row;
  const Tensor input = column ? tensor_.all_rows(x) : x;
  const int64_t N = x.dim(0), rows = N * rows_;
  Tensor y = Tensor::empty({N, rows_, out_}, x.dtype(), x.device());
  // A row-parallel output is summed over the group: rank 0 alone adds the bias.
  Tensor y_rows = y.reshape({rows, out_});
  ops::linear_forward(input.reshape({rows, in_}), weight_.compute,
                      row && tensor_.rank != 0 ? Tensor() : bias_.compute, y_rows);
  saved.tensors = {x};
  return (row ? tensor_.sum_partials(y) : y).reshape(batched(output_shape(), N));
}

Tensor Linear::backward(const Tensor& dy, Stash& saved) {
  const bool column = mode_ == TensorMode::Column, row = mode_ == TensorMode::Row;
  const Tensor x = column ? tensor_.all_rows(saved.tensors.at(0)) : saved.tensors.at(0);
  saved.tensors.clear();
  const int64_t N = x.dim(0), rows = N * rows_;
  // A row-parallel layer's output gradient may come as this rank's rows: every rank needs all of
  // them (and computes the same whole bias gradient from them).
  const Tensor grad = row ? tensor_.all_rows(dy) : dy;
  Tensor dx = needs_input_grad() ? Tensor::empty({N, rows_, in_}, x.dtype(), x.device()) : Tensor();
  Tensor dx_rows = dx.defined() ? dx.reshape({rows, in_}) : dx;
  ops::linear_backward(x.reshape({rows, in_}), weight_.compute, grad.reshape({rows, out_}), dx_rows,
                       weight_.grad, bias_.grad);
  if (!dx.defined()) return dx;
  return (column ? tensor_.sum_partials(dx) : dx).reshape(batched(input_shape(), N));
}

// B: the input gradient alone; the stash keeps the input and the output gradient (all rows of
// it, for a row-parallel layer) for W.
Tensor Linear::backward_input(const Tensor& dy, Stash& saved) {
  const Tensor grad = mode_ == TensorMode::Row ? tensor_.all_rows(dy) : dy;
  saved.tensors.push_back(grad);
  if (!needs_input_grad()) return Tensor();
  const int64_t N = grad.dim(0), rows = N * rows_;
  Tensor dx = Tensor::empty({N, rows_, in_}, grad.dtype(), grad.device());
  Tensor dx_rows = dx.reshape({rows, in_});
  // x is not read for dx: a column-parallel layer gathers it in W only.
  ops::linear_input_grad(weight_.compute, grad.reshape({rows, out_}), dx_rows);
  return (mode_ == TensorMode::Column ? tensor_.sum_partials(dx) : dx)
      .reshape(batched(input_shape(), N));
}

// W: the parameters' gradients, from what B kept.
void Linear::backward_weights(Stash& saved) {
  const Tensor x =
      mode_ == TensorMode::Column ? tensor_.all_rows(saved.tensors.at(0)) : saved.tensors.at(0);
  const Tensor grad = saved.tensors.at(1);
  saved.tensors.clear();
  const int64_t rows = x.dim(0) * rows_;
  Tensor no_dx;
  ops::linear_backward(x.reshape({rows, in_}), weight_.compute, grad.reshape({rows, out_}), no_dx,
                       weight_.grad, bias_.grad);
}

std::vector<Param*> Linear::params() { return weight_and_bias(weight_, bias_); }

}  // namespace trainer
