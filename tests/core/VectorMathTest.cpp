// The CPU kernels' vectorisable math: exp_poly against the C library's exp, a NaN kept NaN and
// the ends of its range (0 below it); the lane reductions against a sum in double and std::max, for
// every row length around the lane count (the tails).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/cpu/exp_poly.h"
#include "core/cpu/lanes.h"

namespace trainer::cpu {
namespace {

TEST(VectorMathTest, ExpPolyIsExpWithinTwoUlpsOverItsRange) {
  double worst = 0.0;
  for (int i = 0; i <= 200000; ++i) {
    const float x = -87.0f + 175.0f * static_cast<float>(i) / 200000.0f;
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(exp_poly(x) - want) / want);
  }
  EXPECT_LT(worst, 2.0 * std::numeric_limits<float>::epsilon()) << worst;
  EXPECT_EQ(exp_poly(0.0f), 1.0f);
}

TEST(VectorMathTest, ExpPolyKeepsANanAndHasTheEndsItPromises) {
  EXPECT_TRUE(std::isnan(exp_poly(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(std::isnan(exp_poly(-std::numeric_limits<float>::quiet_NaN())));
  // -inf (a padded logit) and anything below float's normal range give exactly 0.
  EXPECT_EQ(exp_poly(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(exp_poly(-87.31f), 0.0f);
  EXPECT_GT(exp_poly(-87.29f), 0.0f);
  EXPECT_EQ(exp_poly(std::numeric_limits<float>::infinity()),
            std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isfinite(exp_poly(88.3f)));
}

TEST(VectorMathTest, LaneSumAndMaxMatchPlainOnesForEveryTail) {
  for (int64_t n = 0; n <= 3 * kLanes + 1; ++n) {
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) x[i] = std::sin(0.7f * static_cast<float>(i)) * 3.0f;
    double want = 0.0;
    for (float v : x) want += v;
    const float sum = lane_sum(n, [&](int64_t i) { return x[i]; });
    EXPECT_NEAR(sum, want, 1e-5) << n;
    const float max = lane_max(n, [&](int64_t i) { return x[i]; });
    if (n == 0)
      EXPECT_EQ(max, -std::numeric_limits<float>::infinity());
    else
      EXPECT_EQ(max, *std::max_element(x.begin(), x.end())) << n;
  }
}

}  // namespace
}  // namespace trainer::cpu
