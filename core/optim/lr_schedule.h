// Learning rate as a function of the optimizer step: constant, step decay, or cosine, each
// after an optional linear warm-up from 0.
#pragma once

#include <cstdint>

namespace trainer {

struct LrSchedule {
  enum class Kind { Constant, Step, Cosine };
  Kind kind = Kind::Constant;
  double base_lr = 1e-3;
  int64_t warmup_steps = 0;
  int64_t step_size = 1;  // Step: multiply by gamma every step_size steps
  double gamma = 0.1;
  double min_lr = 0.0;  // Cosine: the value reached at total_steps
  int64_t total_steps = 1;

  // The rate used by update number `step` (0-based).
  double at(int64_t step) const;
};

}  // namespace trainer
