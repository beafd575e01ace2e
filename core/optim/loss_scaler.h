// Loss scaling for fp16 training: the loss (so every gradient) is multiplied by `scale` before
// backward, so small gradients survive fp16's range, and divided out before the update.
//
// Dynamic (PyTorch's GradScaler rule): start at init_scale; a step whose gradients overflowed
// (inf/NaN anywhere in the world) is skipped and halves the scale; growth_interval clean steps
// in a row double it, up to max_scale. Falling below min_scale means the gradients overflow
// even barely scaled: the run stops with a message that says so. A static scale never changes
// (overflowed steps are still skipped); none is a scale of 1 with no overflow check.
#pragma once

#include <cstdint>
#include <stdexcept>

namespace trainer {

// The scale fell below its minimum. Exit code 3 (training failed).
class LossScaleUnderflow : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LossScalerConfig {
  enum class Kind { None, Static, Dynamic };
  Kind kind = Kind::None;
  double init_scale = 65536.0;  // Dynamic: the first scale; Static: the scale
  int64_t growth_interval = 2000;
  double min_scale = 1.0, max_scale = 16777216.0;  // 2^24
};

class LossScaler {
 public:
  explicit LossScaler(const LossScalerConfig& c = {});
  bool active() const { return c_.kind != LossScalerConfig::Kind::None; }
  double scale() const { return scale_; }
  // After backward: whether to apply this step, given whether its gradients overflowed on any
  // rank; updates the scale. `step` (1-based) names the step in the underflow message.
  bool update(bool overflowed, int64_t step);

  // For checkpoints.
  int64_t clean_steps() const { return clean_steps_; }
  void restore(double scale, int64_t clean_steps);

 private:
  LossScalerConfig c_;
  double scale_;
  int64_t clean_steps_ = 0;  // since the last overflow or growth
};

}  // namespace trainer
