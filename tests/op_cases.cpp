#include "tests/op_cases.h"

#include "core/layers/activation.h"
#include "core/layers/attention.h"
#include "core/layers/conv2d.h"
#include "core/layers/dropout.h"
#include "core/layers/embedding.h"
#include "core/layers/flatten.h"
#include "core/layers/layer_norm.h"
#include "core/layers/linear.h"
#include "core/layers/maxpool2d.h"
#include "core/layers/transformer_block.h"
#include "tests/test_support.h"

namespace trainer::test {
namespace {

using Make = std::function<std::unique_ptr<Layer>(const InitContext&)>;

std::function<Tensor()> uniform(Shape shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  return [=] { return random_tensor(shape, seed, lo, hi); };
}

// Inputs at least 0.1 away from 0, where ReLU bends and finite differences would straddle it.
std::function<Tensor()> away_from_zero(Shape shape, uint64_t seed) {
  return [=] {
    Tensor x = random_tensor(shape, seed);
    for (int64_t i = 0; i < x.numel(); ++i) {
      float& v = x.f32()[i];
      v = v >= 0 ? v + 0.1f : v - 0.1f;
    }
    return x;
  };
}

// Distinct values at least 0.05 apart, so no perturbation of 1e-2 changes a pooling argmax.
std::function<Tensor()> spread(Shape shape, int64_t stride, int64_t period) {
  return [=] {
    Tensor x = Tensor::empty(shape);
    for (int64_t i = 0; i < x.numel(); ++i)
      x.f32()[i] = 0.05f * static_cast<float>((i * stride) % period);
    return x;
  };
}

std::function<Tensor()> tokens(Shape shape, int32_t vocab, uint64_t seed) {
  return [=] { return random_tokens(shape, vocab, seed); };
}

Make activation(ops::Activation f, Shape shape) {
  return [=](const InitContext& id) { return std::make_unique<ActivationLayer>(f, shape, id); };
}

std::vector<OpCase> build() {
  std::vector<OpCase> c;
  c.push_back({"linear",
               [](const InitContext& id) {
                 return std::make_unique<Linear>(5, 4, true, InitScheme::Default, id);
               },
               uniform({3, 5}, 1)});
  c.push_back({"linear_without_bias",
               [](const InitContext& id) {
                 return std::make_unique<Linear>(4, 3, false, InitScheme::Xavier, id);
               },
               uniform({2, 4}, 2)});
  c.push_back({"linear_over_positions",
               [](const InitContext& id) {
                 return std::make_unique<Linear>(5, 3, true, InitScheme::Default, id, 4);
               },
               uniform({2, 4, 5}, 3)});
  c.push_back(
      {"conv2d",
       [](const InitContext& id) {
         return std::make_unique<Conv2d>(Shape{2, 5, 5}, 3, 3, 1, 0, true, InitScheme::Default, id);
       },
       uniform({2, 2, 5, 5}, 3)});
  c.push_back(
      {"conv2d_stride_padding",
       [](const InitContext& id) {
         return std::make_unique<Conv2d>(Shape{2, 6, 5}, 3, 3, 2, 1, true, InitScheme::He, id);
       },
       uniform({2, 2, 6, 5}, 4)});
  c.push_back({"maxpool2d",
               [](const InitContext& id) {
                 return std::make_unique<MaxPool2d>(Shape{2, 4, 6}, 2, 2, id.layer_index);
               },
               spread({2, 2, 4, 6}, 37, 96), 0.0, 0.0});
  c.push_back({"maxpool2d_overlapping",
               [](const InitContext& id) {
                 return std::make_unique<MaxPool2d>(Shape{1, 5, 5}, 3, 1, id.layer_index);
               },
               spread({1, 1, 5, 5}, 7, 25), 0.0, 0.0});
  c.push_back(
      {"relu", activation(ops::Activation::ReLU, {7}), away_from_zero({3, 7}, 5), 1e-6, 1e-6});
  c.push_back(
      {"gelu", activation(ops::Activation::GELU, {7}), away_from_zero({3, 7}, 5), 1e-6, 1e-6});
  c.push_back({"gelu_tanh", activation(ops::Activation::GELUTanh, {9}),
               uniform({2, 9}, 6, -3.0f, 3.0f), 1e-6, 1e-6});
  c.push_back(
      {"tanh", activation(ops::Activation::Tanh, {7}), away_from_zero({3, 7}, 5), 1e-6, 1e-6});
  c.push_back({"sigmoid", activation(ops::Activation::Sigmoid, {7}), away_from_zero({3, 7}, 5),
               1e-6, 1e-6});
  c.push_back({"flatten",
               [](const InitContext& id) {
                 return std::make_unique<Flatten>(Shape{2, 3, 2}, id.layer_index);
               },
               uniform({2, 2, 3, 2}, 6), 0.0, 0.0});
  c.push_back({"dropout",
               [](const InitContext& id) { return std::make_unique<Dropout>(Shape{50}, 0.3f, id); },
               uniform({4, 50}, 7), 0.0, 0.0});
  c.push_back({"layer_norm",
               [](const InitContext& id) {
                 return std::make_unique<LayerNorm>(Shape{3, 6}, id);
               },
               uniform({2, 3, 6}, 1, -2.0f, 2.0f), 1e-5, 1e-5, /*randomize_params=*/true});
  c.push_back({"attention",
               [](const InitContext& id) {
                 return std::make_unique<CausalSelfAttention>(5, 6, 2, id);  // 2 heads of 3
               },
               uniform({2, 5, 18}, 2, -1.5f, 1.5f)});
  c.push_back(
      {"attention_row_blocks",  // 40 positions: a 32-row block and an 8-row one
       [](const InitContext& id) { return std::make_unique<CausalSelfAttention>(40, 4, 2, id); },
       uniform({1, 40, 12}, 3, -1.5f, 1.5f)});
  c.push_back({"embedding",
               [](const InitContext& id) {  // vocabulary 7 padded to 8, 4 channels, 6 positions
                 return std::make_unique<Embedding>(5, 7, 8, 4, 6, id);
               },
               tokens({3, 5}, 7, 8)});
  c.push_back({"transformer_block",
               [](const InitContext& id) { return transformer_block(4, 8, 2, 2, id); },
               uniform({2, 4, 8}, 9), 1e-5, 1e-4});
  return c;
}

}  // namespace

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = build();
  return cases;
}

ForwardContext op_context() { return {true, 7, 3, 0}; }

}  // namespace trainer::test
