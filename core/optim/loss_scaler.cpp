#include "core/optim/loss_scaler.h"

#include <algorithm>
#include <string>

namespace trainer {

LossScaler::LossScaler(const LossScalerConfig& c)
    : c_(c), scale_(c.kind == LossScalerConfig::Kind::None ? 1.0 : c.init_scale) {}

bool LossScaler::update(bool overflowed, int64_t step) {
  if (c_.kind != LossScalerConfig::Kind::Dynamic) return !overflowed;
  if (overflowed) {
    clean_steps_ = 0;
    scale_ /= 2;
    if (scale_ < c_.min_scale)
      throw LossScaleUnderflow(
          "step " + std::to_string(step) + ": the fp16 loss scale fell below its minimum (" +
          std::to_string(c_.min_scale) +
          ") after repeated overflows: the gradients overflow fp16 even unscaled; train in bf16 "
          "or fp32, or with a lower learning rate");
    return false;
  }
  if (++clean_steps_ >= c_.growth_interval) {
    scale_ = std::min(scale_ * 2, c_.max_scale);
    clean_steps_ = 0;
  }
  return true;
}

void LossScaler::restore(double scale, int64_t clean_steps) {
  scale_ = scale;
  clean_steps_ = clean_steps;
}

}  // namespace trainer
