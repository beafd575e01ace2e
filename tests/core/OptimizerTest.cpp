// Optimizer updates, LR schedules and the update decision (clipping, skips) against values
// computed by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <utility>

#include "core/cpu/optim.h"
#include "core/ops.h"
#include "core/optim/adam.h"
#include "core/optim/lr_schedule.h"
#include "core/optim/sgd.h"

namespace trainer {
namespace {

// One scalar parameter with value w and gradient g.
struct Scalar {
  Param p{"w", Tensor::empty({1}), Tensor::empty({1}), Tensor()};
  Scalar(float w, float g) {
    p.value.f32()[0] = w;
    p.grad.f32()[0] = g;
  }
  float w() const { return p.value.f32()[0]; }
  void grad(float g) { p.grad.f32()[0] = g; }
};

TEST(OptimizerTest, SgdMomentumBufferStartsAsTheFirstGradient) {
  Scalar s(1.0f, 0.5f);
  Sgd opt({&s.p}, 0.9f, 0.0f, false);
  opt.step(0.1f);
  EXPECT_FLOAT_EQ(s.w(), 0.95f);  // buf = 0.5
  opt.step(0.1f);
  EXPECT_FLOAT_EQ(s.w(), 0.855f);  // buf = 0.9 * 0.5 + 0.5 = 0.95
}

TEST(OptimizerTest, SgdWeightDecayAndNesterov) {
  Scalar decayed(1.0f, 0.5f);
  Sgd wd({&decayed.p}, 0.9f, 0.1f, false);
  wd.step(0.1f);
  EXPECT_FLOAT_EQ(decayed.w(), 0.94f);  // d = 0.5 + 0.1 * 1
  Scalar nest(1.0f, 0.5f);
  Sgd nesterov({&nest.p}, 0.9f, 0.0f, true);
  nesterov.step(0.1f);
  EXPECT_FLOAT_EQ(nest.w(), 0.905f);  // d = 0.5 + 0.9 * 0.5
}

TEST(OptimizerTest, AdamTwoSteps) {
  Scalar s(1.0f, 0.5f);
  Adam opt({&s.p}, 0.9f, 0.999f, 1e-8f, 0.0f, false);
  opt.step(0.1f);
  EXPECT_NEAR(s.w(), 0.900000002, 1e-6);
  s.grad(0.25f);
  opt.step(0.1f);
  EXPECT_NEAR(s.w(), 0.8067820404774623, 1e-6);
  EXPECT_EQ(opt.steps_taken(), 2);
  EXPECT_EQ(opt.state().size(), 2u);
}

TEST(OptimizerTest, AdamWDecaysWeightsDirectly) {
  Scalar s(1.0f, 0.5f);
  Adam opt({&s.p}, 0.9f, 0.999f, 1e-8f, 0.1f, true);
  opt.step(0.1f);
  EXPECT_NEAR(s.w(), 1.0 * (1.0 - 0.1 * 0.1) - 0.1, 1e-6);
}

TEST(OptimizerTest, AdamL2DecayEntersTheMoments) {
  // Adam adds wd * w to the gradient; a first step is then still lr in size, but the second
  // differs from AdamW's.
  Scalar a(1.0f, 0.5f), w(1.0f, 0.5f);
  Adam adam({&a.p}, 0.9f, 0.999f, 1e-8f, 0.1f, false);
  Adam adamw({&w.p}, 0.9f, 0.999f, 1e-8f, 0.1f, true);
  adam.step(0.1f);
  adamw.step(0.1f);
  EXPECT_NEAR(a.w(), 0.9, 1e-6);
  EXPECT_NEAR(w.w(), 0.89, 1e-6);
}

TEST(OptimizerTest, LrScheduleWarmupConstant) {
  LrSchedule s;
  s.base_lr = 0.4;
  s.warmup_steps = 4;
  EXPECT_DOUBLE_EQ(s.at(0), 0.1);
  EXPECT_DOUBLE_EQ(s.at(3), 0.4);
  EXPECT_DOUBLE_EQ(s.at(100), 0.4);
}

TEST(OptimizerTest, LrScheduleStep) {
  LrSchedule s;
  s.kind = LrSchedule::Kind::Step;
  s.base_lr = 1.0;
  s.step_size = 10;
  s.gamma = 0.5;
  EXPECT_DOUBLE_EQ(s.at(9), 1.0);
  EXPECT_DOUBLE_EQ(s.at(10), 0.5);
  EXPECT_DOUBLE_EQ(s.at(25), 0.25);
}

TEST(OptimizerTest, LrScheduleWarmupCosine) {
  LrSchedule s;
  s.kind = LrSchedule::Kind::Cosine;
  s.base_lr = 1.0;
  s.min_lr = 0.1;
  s.warmup_steps = 10;
  s.total_steps = 110;
  EXPECT_DOUBLE_EQ(s.at(4), 0.5);
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);
  EXPECT_NEAR(s.at(60), 0.55, 1e-12);  // halfway: min + (base - min) / 2
  EXPECT_NEAR(s.at(110), 0.1, 1e-12);
}

// The step's update decision: the norm of a flat gradient buffer, the clip to it, the loss scale
// off first, and a skip for a non-finite loss or gradient.
TEST(OptimizerTest, UpdateDecisionClipsToTheGlobalNormAndSkipsWhatIsNotFinite) {
  Tensor grads = Tensor::zeros({2});  // a flat gradient buffer of two parameters
  grads.f32()[0] = 3.0f;
  grads.f32()[1] = 4.0f;
  const double sums[2] = {1.5, 0.0};  // the loss totals
  cpu::UpdateDecision d;
  cpu::decide_update(2, grads.f32(), sums, 1.0, 1.0, &d);
  EXPECT_DOUBLE_EQ(d.sq, 25.0);
  EXPECT_EQ(d.loss_sums[0], 1.5);  // the loss sums ride along, for the one read-back
  EXPECT_EQ(d.loss_sums[1], 0.0);
  EXPECT_DOUBLE_EQ(d.grad_norm, 5.0);
  EXPECT_EQ(d.skip, 0);
  EXPECT_EQ(d.unscale, 1.0f);
  EXPECT_EQ(d.clip, static_cast<float>(1.0 / (5.0 + 1e-6)));
  ops::scale_by(grads, &d.clip);
  EXPECT_NEAR(grads.f32()[0], 0.6, 1e-6);
  EXPECT_NEAR(grads.f32()[1], 0.8, 1e-6);
  // Gradients carrying a loss scale of 4: the norm is of the unscaled ones, below the limit.
  d = cpu::update_decision(25.0 * 16.0, 1.5, 0.25, 6.0);
  EXPECT_DOUBLE_EQ(d.grad_norm, 5.0);
  EXPECT_EQ(d.unscale, 0.25f);
  EXPECT_EQ(d.clip, 1.0f);
  EXPECT_EQ(cpu::update_decision(25.0, 1.5, 1.0, 0.0).clip, 1.0f);  // no clipping asked
  for (const auto& [sq, loss] :
       {std::pair<double, double>{INFINITY, 1.5}, {NAN, 1.5}, {25.0, INFINITY}, {25.0, NAN}}) {
    d = cpu::update_decision(sq, loss, 1.0, 1.0);
    EXPECT_EQ(d.skip, 1) << sq << " " << loss;
    EXPECT_EQ(d.loss_finite, std::isfinite(loss) ? 1 : 0);
  }
}

// A step's update in three parts: a skip decided in memory leaves the parameter and the state
// alone and does not count; then the same update as step() gives.
TEST(OptimizerTest, ASkippedUpdateChangesNothingAndDoesNotCount) {
  Scalar a(1.0f, 0.5f), b(1.0f, 0.5f);
  Adam skipped({&a.p}, 0.9f, 0.999f, 1e-8f, 0.0f, false),
      plain({&b.p}, 0.9f, 0.999f, 1e-8f, 0.0f, false);
  const int32_t skip = 1, go = 0;
  skipped.prepare(0.1f);
  skipped.apply(&skip);
  skipped.finish(false);
  EXPECT_EQ(a.p.value.f32()[0], 1.0f);
  EXPECT_EQ(skipped.steps_taken(), 0);
  EXPECT_EQ(skipped.flat_state()[0].second.f32()[0], 0.0f);
  skipped.prepare(0.1f);
  skipped.apply(&go);
  skipped.finish(true);
  plain.step(0.1f);
  EXPECT_EQ(a.p.value.f32()[0], b.p.value.f32()[0]);
  EXPECT_EQ(skipped.steps_taken(), 1);
}

}  // namespace
}  // namespace trainer
