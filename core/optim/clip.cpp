#include "core/optim/clip.h"

#include "core/ops.h"

namespace trainer {

double grad_sum_squares(const std::vector<Param*>& params) {
  double sq = 0.0;
  for (const Param* p : params) sq += ops::sum_squares(p->grad);
  return sq;
}

void clip_to_norm(const std::vector<Param*>& params, double norm, double max_norm) {
  if (norm <= max_norm) return;
  const float factor = static_cast<float>(max_norm / (norm + 1e-6));
  for (Param* p : params) ops::scale(p->grad, factor);
}

}  // namespace trainer
