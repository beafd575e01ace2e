#include "core/layers/embedding.h"

#include <algorithm>

#include "core/layers/init.h"
#include "core/ops.h"

namespace trainer {

Embedding::Embedding(int64_t positions, int64_t vocab, int64_t padded_vocab, int64_t channels,
                     int64_t max_positions, const InitContext& ctx)
    : Layer({positions}, ctx.tensor.rows_shape({positions, channels}), ctx),
      vocab_(vocab),
      padded_(padded_vocab),
      tensor_(ctx.tensor) {
  const ParamSplit rows{0, 1, tensor_.size, tensor_.rank};
  wte_ = make_param("wte", slice_shape({padded_vocab, channels}, rows), rows);
  wpe_ = make_param("wpe", {max_positions, channels});
  // GPT-2's initialisation: N(0, 0.02²) for both tables; the padding rows this rank holds zero.
  init_normal(ctx, "wpe", 0.02f, wpe_.value);
  init_normal(ctx, "wte", 0.02f, wte_.value, rows);
  if (ctx.shapes_only) return;
  const int64_t begin = vocab_begin(), end = begin + wte_.value.dim(0);
  const int64_t padding = std::max(vocab, begin);
  if (padding < end)
    wte_.value.view((padding - begin) * channels, {(end - padding) * channels}).zero();
}

std::unique_ptr<Layer> Embedding::create(Args& args, const Shape& input, const InitContext& ctx) {
  if (input.size() != 1)
    args.fail("type", "embedding expects token sequences (T) as input, got " + shape_str(input));
  const int64_t vocab = args.integer("vocab_size", std::nullopt, 1);
  const int64_t padded = args.integer("padded_vocab_size", vocab, 1);
  if (padded < vocab)
    args.fail("padded_vocab_size", "must be at least vocab_size (" + std::to_string(vocab) +
                                       "), got " + std::to_string(padded));
  const int64_t channels = args.integer("channels", std::nullopt, 1);
  const int64_t max_positions = args.integer("max_positions", input[0], 1);
  if (max_positions < input[0])
    args.fail("max_positions", "must be at least the sequence length " + std::to_string(input[0]) +
                                   ", got " + std::to_string(max_positions));
  return std::make_unique<Embedding>(input[0], vocab, padded, channels, max_positions, ctx);
}

std::string Embedding::describe() const {
  return "vocab " + std::to_string(vocab_) + " (" + std::to_string(padded_) + " rows) x " +
         std::to_string(wte_.value.dim(1)) + ", " + std::to_string(wpe_.value.dim(0)) +
         " positions";
}

// Under sequence parallelism the group's sum is reduce-scattered: each rank keeps its rows.
Tensor Embedding::forward(const Tensor& tokens, Stash& saved, const ForwardContext&) {
  const int64_t N = tokens.dim(0), T = tokens.dim(1);
  Tensor y = Tensor::empty({N, T, wte_.compute.dim(1)}, wte_.compute.dtype(), tokens.device());
  ops::embedding_forward(tokens, wte_.compute, wpe_.compute, y, vocab_begin(), tensor_.rank == 0);
  saved.tensors = {tokens};
  return tensor_.sum_partials(y);
}

Tensor Embedding::backward(const Tensor& dy, Stash& saved) {
  ops::embedding_backward(saved.tensors.at(0), tensor_.all_rows(dy), wte_.grad, wpe_.grad,
                          vocab_begin());
  saved.tensors.clear();
  return Tensor();  // the input is data: tokens have no gradient
}

// The input is data, so its whole backward is weight gradients: W, after the head's (which
// shares wte), in the order a whole backward adds them.
Tensor Embedding::backward_input(const Tensor& dy, Stash& saved) {
  saved.tensors.push_back(dy);
  return Tensor();
}

void Embedding::backward_weights(Stash& saved) {
  const Tensor dy = saved.tensors.at(1);
  backward(dy, saved);
}

}  // namespace trainer
