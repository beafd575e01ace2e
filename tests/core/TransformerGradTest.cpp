// The transformer beyond its single layers (which the op table checks against finite
// differences): causality, GELU's values, parameter paths, the tied embedding, and a whole tiny
// GPT's gradients of its mean per-token cross-entropy against finite differences (eps 1e-2,
// tolerance 2e-3 + 1e-2 relative, as in LayerGradTest).
#include <gtest/gtest.h>

#include <cmath>

#include "core/allocator.h"
#include "core/layers/activation.h"
#include "core/layers/attention.h"
#include "core/layers/embedding.h"
#include "core/layers/layer_norm.h"
#include "core/layers/linear.h"
#include "core/layers/lm_head.h"
#include "core/layers/transformer_block.h"
#include "core/model.h"
#include "core/ops.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

const ForwardContext kCtx{true, 7, 3, 0};

TEST(TransformerGradTest, AttentionIsCausal) {
  // Changing the last position's q, k or v changes no output before it.
  CausalSelfAttention layer(4, 4, 2, {1, 0});
  Tensor x = test::random_tensor({1, 4, 12}, 3);
  Stash s;
  const Tensor a = layer.forward(x, s, kCtx).clone();
  for (int64_t c = 0; c < 12; ++c) x.f32()[3 * 12 + c] += 1.0f;
  const Tensor b = layer.forward(x, s, kCtx);
  for (int64_t i = 0; i < 3 * 4; ++i) ASSERT_EQ(a.f32()[i], b.f32()[i]) << i;
  EXPECT_NE(a.f32()[3 * 4], b.f32()[3 * 4]);
}

TEST(TransformerGradTest, GeluTanhIsPyTorchs) {
  ActivationLayer layer(ops::Activation::GELUTanh, {2}, {1, 0});
  // PyTorch's gelu(approximate="tanh") at 1.0 and -0.5.
  Tensor x = Tensor::empty({1, 2});
  x.f32()[0] = 1.0f;
  x.f32()[1] = -0.5f;
  Stash s;
  const Tensor y = layer.forward(x, s, kCtx);
  EXPECT_NEAR(y.f32()[0], 0.8411920f, 1e-6);
  EXPECT_NEAR(y.f32()[1], -0.1542860f, 1e-6);
}

TEST(TransformerGradTest, BlockParametersArePathsInsideTheirEntry) {
  auto block = transformer_block(4, 8, 2, 2, {1, 3});
  std::vector<std::string> names;
  for (Param* p : block->params()) names.push_back(p->name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"3.attn.ln.weight", "3.attn.ln.bias", "3.attn.qkv.weight",
                                      "3.attn.qkv.bias", "3.attn.proj.weight", "3.attn.proj.bias",
                                      "3.mlp.ln.weight", "3.mlp.ln.bias", "3.mlp.fc.weight",
                                      "3.mlp.fc.bias", "3.mlp.proj.weight", "3.mlp.proj.bias"}));
}

// A tiny GPT: vocabulary 11 (padded to 12), 5 positions, 8 channels, 2 blocks of 2 heads. Its
// logits are (5, 12), the last column -inf.
std::unique_ptr<Model> tiny_gpt() {
  auto model = std::make_unique<Model>(Shape{5}, 17);
  model->add(std::make_unique<Embedding>(5, 11, 12, 8, 5, model->next_init()));
  for (int i = 0; i < 2; ++i) model->add(transformer_block(5, 8, 2, 2, model->next_init()));
  model->add(std::make_unique<LayerNorm>(Shape{5, 8}, model->next_init()));
  model->add(std::make_unique<LmHead>(5, 8, 11, model->next_init()));
  return model;
}

