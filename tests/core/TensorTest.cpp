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

// A plain struct kept in a tensor's words (as the step's update decision is): in and out by its
// bytes, the rest of the tensor untouched, and no more bytes than the tensor holds.
TEST(TensorTest, HostBytesGoInAndOutOfATensor) {
  struct Pair {
    double a;
    int32_t b;
  };
  Tensor t = Tensor::zeros({6}, DType::I32);
  t.i32()[5] = 7;
  const Pair in{2.5, -3};
  t.copy_from_host(&in, sizeof in);
  Pair out{};
  t.copy_to_host(&out, sizeof out);
  EXPECT_EQ(out.a, 2.5);
  EXPECT_EQ(out.b, -3);
  EXPECT_EQ(t.i32()[5], 7);
  char big[25] = {};
  EXPECT_THROW(t.copy_from_host(big, sizeof big), InternalError);
  EXPECT_THROW(t.copy_to_host(big, sizeof big), InternalError);
}

}  // namespace
}  // namespace trainer
