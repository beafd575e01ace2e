#include "core/layers/transformer_block.h"

#include <cmath>

#include "core/layers/activation.h"
#include "core/layers/attention.h"
#include "core/layers/block.h"
#include "core/layers/init.h"
#include "core/layers/layer_norm.h"
#include "core/layers/linear.h"

namespace trainer {

// A linear layer over the T positions with GPT-2's initial weights (this rank's slice of them
// under tensor parallelism).
static std::unique_ptr<Layer> gpt_linear(int64_t T, int64_t in, int64_t out, float stddev,
                                         const InitContext& ctx, TensorMode mode,
                                         int64_t groups = 1) {
  auto l = std::make_unique<Linear>(in, out, true, InitScheme::Default, ctx, T, mode, groups);
  init_normal(ctx, "weight", stddev, l->weight().value, l->weight().split);
  if (!ctx.shapes_only) l->bias().value.zero();
  return l;
}

std::unique_ptr<Layer> make_transformer_block(Args& args, const Shape& input,
                                              const InitContext& ctx) {
  if (input.size() != 2)
    args.fail("type", "transformer_block expects (positions, channels) as input, got " +
                          shape_str(input) + "; put an embedding in front of it");
  const int64_t heads = args.integer("heads", std::nullopt, 1);
  if (input[1] % heads != 0)
    args.fail("heads", std::to_string(heads) + " heads do not divide the " +
                           std::to_string(input[1]) + " channels");
  const int64_t layers = args.integer("layers", args.integer("repeat", 1, 1), 1);
  return transformer_block(ctx.tensor.positions(input), input[1], heads, layers, ctx);
}

std::unique_ptr<Layer> transformer_block(int64_t T, int64_t C, int64_t heads, int64_t layers,
                                         const InitContext& ctx) {
  const float proj_std = 0.02f / std::sqrt(2.0f * static_cast<float>(layers));
  // Under tensor parallelism each rank holds heads / T heads (their q, k and v rows of qkv, their
  // columns of the projection) and 4C / T of the MLP's hidden units; the layer norms are whole.
  using M = TensorMode;
  const int64_t t = ctx.tensor.size;

  const InitContext a = ctx.child("attn"), m = ctx.child("mlp");
  std::vector<Block::Child> attn;
  // Under sequence parallelism the residual stream and the layer norms hold this rank's rows.
  const Shape rows = ctx.tensor.rows_shape({T, C});
  attn.emplace_back("ln", std::make_unique<LayerNorm>(rows, a.child("ln")));
  attn.emplace_back("qkv", gpt_linear(T, C, 3 * C, 0.02f, a.child("qkv"), M::Column, 3));
  attn.emplace_back("core",
                    std::make_unique<CausalSelfAttention>(T, C / t, heads / t, a.child("core")));
  attn.emplace_back("proj", gpt_linear(T, C, C, proj_std, a.child("proj"), M::Row));
  std::vector<Block::Child> mlp;
  mlp.emplace_back("ln", std::make_unique<LayerNorm>(rows, m.child("ln")));
  mlp.emplace_back("fc", gpt_linear(T, C, 4 * C, 0.02f, m.child("fc"), M::Column));
  mlp.emplace_back("gelu", std::make_unique<ActivationLayer>(ops::Activation::GELUTanh,
                                                             Shape{T, 4 * C / t}, m.child("gelu")));
  mlp.emplace_back("proj", gpt_linear(T, 4 * C, C, proj_std, m.child("proj"), M::Row));

  std::vector<Block::Child> block;
  block.emplace_back("attn", std::make_unique<Block>("attention", std::move(attn), true, a));
  block.emplace_back("mlp", std::make_unique<Block>("mlp", std::move(mlp), true, m));
  return std::make_unique<Block>("transformer_block", std::move(block), false, ctx);
}

}  // namespace trainer
