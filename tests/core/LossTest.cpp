// Losses against values computed by hand (with Python's math module for the exponentials).
#include <gtest/gtest.h>

#include <cmath>

#include "core/ops.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

Tensor logits_of(std::initializer_list<float> v, int64_t rows) {
  Tensor t = Tensor::empty({rows, static_cast<int64_t>(v.size()) / rows});
  int64_t i = 0;
  for (float x : v) t.f32()[i++] = x;
  return t;
}

Tensor labels_of(std::initializer_list<int32_t> v) {
  Tensor t = Tensor::empty({static_cast<int64_t>(v.size())}, DType::I32);
  int64_t i = 0;
  for (int32_t x : v) t.i32()[i++] = x;
  return t;
}

TEST(LossTest, CrossEntropyValueAndGradient) {
  Tensor logits = logits_of({1, 2, 3}, 1);
  Tensor labels = labels_of({2});
  Tensor d = Tensor::empty({1, 3});
  const ops::LossSums s = test::loss_sums(ops::cross_entropy, logits, labels, 0.5f, d);
  EXPECT_NEAR(s.loss, 0.40760596444438013, 1e-6);  // log(e + e^2 + e^3) - 3
  EXPECT_EQ(s.correct, 1);
  // (softmax - onehot) * 0.5
  EXPECT_NEAR(d.f32()[0], 0.5 * 0.09003057317038046, 1e-7);
  EXPECT_NEAR(d.f32()[1], 0.5 * 0.24472847105479767, 1e-7);
  EXPECT_NEAR(d.f32()[2], 0.5 * (0.6652409557748219 - 1.0), 1e-7);
}

TEST(LossTest, CrossEntropyIsStableForHugeLogits) {
  Tensor logits = logits_of({1000, 0, -1000, 1000, 0, -1000}, 2);
  Tensor labels = labels_of({0, 1});
  Tensor d = Tensor::empty({2, 3});
  const ops::LossSums s = test::loss_sums(ops::cross_entropy, logits, labels, 1.0f, d);
  EXPECT_NEAR(s.loss, 1000.0, 1e-9);  // row 0 contributes 0, row 1 contributes 1000
  EXPECT_EQ(s.correct, 1);
  for (int64_t i = 0; i < 6; ++i) EXPECT_TRUE(std::isfinite(d.f32()[i]));
  EXPECT_NEAR(d.f32()[3], 1.0f, 1e-6);
  EXPECT_NEAR(d.f32()[4], -1.0f, 1e-6);
}

TEST(LossTest, MeanSquaredErrorAgainstOneHot) {
  Tensor logits = logits_of({0.5f, 0.2f, -0.1f}, 1);
  Tensor labels = labels_of({0});
  Tensor d = Tensor::empty({1, 3});
  const ops::LossSums s = test::loss_sums(ops::mse, logits, labels, 1.0f, d);
  EXPECT_NEAR(s.loss, (0.25 + 0.04 + 0.01) / 3.0, 1e-7);
  EXPECT_NEAR(d.f32()[0], 2.0 * -0.5 / 3.0, 1e-7);
  EXPECT_NEAR(d.f32()[1], 2.0 * 0.2 / 3.0, 1e-7);
  EXPECT_NEAR(d.f32()[2], 2.0 * -0.1 / 3.0, 1e-7);
}

// A step's micro-batches add into one set of totals, each call's rows summed first.
TEST(LossTest, LossesAddIntoTheirTotals) {
  const Tensor logits = logits_of({1, 2, 3, 0.5f, -1, 2}, 2);
  Tensor labels = labels_of({2, 0}), d = Tensor::empty({2, 3});
  const ops::LossSums first = test::loss_sums(ops::cross_entropy, logits, labels, 1.0f, d);
  LossTotals totals(Device::cpu());
  ops::cross_entropy(logits, labels, 1.0f, d, totals);
  ops::mse(logits, labels, 1.0f, d, totals);
  const ops::LossSums second = test::loss_sums(ops::mse, logits, labels, 1.0f, d);
  const ops::LossSums both = totals.read();
  EXPECT_EQ(both.loss, first.loss + second.loss);
  EXPECT_EQ(both.correct, first.correct + second.correct);
  EXPECT_EQ(both.correct, 2);  // row 0's label is its argmax for both losses
}

}  // namespace
}  // namespace trainer