// A block built for its costs alone (a --dry-run plan) has the costs of an initialised one, and
// its parameters have no storage: a block of 4096 channels (1.6 GB of weights and gradients)
// adds almost nothing to the process's memory.
TEST(TransformerGradTest, ABlockBuiltForItsCostsAloneTouchesNoMemory) {
  InitContext plan{17, 1};
  plan.shapes_only = true;
  const auto costs = [](Layer& l) {
    int64_t params = 0;
    for (Param* p : l.params()) params += p->value.numel();
    return std::vector<int64_t>{params, l.flops_per_sample(), l.stash_bytes_per_sample()};
  };
  auto real = transformer_block(5, 8, 2, 2, InitContext{17, 1});
  auto planned = transformer_block(5, 8, 2, 2, plan);
  EXPECT_EQ(costs(*planned), costs(*real));
  EXPECT_EQ(planned->output_shape(), real->output_shape());
  const int64_t before = peak_resident_bytes();
  auto big = transformer_block(16, 4096, 32, 2, plan);
  EXPECT_EQ(costs(*big)[0], 12 * 4096 * 4096 + 13 * 4096);
  for (Param* p : big->params()) EXPECT_FALSE(p->value.defined() || p->grad.defined()) << p->name;
  EXPECT_LT(peak_resident_bytes() - before, int64_t{100} << 20);
}

TEST(TransformerGradTest, TiedEmbeddingIsOneParameterWithTwoUsers) {
  auto model = tiny_gpt();
  const std::vector<Param*> params = model->params();
  int64_t wte = 0;
  for (Param* p : params) wte += p->name == "0.embedding.wte";
  EXPECT_EQ(wte, 1);
  EXPECT_TRUE(model->layer(4).params().empty());
  // 12x8 + 5x8, 2 blocks of 4x8 + (8x24+24) + (8x8+8) + (8x32+32) + (32x8+8), 2x8.
  EXPECT_EQ(model->parameter_count(), 96 + 40 + 2 * (32 + 216 + 72 + 288 + 264) + 16);
}

TEST(TransformerGradTest, WholeModelAgainstFiniteDifferences) {
  auto model = tiny_gpt();
  // GPT-2's N(0, 0.02²) embeddings give the first layer norm inputs of spread ~0.03, against
  // which eps = 1e-2 is no small step; U(-1, 1) keeps the differences' truncation error small.
  for (Param* p : model->layer(0).params())
    p->value.copy_from(test::random_tensor(p->value.shape(), 23));
  const Tensor x = test::random_tokens({2, 5}, 11, 21), y = test::random_tokens({2, 5}, 11, 22);
  const int64_t rows = 10;
  Tensor none;
  auto loss = [&] {
    ModelStash s;
    const Tensor logits = model->forward(x, s, kCtx);
    return test::loss_sums(ops::cross_entropy, logits.reshape({rows, 12}), y.reshape({rows}), 1.0f,
                           none)
               .loss /
           rows;
  };
  model->zero_grad();
  ModelStash s;
  const Tensor logits = model->forward(x, s, kCtx);
  // The head computes all 12 rows of wte; the padding row's logit is -inf, so the loss is the one
  // over the 11 real tokens and the padding row gets no gradient at all.
  ASSERT_EQ(logits.shape(), (Shape{2, 5, 12}));
  EXPECT_EQ(model->classes(), 11);
  for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(logits.f32()[r * 12 + 11], -INFINITY) << r;
  Tensor d = Tensor::empty({rows, 12});
  test::loss_sums(ops::cross_entropy, logits.reshape({rows, 12}), y.reshape({rows}), 1.0f / rows,
                  d);
  model->backward(d.reshape(logits.shape()), s);
  const Param& wte = *model->layer(0).params().at(0);
  ASSERT_EQ(wte.name, "0.embedding.wte");
  for (int64_t c = 0; c < 8; ++c) EXPECT_EQ(wte.grad.f32()[11 * 8 + c], 0.0f) << c;
  int64_t checked = 0;
  for (Param* p : model->params())
    for (int64_t i = 0; i < p->value.numel(); ++i, ++checked)
      test::expect_gradient_close(p->grad.f32()[i],
                                  test::central_difference(loss, p->value.f32() + i),
                                  p->name + "[" + std::to_string(i) + "]");
  EXPECT_EQ(checked, model->parameter_count());
}

