// The loss scaler's rule: halve and skip on overflow, double after growth_interval clean steps,
// bounds, and stop below the minimum.
#include <gtest/gtest.h>

#include "core/optim/loss_scaler.h"

namespace trainer {
namespace {

LossScalerConfig dynamic(int64_t interval) {
  LossScalerConfig c;
  c.kind = LossScalerConfig::Kind::Dynamic;
  c.growth_interval = interval;
  return c;
}

TEST(LossScalerTest, OverflowSkipsAndHalvesCleanStepsGrow) {
  LossScaler s(dynamic(3));
  EXPECT_EQ(s.scale(), 65536.0);
  EXPECT_TRUE(s.update(false, 1));
  EXPECT_TRUE(s.update(false, 2));
  EXPECT_FALSE(s.update(true, 3));  // skipped; the clean count starts over
  EXPECT_EQ(s.scale(), 32768.0);
  EXPECT_TRUE(s.update(false, 4));
  EXPECT_TRUE(s.update(false, 5));
  EXPECT_EQ(s.scale(), 32768.0);
  EXPECT_TRUE(s.update(false, 6));  // the third clean step in a row
  EXPECT_EQ(s.scale(), 65536.0);
  EXPECT_EQ(s.clean_steps(), 0);
}

TEST(LossScalerTest, GrowthStopsAtTheMaximum) {
  LossScalerConfig c = dynamic(1);
  c.init_scale = c.max_scale / 2;
  LossScaler s(c);
  s.update(false, 1);
  s.update(false, 2);
  EXPECT_EQ(s.scale(), c.max_scale);
}

TEST(LossScalerTest, FallingBelowTheMinimumStopsSayingSo) {
  LossScalerConfig c = dynamic(10);
  c.init_scale = 4;
  c.min_scale = 2;
  LossScaler s(c);
  EXPECT_FALSE(s.update(true, 7));
  EXPECT_EQ(s.scale(), 2.0);
  try {
    s.update(true, 8);
    FAIL() << "no error";
  } catch (const LossScaleUnderflow& e) {
    EXPECT_EQ(std::string(e.what()),
              "step 8: the fp16 loss scale fell below its minimum (2.000000) after repeated "
              "overflows: the gradients overflow fp16 even unscaled; train in bf16 or fp32, or "
              "with a lower learning rate");
  }
}

TEST(LossScalerTest, StaticAndNone) {
  LossScalerConfig c;
  c.kind = LossScalerConfig::Kind::Static;
  c.init_scale = 128;
  LossScaler fixed(c);
  EXPECT_FALSE(fixed.update(true, 1));  // an overflowed step is still skipped
  EXPECT_EQ(fixed.scale(), 128.0);      // but the scale stays
  LossScaler none;
  EXPECT_FALSE(none.active());
  EXPECT_EQ(none.scale(), 1.0);
  EXPECT_TRUE(none.update(false, 1));
}

TEST(LossScalerTest, RestoreContinuesTheCount) {
  LossScaler s(dynamic(2));
  s.restore(1024, 1);
  EXPECT_TRUE(s.update(false, 5));
  EXPECT_EQ(s.scale(), 2048.0);
}

}  // namespace
}  // namespace trainer
