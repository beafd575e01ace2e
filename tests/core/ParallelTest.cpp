// The CPU kernels' threads change nothing but the order of the weight-gradient sums: forward
// outputs and input gradients are bit-identical for any thread count, weight gradients agree to
// float rounding, and a given thread count repeats itself exactly.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "core/layers/conv2d.h"
#include "core/layers/linear.h"
#include "tests/test_support.h"

namespace trainer {
namespace {

struct Result {
  std::vector<float> y, dx, dw;
};

Result run(Layer& layer, const Tensor& x, int threads) {
  omp_set_num_threads(threads);
  for (Param* p : layer.params()) p->grad.zero();
  Stash s;
  Tensor y = layer.forward(x, s, {});
  const Tensor dy = test::random_tensor(y.shape(), 5);
  Tensor dx = layer.backward(dy, s);
  const Tensor& dw = layer.params()[0]->grad;
  return {{y.f32(), y.f32() + y.numel()},
          {dx.f32(), dx.f32() + dx.numel()},
          {dw.f32(), dw.f32() + dw.numel()}};
}

void check(Layer& layer, const Tensor& x) {
  const int before = omp_get_max_threads();
  const Result one = run(layer, x, 1), three = run(layer, x, 3), again = run(layer, x, 3);
  omp_set_num_threads(before);
  EXPECT_EQ(one.y, three.y);
  EXPECT_EQ(one.dx, three.dx);
  EXPECT_EQ(three.dw, again.dw);
  for (size_t i = 0; i < one.dw.size(); ++i)
    ASSERT_NEAR(three.dw[i], one.dw[i], 1e-4f * (1.0f + std::fabs(one.dw[i]))) << i;
}

TEST(ParallelTest, Conv2dAcrossThreadCounts) {
  Conv2d layer({3, 12, 12}, 8, 3, 1, 1, true, InitScheme::Default, {1, 1});
  layer.set_needs_input_grad(true);
  check(layer, test::random_tensor({16, 3, 12, 12}, 2));
}

TEST(ParallelTest, LinearAcrossThreadCounts) {
  Linear layer(300, 200, true, InitScheme::Default, {1, 1});
  layer.set_needs_input_grad(true);
  check(layer, test::random_tensor({64, 300}, 3));
}

}  // namespace
}  // namespace trainer
