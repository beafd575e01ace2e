// Every layer's backward against central finite differences of its forward.
//
// The scalar checked is f = Σ y·r for a fixed random r, accumulated in double, so dy = r. With
// f32 forward passes and eps = 1e-2 the truncation and rounding errors are both below 1e-3 for
// these sizes; the tolerance 2e-3 + 1e-2 relative leaves room for neither to hide a wrong term.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/layers/activation.h"
#include "core/layers/conv2d.h"
#include "core/layers/dropout.h"
#include "core/layers/flatten.h"
#include "core/layers/linear.h"
#include "core/layers/maxpool2d.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

constexpr float kEps = 1e-2f;
const ForwardContext kCtx{true, 7, 3, 0};

double objective(Layer& layer, const Tensor& x, const Tensor& r) {
  Stash s;
  Tensor y = layer.forward(x, s, kCtx);
  double f = 0.0;
  for (int64_t i = 0; i < y.numel(); ++i) f += static_cast<double>(y.f32()[i]) * r.f32()[i];
  return f;
}

// d objective / d v[i] by central differences, perturbing v in place.
double numeric(Layer& layer, const Tensor& x, const Tensor& r, float* v) {
  const float keep = *v;
  *v = keep + kEps;
  const double up = objective(layer, x, r);
  *v = keep - kEps;
  const double down = objective(layer, x, r);
  *v = keep;
  return (up - down) / (2.0 * kEps);
}

void expect_close(double analytic, double num, const std::string& what) {
  EXPECT_NEAR(analytic, num, 2e-3 + 1e-2 * std::fabs(num)) << what;
}

void check_gradients(Layer& layer, Tensor x) {
  layer.set_needs_input_grad(true);
  Shape out{x.dim(0)};
  for (int64_t d : layer.output_shape()) out.push_back(d);
  const Tensor r = test::random_tensor(out, 99);
  for (Param* p : layer.params()) p->grad.zero();
  Stash s;
  layer.forward(x, s, kCtx);
  const Tensor dx = layer.backward(r, s);
  ASSERT_EQ(dx.shape(), x.shape());
  for (int64_t i = 0; i < x.numel(); ++i)
    expect_close(dx.f32()[i], numeric(layer, x, r, x.f32() + i), "dx[" + std::to_string(i) + "]");
  for (Param* p : layer.params())
    for (int64_t i = 0; i < p->value.numel(); ++i)
      expect_close(p->grad.f32()[i], numeric(layer, x, r, p->value.f32() + i),
                   p->name + "[" + std::to_string(i) + "]");
}

// Inputs kept at least 0.1 away from 0, where ReLU bends and finite differences would straddle it.
Tensor away_from_zero(const Shape& shape, uint64_t seed) {
  Tensor x = test::random_tensor(shape, seed);
  for (int64_t i = 0; i < x.numel(); ++i) {
    float& v = x.f32()[i];
    v = v >= 0 ? v + 0.1f : v - 0.1f;
  }
  return x;
}

TEST(LayerGradTest, Linear) {
  Linear layer(5, 4, true, InitScheme::Default, {1, 0});
  check_gradients(layer, test::random_tensor({3, 5}, 1));
}

TEST(LayerGradTest, LinearWithoutBias) {
  Linear layer(4, 3, false, InitScheme::Xavier, {1, 0});
  check_gradients(layer, test::random_tensor({2, 4}, 2));
}

TEST(LayerGradTest, Conv2dPlain) {
  Conv2d layer({2, 5, 5}, 3, 3, 1, 0, true, InitScheme::Default, {1, 0});
  check_gradients(layer, test::random_tensor({2, 2, 5, 5}, 3));
}

TEST(LayerGradTest, Conv2dStrideAndPadding) {
  Conv2d layer({2, 6, 5}, 3, 3, 2, 1, true, InitScheme::He, {1, 1});
  EXPECT_EQ(layer.output_shape(), (Shape{3, 3, 3}));
  check_gradients(layer, test::random_tensor({2, 2, 6, 5}, 4));
}

