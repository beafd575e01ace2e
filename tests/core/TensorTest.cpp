#include <gtest/gtest.h>

#include "core/error.h"
#include "core/tensor.h"

namespace trainer {
namespace {

TEST(TensorTest, Slice0IsAViewOfTheSameStorage) {
  Tensor t = Tensor::zeros({4, 3});
  Tensor rows = t.slice0(1, 3);
  EXPECT_EQ(rows.shape(), (Shape{2, 3}));
  rows.f32()[0] = 5.0f;
  EXPECT_EQ(t.f32()[3], 5.0f);
  EXPECT_THROW(t.slice0(2, 5), InternalError);
}

TEST(TensorTest, ReshapeKeepsElementsAndRejectsAnotherCount) {
  Tensor t = Tensor::zeros({2, 6});
  t.f32()[7] = 1.0f;
  Tensor r = t.reshape({3, 4});
  EXPECT_EQ(r.f32()[7], 1.0f);
  EXPECT_THROW(t.reshape({5}), InternalError);
}

TEST(TensorTest, ViewSharesStorageAtAnOffset) {
  Tensor flat = Tensor::zeros({10});
  Tensor v = flat.view(4, {2, 3});
  v.f32()[5] = 7.0f;
  EXPECT_EQ(flat.f32()[9], 7.0f);
  EXPECT_THROW(flat.view(5, {2, 3}), InternalError);
}

TEST(TensorTest, TypedAccessChecksTheDtype) {
  Tensor t = Tensor::zeros({3}, DType::I32);
  EXPECT_NO_THROW(t.i32());
  EXPECT_THROW(t.f32(), InternalError);
}

TEST(TensorTest, CloneIsADeepCopy) {
  Tensor t = Tensor::zeros({2});
  Tensor c = t.clone();
  c.f32()[0] = 1.0f;
  EXPECT_EQ(t.f32()[0], 0.0f);
}

}  // namespace
}  // namespace trainer
