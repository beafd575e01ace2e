#include "core/optim/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace trainer {

double LrSchedule::at(int64_t step) const {
  if (step < warmup_steps)
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  const int64_t t = step - warmup_steps;
  switch (kind) {
    case Kind::Constant:
      return base_lr;
    case Kind::Step:
      return base_lr * std::pow(gamma, static_cast<double>(t / step_size));
    case Kind::Cosine: {
      const int64_t span = std::max<int64_t>(total_steps - warmup_steps, 1);
      const double progress = std::min(1.0, static_cast<double>(t) / static_cast<double>(span));
      return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(M_PI * progress));
    }
  }
  return base_lr;
}

}  // namespace trainer