// Activation recompute (train.recompute): the blocks keep only their inputs, run forward again in
// backward, and every gradient and the input gradient come out bit-identical.
TEST(TransformerGradTest, RecomputedBlocksGiveTheSameGradientsBitForBit) {
  const Tensor x = test::random_tokens({3, 5}, 11, 31), y = test::random_tokens({3, 5}, 11, 32);
  auto gradients = [&](const std::vector<bool>& recompute) {
    auto model = tiny_gpt();
    model->set_recompute(recompute);
    model->zero_grad();
    ModelStash s;
    const Tensor logits = model->forward(x, s, kCtx);
    for (size_t i = 0; i < recompute.size(); ++i) {  // a recomputed block kept its input alone
      EXPECT_EQ(s[i].replay.has_value(), recompute[i]) << i;
      if (recompute[i]) {
        EXPECT_EQ(s[i].tensors.size(), 1u) << i;
      }
    }
    Tensor d = Tensor::empty({15, 12});
    test::loss_sums(ops::cross_entropy, logits.reshape({15, 12}), y.reshape({15}), 1.0f / 15, d);
    model->backward(d.reshape(logits.shape()), s);
    return test::gradient_values(*model);
  };
  const std::vector<float> kept = gradients({});
  EXPECT_EQ(gradients({false, true, true, false, false}), kept);
  EXPECT_EQ(gradients({false, true, false, false, false}), kept);
}

// Zero-bubble schedules split backward into B (input gradients) and W (weight gradients), W
// deferred past later micro-batches' B's. Two micro-batches through B, B, W, W give the same
// parameter and input gradients, bit for bit, as two fused backwards: on a whole GPT (tied head,
// a recomputed block) and on a later pipeline stage's layers (whose input gradient is sent back).
TEST(TransformerGradTest, SplitBackwardGivesTheFusedGradientsBitForBit) {
  const auto later_stage = [] {
    auto model = std::make_unique<Model>(Shape{5, 8}, 17, 1);
    for (int i = 0; i < 2; ++i) model->add(transformer_block(5, 8, 2, 2, model->next_init()));
    model->add(std::make_unique<Linear>(8, 11, true, InitScheme::Default, model->next_init(), 5));
    return model;
  };
  for (const bool whole : {true, false}) {
    SCOPED_TRACE(whole ? "whole GPT" : "later stage");
    const auto inputs = [&](uint64_t seed) {
      return whole ? test::random_tokens({3, 5}, 11, seed) : test::random_tensor({3, 5, 8}, seed);
    };
    const Tensor x[2] = {inputs(41), inputs(42)};
    const Tensor y[2] = {test::random_tokens({3, 5}, 11, 43), test::random_tokens({3, 5}, 11, 44)};
    auto run = [&](bool split, std::vector<std::vector<float>>& input_grads) {
      auto model = whole ? tiny_gpt() : later_stage();
      if (whole) model->set_recompute({false, true, false, false, false});
      model->zero_grad();
      ModelStash s[2];
      Tensor d[2];
      for (int mb = 0; mb < 2; ++mb) {
        const Tensor logits = model->forward(x[mb], s[mb], kCtx);
        const int64_t width = logits.numel() / 15;  // the head's 12 padded columns, or 11
        d[mb] = Tensor::empty({15, width});
        test::loss_sums(ops::cross_entropy, logits.reshape({15, width}), y[mb].reshape({15}),
                        1.0f / 15, d[mb]);
        d[mb] = d[mb].reshape(logits.shape());
      }
      for (int mb = 0; mb < 2; ++mb) {
        const Tensor dx =
            split ? model->backward_input(d[mb], s[mb]) : model->backward(d[mb], s[mb]);
        EXPECT_EQ(dx.defined(), !whole);
        if (dx.defined()) input_grads.emplace_back(dx.f32(), dx.f32() + dx.numel());
      }
      if (split)
        for (int mb = 0; mb < 2; ++mb) model->backward_weights(s[mb]);
      return test::gradient_values(*model);
    };
    std::vector<std::vector<float>> fused_dx, split_dx;
    const std::vector<float> fused = run(false, fused_dx);
    EXPECT_EQ(run(true, split_dx), fused);
    EXPECT_EQ(split_dx, fused_dx);
  }
}

}  // namespace
}  // namespace trainer
