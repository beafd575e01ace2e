#include "core/optim/clip.h"

#include "core/ops.h"

namespace trainer {

double grad_sum_squares(const Tensor& grads) { return ops::sum_squares(grads); }

void clip_to_norm(Tensor grads, double norm, double max_norm) {
  if (norm <= max_norm) return;
  ops::scale(grads, static_cast<float>(max_norm / (norm + 1e-6)));
}

}  // namespace trainer