TEST(LayerGradTest, MaxPool2d) {
  MaxPool2d layer({2, 4, 6}, 2, 2, 0);
  // Distinct values at least 0.05 apart, so no perturbation of 1e-2 changes a window's argmax.
  Tensor x = Tensor::empty({2, 2, 4, 6});
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = 0.05f * static_cast<float>((i * 37) % 96);
  check_gradients(layer, x);
}

TEST(LayerGradTest, MaxPool2dOverlapping) {
  MaxPool2d layer({1, 5, 5}, 3, 1, 0);
  Tensor x = Tensor::empty({1, 1, 5, 5});
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = 0.05f * static_cast<float>((i * 7) % 25);
  check_gradients(layer, x);
}

TEST(LayerGradTest, Activations) {
  for (auto f : {ops::Activation::ReLU, ops::Activation::GELU, ops::Activation::Tanh,
                 ops::Activation::Sigmoid}) {
    ActivationLayer layer(f, {7}, InitContext{});
    SCOPED_TRACE(layer.type());
    check_gradients(layer, away_from_zero({3, 7}, 5));
  }
}

TEST(LayerGradTest, Flatten) {
  Flatten layer({2, 3, 2}, 0);
  check_gradients(layer, test::random_tensor({2, 2, 3, 2}, 6));
}

TEST(LayerGradTest, Dropout) {
  Dropout layer({50}, 0.3f, InitContext{0, 0});
  check_gradients(layer, test::random_tensor({4, 50}, 7));
}

TEST(LayerGradTest, DropoutScalesKeptUnitsAndIsIdentityInEvaluation) {
  Dropout layer({1000}, 0.25f, InitContext{0, 0});
  Tensor x = Tensor::empty({2, 1000});
  x.fill(1.0f);
  Stash s;
  Tensor y = layer.forward(x, s, kCtx);
  int64_t dropped = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    const float v = y.f32()[i];
    ASSERT_TRUE(v == 0.0f || std::fabs(v - 1.0f / 0.75f) < 1e-6f) << v;
    dropped += v == 0.0f;
  }
  EXPECT_NEAR(static_cast<double>(dropped) / 2000.0, 0.25, 0.03);
  ForwardContext eval = kCtx;
  eval.training = false;
  Tensor z = layer.forward(x, s, eval);
  for (int64_t i = 0; i < z.numel(); ++i) ASSERT_EQ(z.f32()[i], 1.0f);
}

TEST(LayerGradTest, DropoutMaskDependsOnGlobalSampleIndexNotOnBatchSplit) {
  Dropout layer({64}, 0.5f, InitContext{0, 3});
  Tensor x = test::random_tensor({4, 64}, 8);
  Stash s;
  Tensor whole = layer.forward(x, s, kCtx).clone();
  ForwardContext second_half = kCtx;
  second_half.sample_offset = 2;
  Tensor half = layer.forward(x.slice0(2, 4), s, second_half);
  for (int64_t i = 0; i < half.numel(); ++i) ASSERT_EQ(half.f32()[i], whole.f32()[2 * 64 + i]);
}

TEST(LayerGradTest, InitialWeightsDependOnlyOnSeedAndLayerIndex) {
  Linear a(8, 4, true, InitScheme::Default, {5, 2});
  Linear b(8, 4, true, InitScheme::Default, {5, 2});
  Linear c(8, 4, true, InitScheme::Default, {5, 3});
  const Tensor& wa = a.params()[0]->value;
  const Tensor& wb = b.params()[0]->value;
  const Tensor& wc = c.params()[0]->value;
  int64_t differ = 0;
  for (int64_t i = 0; i < wa.numel(); ++i) {
    ASSERT_EQ(wa.f32()[i], wb.f32()[i]);
    differ += wa.f32()[i] != wc.f32()[i];
    // PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    ASSERT_LE(std::fabs(wa.f32()[i]), 1.0f / std::sqrt(8.0f));
  }
  EXPECT_GT(differ, 0);
}

}  // namespace
}  // namespace trainer
