// fp16 and bf16 conversions: exact where the format can hold the value, round to nearest even
// where it cannot, inf past fp16's range; the vector (F16C) path equals the scalar one.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/cpu/cast.h"
#include "core/half.h"
#include "core/ops.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

TEST(HalfTest, EveryF16AndBf16PatternSurvivesARoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto bits = static_cast<uint16_t>(h);
    const float f = f16_to_float(bits), b = bf16_to_float(bits);
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(f16_to_float(float_to_f16(f)))) << h;
    } else {
      ASSERT_EQ(float_to_f16(f), bits) << h;
    }
    if (!std::isnan(b)) {
      ASSERT_EQ(float_to_bf16(b), bits) << h;
    }
  }
}

TEST(HalfTest, KnownValuesAndRounding) {
  EXPECT_EQ(float_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(float_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(float_to_f16(65504.0f), 0x7bff);  // the largest finite fp16
  EXPECT_EQ(float_to_f16(65519.0f), 0x7bff);  // below the halfway point to 65536: rounds down
  EXPECT_EQ(float_to_f16(65520.0f), 0x7c00);  // halfway, ties to even: overflows to inf
  EXPECT_EQ(float_to_f16(1e6f), 0x7c00);
  EXPECT_EQ(float_to_f16(5.9604645e-8f), 0x0001);       // 2^-24, the smallest subnormal
  EXPECT_EQ(float_to_f16(2.9802322e-8f), 0x0000);       // 2^-25: halfway to 0, ties to even
  EXPECT_EQ(float_to_f16(1.0f + 1.0f / 2048), 0x3c00);  // halfway between 1 and 1+2^-10: even
  EXPECT_EQ(float_to_f16(1.0f + 3.0f / 2048), 0x3c02);  // halfway, up to the even neighbour
  EXPECT_EQ(float_to_bf16(1.0f + 1.0f / 256), 0x3f80);  // halfway in bf16: even (down)
  EXPECT_EQ(float_to_bf16(1.0f + 3.0f / 256), 0x3f82);  // halfway: even (up)
  const float big = bf16_to_float(float_to_bf16(3.0e38f));  // float's range kept
  EXPECT_TRUE(std::isfinite(big));
  EXPECT_NEAR(big / 3.0e38f, 1.0, 1.0 / 256);  // to bf16's 8 bits
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
}

TEST(HalfTest, ArrayConversionsMatchTheScalarOnes) {
  const Tensor x = test::random_tensor({1003}, 3, -70000.0f, 70000.0f);
  std::vector<uint16_t> h(1003), b(1003);
  std::vector<float> back(1003);
  cpu::f32_to_f16(1003, x.f32(), h.data());
  cpu::f32_to_bf16(1003, x.f32(), b.data());
  for (int i = 0; i < 1003; ++i) {
    ASSERT_EQ(h[i], float_to_f16(x.f32()[i])) << i;
    ASSERT_EQ(b[i], float_to_bf16(x.f32()[i])) << i;
  }
  cpu::f16_to_f32(1003, h.data(), back.data());
  for (int i = 0; i < 1003; ++i) ASSERT_EQ(back[i], f16_to_float(h[i])) << i;
}

// A half tensor goes through an op as float: the result is the float op's on the rounded
// inputs, rounded once.
TEST(HalfTest, OpsComputeInFloatAndRoundTheirResultOnce) {
  for (DType t : {DType::F16, DType::BF16}) {
    const Tensor x = ops::cast(test::random_tensor({5, 7}, 4), t);
    const Tensor w = ops::cast(test::random_tensor({3, 7}, 5), t);
    Tensor y = Tensor::empty({5, 3}, t), want = Tensor::empty({5, 3});
    ops::linear_forward(x, w, Tensor(), y);
    ops::linear_forward(ops::cast(x, DType::F32), ops::cast(w, DType::F32), Tensor(), want);
    const Tensor rounded = ops::cast(ops::cast(want, t), DType::F32),
                 got = ops::cast(y, DType::F32);
    for (int i = 0; i < 15; ++i) EXPECT_EQ(got.f32()[i], rounded.f32()[i]) << i;
  }
}

}  // namespace
}  // namespace trainer
