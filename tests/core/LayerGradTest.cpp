// Every layer's backward against central finite differences of its forward: each case of the
// op table (tests/op_cases.h), then the behaviours of single layers that a table does not show.
//
// The scalar checked is f = Σ y·r for a fixed random r, accumulated in double, so dy = r. With
// f32 forward passes and eps = 1e-2 the truncation and rounding errors are both below 1e-3 for
// these sizes; the tolerance 2e-3 + 1e-2 relative leaves room for neither to hide a wrong term.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/error.h"
#include "core/layers/dropout.h"
#include "core/layers/linear.h"
#include "core/ops.h"
#include "core/rng.h"
#include "tests/op_cases.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

const ForwardContext kCtx = test::op_context();

double objective(Layer& layer, const Tensor& x, const Tensor& r) {
  Stash s;
  Tensor y = layer.forward(x, s, kCtx);
  double f = 0.0;
  for (int64_t i = 0; i < y.numel(); ++i) f += static_cast<double>(y.f32()[i]) * r.f32()[i];
  return f;
}

// dx (for float inputs: tokens have none) and every parameter's gradient.
void check_gradients(Layer& layer, Tensor x) {
  layer.set_needs_input_grad(true);
  Shape out{x.dim(0)};
  for (int64_t d : layer.output_shape()) out.push_back(d);
  const Tensor r = test::random_tensor(out, 99);
  for (Param* p : layer.params()) p->grad.zero();
  Stash s;
  layer.forward(x, s, kCtx);
  const Tensor dx = layer.backward(r, s);
  auto f = [&] { return objective(layer, x, r); };
  if (x.dtype() == DType::F32) {
    ASSERT_EQ(dx.shape(), x.shape());
    for (int64_t i = 0; i < x.numel(); ++i)
      test::expect_gradient_close(dx.f32()[i], test::central_difference(f, x.f32() + i),
                                  "dx[" + std::to_string(i) + "]");
  }
  for (Param* p : layer.params())
    for (int64_t i = 0; i < p->value.numel(); ++i)
      test::expect_gradient_close(p->grad.f32()[i], test::central_difference(f, p->value.f32() + i),
                                  p->name + "[" + std::to_string(i) + "]");
}

class OpTable : public ::testing::TestWithParam<test::OpCase> {};

TEST_P(OpTable, BackwardMatchesFiniteDifferences) {
  const test::OpCase& c = GetParam();
  std::unique_ptr<Layer> layer = c.make({1, 1});
  if (c.randomize_params)
    for (Param* p : layer->params())
      p->value.copy_from(test::random_tensor(p->value.shape(), 4, 0.5f, 1.5f));
  check_gradients(*layer, c.input());
}

INSTANTIATE_TEST_SUITE_P(LayerGradTest, OpTable, ::testing::ValuesIn(test::op_cases()),
                         [](const auto& info) { return info.param.name; });

// An op given tensors that do not fit says which and how, one line (made only when it fails).
TEST(LayerGradTest, AnOpGivenShapesThatDoNotFitNamesThem) {
  const Tensor x = Tensor::zeros({2, 3}), w = Tensor::zeros({4, 5}), b;
  Tensor y = Tensor::zeros({2, 4});
  try {
    ops::linear_forward(x, w, b, y);
    ADD_FAILURE() << "no error";
  } catch (const InternalError& e) {
    EXPECT_EQ(std::string(e.what()), "linear_forward: x [2, 3] w [4, 5] y [2, 4]");
  }
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

// The mask drawn where it is applied is the one the sample's stream gives (what the CPU drew
// before into a stored mask, so runs keep their masks): element i kept unless the stream's
// (i + 1)-th uniform is below p. Backward draws the same mask again.
TEST(LayerGradTest, DropoutDrawsEachSampleFromItsOwnStreamInForwardAndBackward) {
  Dropout layer({300}, 0.4f, InitContext{0, 5});
  ForwardContext ctx = kCtx;
  ctx.seed = 11;
  ctx.step = 4;
  ctx.sample_offset = 6;
  Tensor x = Tensor::empty({3, 300});
  x.fill(1.0f);
  Stash s;
  const Tensor y = layer.forward(x, s, ctx).clone();
  const Tensor dx = layer.backward(x, s);
  for (int64_t n = 0; n < 3; ++n) {
    Rng rng(make_key({static_cast<uint64_t>(RngPurpose::Dropout), 11, layer.random_key(), 4,
                      static_cast<uint64_t>(6 + n)}));
    for (int64_t i = 0; i < 300; ++i) {
      const float want = rng.uniform() < 0.4f ? 0.0f : 1.0f / 0.6f;
      ASSERT_EQ(y.f32()[n * 300 + i], want) << n << " " << i;
      ASSERT_EQ(dx.f32()[n * 300 + i], want) << n << " " << i;
    }
  }
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
