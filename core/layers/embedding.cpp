#include "core/layers/embedding.h"

#include "core/layers/init.h"
#include "core/ops.h"

namespace trainer {

Embedding::Embedding(int64_t positions, int64_t vocab, int64_t padded_vocab, int64_t channels,
                     int64_t max_positions, const InitContext& ctx)
    : Layer({positions}, {positions, channels}, ctx), vocab_(vocab) {
  wte_ = make_param("wte", {padded_vocab, channels});
  wpe_ = make_param("wpe", {max_positions, channels});
  // GPT-2's initialisation: N(0, 0.02²) for both tables.
  init_normal(ctx, "wte", 0.02f, wte_.value);
  init_normal(ctx, "wpe", 0.02f, wpe_.value);
  wte_.value.view(vocab * channels, {(padded_vocab - vocab) * channels}).zero();
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
  return "vocab " + std::to_string(vocab_) + " (" + std::to_string(wte_.value.dim(0)) +
         " rows) x " + std::to_string(wte_.value.dim(1)) + ", " +
         std::to_string(wpe_.value.dim(0)) + " positions";
}

Tensor Embedding::forward(const Tensor& tokens, Stash& saved, const ForwardContext&) {
  Tensor y =
      Tensor::empty(batched(output_shape(), tokens.dim(0)), wte_.compute.dtype(), tokens.device());
  ops::embedding_forward(tokens, wte_.compute, wpe_.compute, y);
  saved.tensors = {tokens};
  return y;
}

Tensor Embedding::backward(const Tensor& dy, Stash& saved) {
  ops::embedding_backward(saved.tensors.at(0), dy, wte_.grad, wpe_.grad);
  saved.tensors.clear();
  return Tensor();  // the input is data: tokens have no gradient
}

}  // namespace trainer
